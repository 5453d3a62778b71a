"""Who sent it, through the real service: forged provincial Froms from outside are
refused and recorded as forgeries, and outbound the header From is bound to the unit of
the login-bound envelope sender."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
from pathlib import Path

import pytest

from audit import AuditLog
from audit.query import Filters
from directory import Directory
from milter.errors import ConfigError
from milter.peeruser import peer_uid
from signer import DkimVerifier, DnsResolver
from signer.keys import Algorithm
from support.dkim import make_key
from support.dns import DnsServer
from support.rawsmtp import Raw

OWN = "lamdong.gov.vn"
OTHER = "binhthuan.gov.vn"
UNITS = (
    "id,name,parent,address\n"
    f"sotc,Sở Tài chính,,sotc@{OWN}\n"
    f"snv,Sở Nội vụ,,snv@{OWN}\n"
    f"ubnd-tinh,UBND tỉnh,,ubnd@{OWN}\n"
    f"van-phong-ubnd,Văn phòng UBND,,vanphong@{OWN}\n"
    f"bt-sotc,Sở Tài chính Bình Thuận,,sotc@{OTHER}\n"
)


@pytest.fixture
def dns():
    server = DnsServer()
    server.start()
    server.add_txt("example.org", "v=spf1 ip4:203.0.113.0/24 -all")
    yield server
    server.stop()


def _import_units(running) -> None:
    store = Directory.open(running.server.config.directory.path)
    store.import_csv(UNITS, actor="test")
    store.close()
    running.server.runtime.units.index.refresh()


def _resolver(dns: DnsServer) -> dict:
    return {"authserv_id": f"mx.{OWN}", "resolver_nameserver": "127.0.0.1",
            "resolver_port": dns.port, "resolver_timeout": 2}


@pytest.fixture
def inbound(filter_server, dns):
    running = filter_server(listeners=[{"name": "in", "role": "inbound", "queue": "before",
                                        "port": 0}],
                            signer={"dkim": _resolver(dns)})
    _import_units(running)
    return running


@pytest.fixture
def dkim_key(tmp_path: Path, dns: DnsServer):
    (tmp_path / "dkim").mkdir()
    key = make_key(tmp_path / "dkim", "s1", Algorithm.RSA_SHA256)
    dns.add_txt(f"s1._domainkey.{OWN}", key.record)
    return key


@pytest.fixture
def outbound(filter_server, dns, dkim_key):
    running = filter_server(signer={
        "dkim": {**_resolver(dns), "keys": [{"domain": OWN, "selector": "s1",
                                             "key_file": str(dkim_key.path),
                                             "algorithm": "rsa-sha256"}]},
        "send_as": [{"unit": "van-phong-ubnd", "as_units": ["ubnd-tinh"]}]})
    _import_units(running)
    return running


def send(running, head: bytes, *, mail_from: str, client_ip: bytes | None = None,
         rcpt: str = f"sotc@{OWN}") -> bytes:
    raw = Raw(running.port)
    raw.command(b"EHLO postfix")
    if client_ip is not None:
        assert raw.command(b"XFORWARD ADDR=" + client_ip).startswith(b"250")
    assert raw.command(f"MAIL FROM:<{mail_from}>".encode()).startswith(b"250")
    assert raw.command(f"RCPT TO:<{rcpt}>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(head + b"To: x@example.org\r\nSubject: test\r\nMessage-ID: <m@example.org>\r\n"
             b"\r\nbody\r\n.\r\n")
    return raw.reply()


def records(running) -> list:
    log = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        return [log.show(item.id) for item in log.query(Filters()).items]
    finally:
        log.close()


# Each of these is read by a mail client as a provincial unit's address.
FORGERIES = [
    b"From: sotc@(comment)lamdong.gov.vn\r\n",
    b"From: sotc @ lamdong.gov.vn\r\n",
    b"From: sotc@lamdong . gov . vn\r\n",
    "From: sotc@ｌａｍｄｏｎｇ.gov.vn\r\n".encode(),
    "From: sotc@lamdong。gov.vn\r\n".encode(),
    "From: ｓｏｔｃ@lamdong.gov.vn\r\n".encode(),
    b"From: =?utf-8?q?sotc=40lamdong.gov.vn?=\r\n",
    b"From: =?utf-8?q?S=E1=BB=9F_sotc=40lamdong.gov.vn?= <x@example.org>\r\n",
    b'From: "sotc@lamdong.gov.vn" <x@example.org>\r\n',
    b"From: x@example.org (sotc@lamdong.gov.vn)\r\n",
    b"From: sotc@lamdong.gov.vn <x@example.org>\r\n",
    b"From: x@example.org, sotc@lamdong.gov.vn\r\n",
    b"From: x@example.org\r\nFrom: sotc@lamdong.gov.vn\r\n",
    b" From: sotc@lamdong.gov.vn\r\nFrom: x@example.org\r\n",
    b"From : sotc@lamdong.gov.vn\r\n",
    b"From: sotc@lamdong.gov.vn.\r\n",
    b"From: sotc@LamDong.Gov.VN\r\n",  # plain, but unsigned: the old rule
    b"From: someone@sub.binhthuan.gov.vn\r\n",  # any subdomain of any provincial domain
]


@pytest.mark.parametrize("head", FORGERIES)
def test_a_forged_provincial_from_from_outside_is_refused_and_recorded(
        inbound, next_hop, head: bytes) -> None:
    reply = send(inbound, head, mail_from="x@example.org", client_ip=b"203.0.113.9")
    assert reply.startswith(
        b"550 5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / "
        b"Message refused as a forged provincial sender")
    next_hop.assert_empty()
    [record] = records(inbound)
    assert record["action"] == "reject"
    # inbound: the unit is only claimed (the report never counts it as sent)
    assert record["direction"] == "inbound"
    assert record.get("sender_unit") is None
    assert record.get("claimed_unit") == (None if b"sub.binhthuan" in head else "sotc")
    [forgery] = [a for a in record.get("authentication", [])
                 if a.get("disposition") == "spoof-refused"]
    assert forgery["domain"] in (OWN, f"sub.{OTHER}")


@pytest.mark.parametrize("head", [
    b"From: x@example.org\r\n",
    b'From: "x@example.org" <x@example.org>\r\n',
    b"From: =?utf-8?q?Nguy=E1=BB=85n?= <x@example.org>\r\n",
    b"From: x@notlamdong.gov.vn\r\n",
    b"From: x@lamdong.gov.vn.example.org\r\n",
])
def test_outside_senders_that_claim_nothing_are_not_forgeries(inbound, next_hop,
                                                              head: bytes) -> None:
    assert send(inbound, head, mail_from="x@example.org",
                client_ip=b"203.0.113.9").startswith(b"250")
    next_hop.get()
    [record] = records(inbound)
    assert record.get("sender_unit") is None
    assert record.get("claimed_unit") is None  # claims no unit
    assert not [a for a in record.get("authentication", []) if a.get("disposition")
                and "spoof" in a["disposition"]]


def test_inbound_from_a_unit_is_only_claimed_not_sent(inbound, next_hop) -> None:
    # a trusted client on an inbound listener skips the guard, but its mail is still
    # inbound: the From's unit is claimed, never counted as that unit's sent mail
    assert send(inbound, f"From: sotc@{OWN}\r\n".encode(), mail_from=f"sotc@{OWN}",
                client_ip=b"127.0.0.1").startswith(b"250")
    next_hop.get()
    [record] = records(inbound)
    assert (record["direction"], record.get("sender_unit"), record.get("claimed_unit")) == (
        "inbound", None, "sotc")


def test_staff_of_one_unit_cannot_send_as_another(outbound, next_hop, dns) -> None:
    reply = send(outbound, f"From: sotc@{OWN}\r\n".encode(), mail_from=f"snv@{OWN}",
                 rcpt="a@example.org")
    assert reply.startswith(b"550 5.7.1 Thu bi tu choi: nguoi gui khong duoc dung dia chi From "
                            b"nay / Message refused: the sender may not use this From address "
                            b"(the From address sotc@lamdong.gov.vn belongs to unit sotc, but "
                            b"the sender snv@lamdong.gov.vn belongs to unit snv)")
    next_hop.assert_empty()
    [record] = records(outbound)
    assert record.get("sender_unit") == "snv"  # the login's unit sent it, and was refused
    [binding] = [a for a in record.get("authentication", []) if a["method"] == "sender"]
    assert binding["result"] == "fail"
    assert not [a for a in record.get("authentication", []) if a.get("operation") == "sign"]


@pytest.mark.parametrize(("head", "mail_from", "words"), [
    # an official's own mailbox (no unit) may not use a unit's From either
    (f"From: sotc@{OWN}\r\n", f"nguyenvana@{OWN}", b"belongs to no unit"),
    # nor may the null sender (bounces cannot be bound to a login)
    (f"From: sotc@{OWN}\r\n", "", b"sender <> belongs to no unit"),
    # an alias of another province's unit with the same id is another unit
    (f"From: sotc@{OTHER}\r\n", f"sotc@{OWN}", b"belongs to unit bt-sotc"),
    # an address that is no unit's must be the sender's own
    (f"From: giamdoc@{OWN}\r\n", f"nguyenvana@{OWN}", b"is not the sender's own address"),
    # ambiguous Froms are refused with the reason
    (f"From: x@example.org, sotc@{OWN}\r\n", f"sotc@{OWN}", b"From header is ambiguous"),
    (f'From: "snv@{OWN}" <sotc@{OWN}>\r\n', f"sotc@{OWN}", b"also reads as snv@"),
    ("Subject: no from\r\n", f"sotc@{OWN}", b"no From header"),
])
def test_outbound_from_the_sender_may_not_use_is_refused(outbound, next_hop, head: str,
                                                          mail_from: str, words: bytes) -> None:
    reply = send(outbound, head.encode(), mail_from=mail_from, rcpt="a@example.org")
    assert reply.startswith(b"550 5.7.1 Thu bi tu choi: ")
    assert words in reply
    next_hop.assert_empty()


def test_a_unit_signs_and_is_recorded_as_itself(outbound, next_hop, dns) -> None:
    assert send(outbound, f"From: Sở Tài chính <sotc@{OWN}>\r\n".encode(),
                mail_from=f"SOTC@{OWN}", rcpt="a@example.org").startswith(b"250")
    delivered = next_hop.get().content
    [dkim] = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=2)).verify(delivered)
    assert (dkim.result.value, dkim.domain) == ("pass", OWN)
    [record] = records(outbound)
    assert record.get("sender_unit") == "sotc"


def test_a_shared_secretariat_sends_as_the_units_it_serves(outbound, next_hop) -> None:
    assert send(outbound, f"From: ubnd@{OWN}\r\n".encode(), mail_from=f"vanphong@{OWN}",
                rcpt="a@example.org").startswith(b"250")
    next_hop.get()
    [record] = records(outbound)
    assert record.get("sender_unit") == "ubnd-tinh"
    # but not the other way round, nor as a unit it was not given
    assert send(outbound, f"From: vanphong@{OWN}\r\n".encode(), mail_from=f"ubnd@{OWN}",
                rcpt="a@example.org").startswith(b"550 5.7.1")
    assert send(outbound, f"From: sotc@{OWN}\r\n".encode(), mail_from=f"vanphong@{OWN}",
                rcpt="a@example.org").startswith(b"550 5.7.1")


def test_an_officials_own_mailbox_sends_as_itself_without_a_unit(outbound, next_hop,
                                                                  dns) -> None:
    assert send(outbound, f"From: Nguyễn Văn A <nguyenvana@{OWN}>\r\n".encode(),
                mail_from=f"nguyenvana@{OWN}", rcpt="a@example.org").startswith(b"250")
    delivered = next_hop.get().content
    [dkim] = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=2)).verify(delivered)
    assert (dkim.result.value, dkim.domain) == ("pass", OWN)  # signed for its domain
    [record] = records(outbound)
    assert record.get("sender_unit") is None


def test_a_bounce_with_the_null_sender_passes_without_a_unit(outbound, next_hop) -> None:
    assert send(outbound, f"From: MAILER-DAEMON@mail.{OWN}\r\n".encode(), mail_from="",
                rcpt="a@example.org").startswith(b"250")
    assert next_hop.get().mail_from == "<>"
    [record] = records(outbound)
    assert record.get("sender_unit") is None


def test_only_the_listed_clients_may_reach_a_listener(filter_server, next_hop) -> None:
    # Postfix's congvu transports bind to a loopback address of their own; any other
    # process on the host is refused before it can speak for a unit.
    running = filter_server(listeners=[{"name": "out", "role": "outbound", "port": 0,
                                        "clients": ["127.0.0.25/32"]}])
    stranger = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    with stranger:
        greeting = stranger.makefile("rb").readline()
    assert greeting.startswith(b"554 5.7.1 Cong nay khong nhan thu tu may gui nay / This "
                               b"listener does not take mail from this client")
    postfix = socket.create_connection(("127.0.0.1", running.port), timeout=5,
                                       source_address=("127.0.0.25", 0))
    client = smtplib.SMTP()
    client.sock, client.file = postfix, postfix.makefile("rb")
    assert client.getreply()[0] == 220
    client.ehlo("postfix")
    client.sendmail("a@example.org", ["b@example.org"],
                    b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n")
    assert next_hop.get().mail_from == "a@example.org"
    client.quit()


def test_only_the_listed_local_users_may_reach_a_listener(filter_server, next_hop,
                                                          tmp_path: Path) -> None:
    # Any user can bind 127.0.0.25 as a source address; none can own another's socket.
    running = filter_server(listeners=[{"name": "out", "role": "outbound", "port": 0,
                                        "clients": ["127.0.0.25/32"],
                                        "client_users": ["root"]}])
    probe = (f"import socket; s = socket.create_connection(('127.0.0.1', {running.port}),"
             " timeout=5, source_address=('127.0.0.25', 0)); print(s.makefile('rb').readline())")
    as_nobody = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True,
                               text=True, timeout=30, user="nobody", cwd="/")
    assert as_nobody.returncode == 0, as_nobody.stderr
    assert "/ This listener does not take mail from this client" in as_nobody.stdout
    as_root = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True,
                             text=True, timeout=30, cwd="/")
    assert "220 " in as_root.stdout, as_root.stdout
    next_hop.assert_empty()


def test_peer_uid_reads_the_kernels_table() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as client:
        accepted, peer = server.accept()
        with accepted:
            assert peer_uid(peer, accepted.getsockname()) == os.getuid()
            assert peer_uid(("127.0.0.1", 1), accepted.getsockname()) is None
    server6 = socket.create_server(("::1", 0), family=socket.AF_INET6)
    with server6, socket.create_connection(server6.getsockname()[:2]) as client6:
        accepted6, peer6 = server6.accept()
        with accepted6:
            assert peer_uid(peer6[:2], accepted6.getsockname()[:2]) == os.getuid()
    assert client and client6


def test_an_unknown_user_in_client_users_is_a_configuration_error(filter_config) -> None:
    with pytest.raises(ConfigError, match="no user 'no-such-user-here'"):
        filter_config(listeners=[{"name": "out", "role": "outbound", "port": 0,
                                  "client_users": ["no-such-user-here"]}])
