"""The whole mail system on loopback: a private Postfix with congvu as its content
filter, a private Dovecot (LMTP delivery, IMAP, SASL for submission), a DNS server for
the DKIM key, a test PKI for S/MIME, and the unit directory Postfix's maps come from.
As deploy/ recommends, Postfix's congvu transports bind to 127.0.0.25, the only client
congvu's after-queue listeners take; a second port-25 service puts congvu before the
queue (the smtp service of deploy/postfix/master.cf.snippet), so refusals are tested
both ways.

Skipped with a loud reason when Postfix or Dovecot cannot run here (not root, packages
missing); `make test` installs them.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from directory import Directory
from signer.keys import Algorithm
from support import dovecot, postfix
from support.dkim import KeyFile, make_key
from support.dns import DnsServer
from support.pki import PkiFiles, TestPki
from support.process import ServeProcess

DOMAIN = "binhthuan.gov.vn"
PASSWORD = "mat-khau-thu"
USERS = {f"{name}@{DOMAIN}": PASSWORD for name in ("sotc", "vanphong", "ubnd")}

DIRECTORY_CSV = f"""id,name,parent,address,senders,dkim_domain
ubnd,Ủy ban nhân dân tỉnh Bình Thuận,,ubnd@{DOMAIN},ubnd@{DOMAIN},{DOMAIN}
sotc,Sở Tài chính,ubnd,sotc@{DOMAIN},sotc@{DOMAIN},{DOMAIN}
vanphong,Văn phòng UBND tỉnh,ubnd,vanphong@{DOMAIN},vanphong@{DOMAIN},{DOMAIN}
"""


def _skip_reason() -> str | None:
    return postfix.missing() or dovecot.missing()


@dataclass
class MailSystem:
    """Ports and files of the running system."""

    work: Path
    postfix: postfix.PostfixInstance
    dovecot: dovecot.DovecotInstance
    filter: ServeProcess
    dns: DnsServer
    dkim_key: KeyFile
    pki_files: PkiFiles
    config: Path
    smtp_port: int
    submission_port: int
    reinjection_port: int
    before_queue_port: int

    def imap(self, user: str) -> IMAPClient:
        """A logged-in IMAP client for ``user``'s mailbox."""
        client = IMAPClient("127.0.0.1", self.dovecot.imap_port, ssl=False, timeout=20)
        client.login(user, PASSWORD)
        client.select_folder("INBOX")
        return client

    def wait_for_message(self, user: str, message_id: str, timeout: float = 60) -> bytes:
        """The raw message with ``message_id`` once it is in ``user``'s INBOX."""
        deadline = time.monotonic() + timeout
        with self.imap(user) as client:
            while True:
                found = client.search(["HEADER", "Message-ID", message_id])
                if found:
                    return bytes(client.fetch(found[:1], ["RFC822"])[found[0]][b"RFC822"])
                if time.monotonic() > deadline:
                    raise AssertionError(f"{message_id} never reached {user}; see "
                                         f"{self.postfix.log}")
                client.noop()
                time.sleep(0.2)  # polling a mailbox for a delivery, not synchronization

    def mailbox(self, user: str) -> list[email.message.EmailMessage]:
        """Every message in ``user``'s INBOX, parsed."""
        with self.imap(user) as client:
            found = client.search()
            fetched = client.fetch(found, ["RFC822"]) if found else {}
        return [email.message_from_bytes(data[b"RFC822"], policy=email.policy.default)
                for data in fetched.values()]  # type: ignore[misc]


def _congvu_config(work: Path, system: dict[str, object]) -> Path:
    config = work / "congvu.toml"
    config.write_text(f"""
[service]
data_dir = "{work / 'var'}"
hostname = "mail.{DOMAIN}"
trusted_networks = ["127.0.0.25/32"]
xforward_hosts = ["127.0.0.25/32", "127.0.0.1/32"]

[[listeners]]
name = "outbound"
role = "outbound"
port = {system['out_port']}
clients = ["127.0.0.25/32"]
client_users = ["postfix"]

[[listeners]]
name = "inbound"
role = "inbound"
port = {system['in_port']}
clients = ["127.0.0.25/32"]
client_users = ["postfix"]

[[listeners]]
name = "port-25"
role = "inbound"
queue = "before"
port = {system['bq_listener_port']}
# the before-queue proxy (smtpd_proxy_filter) cannot bind: it comes from 127.0.0.1
clients = ["127.0.0.1/32"]
client_users = ["postfix"]

[next_hop]
kind = "smtp"
port = {system['reinjection_port']}

[signer.dkim]
authserv_id = "mail.{DOMAIN}"
resolver_nameserver = "127.0.0.1"
resolver_port = {system['dns_port']}
resolver_timeout = 2

[[signer.dkim.keys]]
domain = "{DOMAIN}"
selector = "e2e"
key_file = "{system['dkim_key']}"
algorithm = "rsa-sha256"

[signer.smime]
trust_anchors = ["{system['root']}"]
intermediates = ["{system['intermediate']}"]

[[signer.smime.identities]]
unit = "sotc"
cert = "{system['sotc_cert']}"
key = "{system['sotc_key']}"
""", encoding="utf-8")
    return config


REINJECTION_OVERRIDES = ",".join(
    ["no_unknown_recipient_checks", "no_header_body_checks", "no_milters", "no_address_mappings"]
)


def _postfix(system: dict[str, object], published: Path, dv: dovecot.DovecotInstance
             ) -> postfix.PostfixInstance:
    main = f"""
relayhost =
mydestination =
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{published / 'postfix' / 'recipients'}
virtual_transport = lmtp:inet:127.0.0.1:{dv.lmtp_port}
content_filter = congvu-in:[127.0.0.1]:{system['in_port']}
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{dv.auth_port}
smtpd_sender_login_maps = texthash:{published / 'postfix' / 'sender_logins'}
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
"""
    master = f"""
congvu-in unix -       -       n       -       20      smtp
  -o smtp_send_xforward_command=yes
  -o smtp_bind_address=127.0.0.25
  -o disable_mime_output_conversion=yes
congvu-out unix -      -       n       -       20      smtp
  -o smtp_send_xforward_command=yes
  -o smtp_bind_address=127.0.0.25
  -o disable_mime_output_conversion=yes
127.0.0.1:{system['before_queue_port']} inet n - n - - smtpd
  -o syslog_name=postfix/before-queue
  -o content_filter=
  -o smtpd_proxy_filter=127.0.0.1:{system['bq_listener_port']}
  -o smtpd_proxy_timeout=600s
  -o smtpd_proxy_options=speed_adjust
127.0.0.1:{system['submission_port']} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o content_filter=congvu-out:[127.0.0.1]:{system['out_port']}
127.0.0.1:{system['reinjection_port']} inet n - n - - smtpd
  -o syslog_name=postfix/reinject
  -o content_filter=
  -o receive_override_options={REINJECTION_OVERRIDES}
  -o smtpd_helo_restrictions=
  -o smtpd_client_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_relay_restrictions=permit_mynetworks,reject
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
"""
    return postfix.PostfixInstance(relayhost="", main_extra=main, master_extra=master)


@pytest.fixture(scope="module")
def mail_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSystem]:
    """Start everything once per test module; stop it afterwards."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(f"LOUD SKIP: end-to-end tests need a real Postfix and Dovecot: {reason}")
    work = tmp_path_factory.mktemp("e2e")
    # each server is stopped when the module ends, pass or fail, and so is each one
    # started before a later one failed to start
    with contextlib.ExitStack() as stack:
        dns = DnsServer()
        dns.start()
        stack.callback(dns.stop)
        (work / "dkim").mkdir()
        key = make_key(work / "dkim", "e2e", Algorithm.RSA_SHA256)
        dns.add_txt(f"e2e._domainkey.{DOMAIN}", key.record)
        pki = TestPki.create()
        pki_files = pki.write(work / "pki")
        sotc_cert, sotc_key = pki.issue(f"sotc@{DOMAIN}").write(work / "pki", "sotc")
        store = Directory.open(work / "var" / "directory.sqlite3")
        store.import_csv(DIRECTORY_CSV, actor="e2e")
        published = work / "published"
        store.publish(published)
        store.close()
        system: dict[str, object] = {
            "out_port": postfix.free_port(), "in_port": postfix.free_port(),
            "submission_port": postfix.free_port(), "reinjection_port": postfix.free_port(),
            "before_queue_port": postfix.free_port(), "bq_listener_port": postfix.free_port(),
            "dns_port": dns.port, "dkim_key": key.path, "root": pki_files.root,
            "intermediate": pki_files.intermediate, "sotc_cert": sotc_cert,
            "sotc_key": sotc_key,
        }
        config = _congvu_config(work, system)
        dv = dovecot.DovecotInstance(USERS)
        stack.callback(dv.stop)
        dv.start()
        first_filter = ServeProcess(config, workers=2)
        stack.callback(first_filter.stop)  # stop is a no-op on a process already ended
        mta = _postfix(system, published, dv)
        running = MailSystem(
            work=work, postfix=mta, dovecot=dv, filter=first_filter, dns=dns,
            dkim_key=key, pki_files=pki_files, config=config, smtp_port=mta.port,
            submission_port=int(system["submission_port"]),  # type: ignore[call-overload]
            reinjection_port=int(system["reinjection_port"]),  # type: ignore[call-overload]
            before_queue_port=int(system["before_queue_port"]),  # type: ignore[call-overload]
        )
        # the fault tests restart the filter into a new process: the one running at the
        # end is stopped as well as the first
        stack.callback(lambda: running.filter.stop())
        stack.callback(mta.stop)
        mta.start()
        yield running
