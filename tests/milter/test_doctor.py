"""``congvu doctor`` against real files, a loopback DNS server, a real SMTP next hop and a
real ``postconf`` reading a written main.cf and master.cf."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization

from audit import AuditLog, fingerprint, own_public_key
from congvu.cli import main
from congvu.config import CongvuConfig, load_config
from milter.checks import check_locally
from milter.config import QueuePosition
from milter.doctor import check_postfix
from milter.doctor_system import check_system, package_list_path, read_package_list
from milter.findings import Level
from signer.keys import Algorithm, generate_private_key, key_record
from support.audit import make_record
from support.dkim import make_key
from support.dns import DnsServer
from support.loopthread import LoopThread
from support.pki import TestPki
from support.postfix import write_config
from support.sink import Sink

DOMAIN = "sotc.example.gov.vn"
HAS_POSTCONF = shutil.which("postconf") is not None

MAIN_CF = """
content_filter = congvu-in:[127.0.0.1]:{in_port}
message_size_limit = {size}
"""

MASTER_CF = """
smtp      inet  n       -       y       -       100     smtpd
  -o content_filter=
  -o smtpd_proxy_filter=127.0.0.1:{bq_port}
  -o smtpd_proxy_timeout=420s
congvu-in unix  -       -       n       -       20      smtp
  -o smtp_send_xforward_command=yes
127.0.0.1:{hop_port} inet n - n - - smtpd
  -o content_filter=
  -o smtpd_authorized_xforward_hosts=127.0.0.0/8
"""


@dataclass
class Setup:
    work: Path
    dns: DnsServer
    pki: TestPki
    key_path: Path
    hop_port: int
    in_port: int
    bq_port: int

    def config(self, *, extra: str = "", cert: Path | None = None,
               crl: Path | None = None, hop_port: int | None = None) -> Path:
        """Write congvu.toml; the S/MIME identity uses ``cert`` (default: a fresh one)."""
        cert = cert or self.identity(365)
        crls = f'crls = ["{crl}"]' if crl else ""
        path = self.work / "congvu.toml"
        path.write_text(f"""
[service]
data_dir = "{self.work / 'var'}"
hostname = "mail.{DOMAIN}"
xforward_hosts = ["127.0.0.1/32"]

[[listeners]]
name = "inbound"
role = "inbound"
port = {self.in_port}

[[listeners]]
name = "port-25"
role = "inbound"
queue = "before"
port = {self.bq_port}

[next_hop]
kind = "smtp"
port = {hop_port or self.hop_port}
connect_timeout = 5

[signer.dkim]
resolver_nameserver = "127.0.0.1"
resolver_port = {self.dns.port}
resolver_timeout = 1

[[signer.dkim.keys]]
domain = "{DOMAIN}"
selector = "s2026"
key_file = "{self.key_path}"

[signer.smime]
trust_anchors = ["{self.work / 'pki' / 'root.pem'}"]
intermediates = ["{self.work / 'pki' / 'intermediate.pem'}"]
{crls}

[[signer.smime.identities]]
unit = "sotc"
cert = "{cert}"
key = "{cert.with_suffix('.key')}"
{extra}
""", encoding="utf-8")
        check_locally(load_config(path), create=True)
        return path

    def identity(self, days: int) -> Path:
        issued = self.pki.issue(f"vanthu@{DOMAIN}",
                                not_after=self.pki.now + dt.timedelta(days=days))
        cert, _ = issued.write(self.work / "pki", f"sotc-{days}")
        return cert

    def postfix(self, *, size: int = 10_240_000, in_port: int | None = None,
                master: str | None = None) -> Path:
        directory = self.work / "postfix"
        directory.mkdir(exist_ok=True)
        write_config(directory / "main.cf",
                     MAIN_CF.format(in_port=in_port or self.in_port, size=size))
        write_config(directory / "master.cf",
                     MASTER_CF.format(hop_port=self.hop_port, bq_port=self.bq_port)
                     if master is None else master)
        return directory


@pytest.fixture
def setup(tmp_path: Path, next_hop: Sink,
          filter_server: Callable[..., Any]) -> Iterator[Setup]:
    dns = DnsServer()
    dns.start()
    (tmp_path / "dkim").mkdir()
    key = make_key(tmp_path / "dkim", "s2026", Algorithm.RSA_SHA256)
    dns.add_txt(f"s2026._domainkey.{DOMAIN}", key.record)
    dns.add_txt(DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
    dns.add_txt(f"_dmarc.{DOMAIN}", f"v=DMARC1; p=reject; rua=mailto:dmarc@{DOMAIN}")
    pki = TestPki.create()
    pki.write(tmp_path / "pki")
    with socket.socket() as sock, socket.socket() as other:
        sock.bind(("127.0.0.1", 0))
        other.bind(("127.0.0.1", 0))
        in_port, bq_port = sock.getsockname()[1], other.getsockname()[1]
    # congvu answering on both listeners, with state of its own
    filter_server(service={"data_dir": str(tmp_path / "serving")}, listeners=[
        {"name": "inbound", "role": "inbound", "port": in_port},
        {"name": "port-25", "role": "inbound", "queue": "before", "port": bq_port}])
    try:
        yield Setup(tmp_path, dns, pki, key.path, next_hop.port, in_port, bq_port)
    finally:
        dns.stop()


def doctor(config: Path, *args: str) -> Result:
    if "--postfix-config" not in args:
        args = ("--no-postfix", *args)
    return CliRunner().invoke(main, ["doctor", "--config", str(config), *args])


def lines(result: Result, level: str) -> list[str]:
    """The lines of ``level``, less doctor's word on the test machine's own disk (its
    data directory is under the machine's temporary directory, which may be nearly full:
    that warning says nothing of the setup a test builds)."""
    return [line for line in result.output.splitlines()
            if line.startswith(level) and not _machine_disk(line)]


def _machine_disk(line: str) -> bool:
    return line.startswith("WARNING service.data_dir: ") and ", less than 10%" in line


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_a_healthy_setup_is_all_ok(setup: Setup) -> None:
    directory = setup.postfix()
    result = doctor(setup.config(extra=pin_own_key(setup)), "--postfix-config",
                    str(directory), "--server-ip", "127.0.0.1")
    assert lines(result, "ERROR") == [], result.output
    # no Postfix runs this configuration, so its queue cannot be read (tests/e2e reads
    # a running one's); a package a server runs beside congvu may be missing on a test
    # machine (test_a_missing_library_is_an_error_and_a_missing_server_package_a_warning)
    [queue] = [line for line in lines(result, "WARNING") if not line.startswith(
        "WARNING package ")]
    assert queue.startswith(f"WARNING postfix queue {directory}: cannot read Postfix's "
                            "queue (postqueue: ")
    assert result.exit_code == 1, result.output
    output = result.output
    for name, port in (("inbound", setup.in_port), ("port-25", setup.bq_port)):
        assert f"OK      listener {name}: congvu answers on 127.0.0.1:{port}: 220 " in output
    assert "selector s2026: s2026._domainkey.sotc.example.gov.vn publishes this key" in output
    assert f"dns {DOMAIN}: SPF and DMARC published and consistent" in output
    assert f"next_hop: smtp 127.0.0.1:{setup.hop_port} answers 250" in output
    assert "reinjection listener 127.0.0.1:" in output
    assert (f"master.cf smtp smtpd_proxy_filter = 127.0.0.1:{setup.bq_port} reaches a congvu "
            "listener (before the queue)") in output
    assert "message_size_limit = 10240000 (congvu accepts 52428800)" in output


def pin_own_key(setup: Setup) -> str:
    """The [audit] table that pins the checkpoint key (made by a first config check)."""
    config = load_config(setup.config())
    key = own_public_key(config.audit.keys_dir)
    assert key is not None
    return f'[audit]\ncheckpoint_public_keys = ["{fingerprint(key)}"]\n'


def test_unpinned_checkpoint_keys_are_warnings(setup: Setup, tmp_path: Path) -> None:
    config = setup.config()
    result = doctor(config)
    [warning] = [line for line in lines(result, "WARNING") if "checkpoint_public_keys" in line]
    assert "no checkpoint key is pinned: verify trusts whatever key is in " in warning
    assert "fix: pin it under [audit]: checkpoint_public_keys = [\"sha256:" in warning
    # A second server enrols its key in the shared store; this server's next
    # checkpoint covers the enrolment, so it counts: without a pin, which doctor says.
    audit = load_config(config).audit
    with AuditLog.open(audit) as log:
        log.record(make_record())
    other = audit.model_copy(update={"keys_dir": tmp_path / "other-keys"})
    with AuditLog.open(other) as log:
        theirs = fingerprint(log.signer.public_key)  # type: ignore[union-attr]
    with AuditLog.open(audit) as log:
        log.record(make_record())
        log.checkpoint()
    result = doctor(setup.config(extra=pin_own_key(setup)))
    [warning] = [line for line in lines(result, "WARNING") if "checkpoint_public_keys" in line]
    assert warning.startswith(f"WARNING audit.checkpoint_public_keys: the audit store's "
                              f"checkpoints of {theirs} count without a pin: enrolled at "
                              "record 2 (another server writing to this store)")


def test_a_key_others_can_read_is_an_error(setup: Setup) -> None:
    config = setup.config()
    setup.key_path.chmod(0o644)
    result = doctor(config)
    assert result.exit_code == 2, result.output
    assert (f"ERROR   signer.dkim.keys[0].key_file: {setup.key_path} has mode 0644: group or "
            f"others can read or write the private key; fix: chmod 600 {setup.key_path}"
            ) in result.output.splitlines()


def test_a_record_publishing_another_key_is_an_error_naming_the_selector(setup: Setup) -> None:
    config = setup.config()
    setup.dns.remove(f"s2026._domainkey.{DOMAIN}")
    setup.dns.add_txt(f"s2026._domainkey.{DOMAIN}",
                      key_record(generate_private_key(Algorithm.RSA_SHA256)))
    result = doctor(config)
    assert result.exit_code == 2, result.output
    [error] = [line for line in lines(result, "ERROR") if "signer.dkim.keys[0]:" in line]
    assert error.startswith(f"ERROR   signer.dkim.keys[0]: selector s2026 of {DOMAIN}: "
                            "p= publishes another key (published sha256:")
    assert f"; fix: publish s2026._domainkey.{DOMAIN}. IN TXT (" in error


def test_a_missing_record_is_an_error(setup: Setup) -> None:
    config = setup.config()
    setup.dns.remove(f"s2026._domainkey.{DOMAIN}")
    result = doctor(config)
    assert result.exit_code == 2
    assert (f"ERROR   signer.dkim.keys[0]: selector s2026 of {DOMAIN}: no TXT record is "
            "published; fix: publish") in result.output


def test_a_dns_timeout_is_a_warning(setup: Setup) -> None:
    config = setup.config()
    setup.dns.set_timeout(f"s2026._domainkey.{DOMAIN}")
    result = doctor(config)
    assert "WARNING signer.dkim.keys[0]: selector s2026:" in result.output
    assert "could not be looked up" in result.output


def test_a_certificate_expiring_in_10_days_is_a_warning(setup: Setup) -> None:
    cert = setup.identity(10)
    result = doctor(setup.config(cert=cert, extra=pin_own_key(setup)))
    assert result.exit_code == 1, result.output
    [warning] = lines(result, "WARNING")
    assert warning.startswith(f"WARNING signer.smime.identities[0].cert: {cert}: "
                              f"CN=vanthu@{DOMAIN}")
    assert warning.endswith("days); fix: renew it before then")


def test_an_expired_certificate_is_an_error(setup: Setup) -> None:
    issued = setup.pki.issue(f"vanthu@{DOMAIN}", expired=True)
    cert, _ = issued.write(setup.work / "pki", "expired")
    result = doctor(setup.config(cert=cert))
    assert result.exit_code == 2
    subject = f"CN=vanthu@{DOMAIN},O=UBND tinh,C=VN"
    assert f"ERROR   signer.smime.identities[0].cert: {cert}: {subject} expired on" \
        in result.output


def test_a_crl_due_within_30_days_is_a_warning(setup: Setup) -> None:
    crl = setup.work / "pki" / "soon.crl"
    crl.write_bytes(setup.pki.crl(next_update=setup.pki.now + dt.timedelta(days=7))
                    .public_bytes(serialization.Encoding.DER))
    result = doctor(setup.config(crl=crl, extra=pin_own_key(setup)))
    assert result.exit_code == 1, result.output
    [warning] = lines(result, "WARNING")
    assert warning.startswith(f"WARNING signer.crls[0]: {crl}: CN=Test Issuing CA")
    assert warning.endswith("fix: fetch a fresh CRL for it before then")


def test_an_unreachable_next_hop_is_an_error(setup: Setup) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = doctor(setup.config(hop_port=closed))
    assert result.exit_code == 2
    assert f"ERROR   next_hop: smtp 127.0.0.1:{closed} is not reachable" in result.output


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_postfix_settings_that_bypass_or_outgrow_congvu_are_errors(setup: Setup) -> None:
    config = setup.config()
    directory = setup.postfix(size=0, in_port=setup.in_port + 1,
                              master="congvu-in unix - - n - 20 smtp\n")
    result = doctor(config, "--postfix-config", str(directory))
    assert result.exit_code == 2
    errors = "\n".join(lines(result, "ERROR"))
    where = f"ERROR   postfix {directory}: "
    assert f"{where}no content_filter (or smtpd_proxy_filter) sends mail to congvu" in errors
    assert f"{where}master.cf has no reinjection listener on 127.0.0.1:{setup.hop_port}" in errors
    assert (f"{where}message_size_limit = 0 is above congvu's limits.max_message_size = "
            "52428800") in errors
    assert f"WARNING postfix {directory}: main.cf content_filter = congvu-in:[127.0.0.1]:" \
        in result.output


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_a_reinjection_listener_without_xforward_is_an_error(setup: Setup) -> None:
    config = setup.config()
    master = (f"congvu-in unix - - n - 20 smtp\n127.0.0.1:{setup.hop_port} inet n - n - - "
              "smtpd\n  -o content_filter=\n")
    result = doctor(config, "--postfix-config", str(setup.postfix(master=master)))
    assert result.exit_code == 2
    assert "does not allow XFORWARD" in result.output
    assert "master.cf transport congvu-in does not send XFORWARD" in result.output


def test_an_invalid_configuration_exits_2_with_its_key_path(tmp_path: Path) -> None:
    config = tmp_path / "congvu.toml"
    config.write_text("[limits]\nmax_message_size = 1\n")
    result = doctor(config)
    assert result.exit_code == 2
    assert f"ERROR   {config}: limits.max_message_size:" in result.output


def test_a_bad_server_ip_is_a_usage_error(setup: Setup) -> None:
    result = doctor(setup.config(), "--server-ip", "mail.example")
    assert result.exit_code == 2
    assert "'mail.example' is not an IP address" in result.output


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _shipped(tmp_path: Path, *, main: str | None = None, master: str | None = None) -> Path:
    """deploy/postfix's main.cf and master.cf snippets as a Postfix directory, edited."""
    write_config(tmp_path / "main.cf", main if main is not None
                 else (DEPLOY / "postfix" / "main.cf.snippet").read_text())
    write_config(tmp_path / "master.cf", master if master is not None
                 else (DEPLOY / "postfix" / "master.cf.snippet").read_text())
    return tmp_path


def _example(**listeners: dict[str, object]) -> CongvuConfig:
    """deploy/congvu.toml, with the named listeners' settings changed."""
    example = load_config(DEPLOY / "congvu.toml")
    return example.model_copy(update={"listeners": [
        listener.model_copy(update=listeners.get(listener.name.replace("-", "_"), {}))
        for listener in example.listeners]})


def _not_ok(config: CongvuConfig, directory: Path) -> list[str]:
    return [f.line() for f in check_postfix(config, directory) if f.level is not Level.OK]


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_the_shipped_postfix_snippets_pass_with_the_example_configuration(
        tmp_path: Path) -> None:
    findings = [f.line() for f in check_postfix(load_config(DEPLOY / "congvu.toml"),
                                                _shipped(tmp_path))]
    where = f"OK      postfix {tmp_path}: "
    # three paths, each to the listener whose queue says where it sits
    assert findings == [
        f"{where}main.cf content_filter = congvu-inbound:[127.0.0.1]:10027 reaches a congvu "
        "listener",
        f"{where}listener inbound takes mail only from congvu-inbound (127.0.0.25)",
        f"{where}master.cf submission content_filter = congvu-outbound:[127.0.0.1]:10025 "
        "reaches a congvu listener",
        f"{where}listener outbound takes mail only from congvu-outbound (127.0.0.25)",
        f"{where}master.cf smtp smtpd_proxy_filter = 127.0.0.1:10024 reaches a congvu "
        "listener (before the queue)",
        f"{where}listener port-25 takes the proxy of master.cf smtp (127.0.0.1)",
        f"{where}reinjection listener 127.0.0.1:10026 clears content_filter and allows "
        "XFORWARD",
        f"{where}message_size_limit = 52428800 (congvu accepts 52428800)",
    ]


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_the_submission_alternative_passes_as_its_comments_say(tmp_path: Path) -> None:
    shipped = (DEPLOY / "postfix" / "master.cf.snippet").read_text()
    start = shipped.index("submission inet")
    end = shipped.index("\n\n", start)
    master = (shipped[:start] + (DEPLOY / "postfix" / "master.cf.before-queue.snippet")
              .read_text() + shipped[end:])
    config = _example(outbound={"queue": QueuePosition.BEFORE,
                                "clients": [ipaddress.ip_network("127.0.0.1/32")]})
    directory = _shipped(tmp_path, master=master)
    assert _not_ok(config, directory) == []
    lines = [f.line() for f in check_postfix(config, directory)]
    assert (f"OK      postfix {tmp_path}: master.cf submission smtpd_proxy_filter = "
            "127.0.0.1:10025 reaches a congvu listener (before the queue)") in lines
    assert not any("congvu-outbound:" in line for line in lines)


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_a_listener_reached_on_the_wrong_side_of_the_queue_is_an_error(tmp_path: Path) -> None:
    where = f"ERROR   postfix {tmp_path}: "
    # the internal path's content_filter sent to the before-queue listener: its 5xx
    # would become Postfix's bounces
    main = (DEPLOY / "postfix" / "main.cf.snippet").read_text().replace(
        "congvu-inbound:[127.0.0.1]:10027", "congvu-inbound:[127.0.0.1]:10024")
    errors = _not_ok(_example(), _shipped(tmp_path, main=main))
    assert (f"{where}main.cf content_filter puts listener port-25 behind the queue, but it "
            'has queue = "before": congvu answers its refusals 5xx and Postfix bounces them '
            "to senders that are usually forged (backscatter); fix: set queue = \"after\" on "
            "listener port-25, or reach it with smtpd_proxy_filter instead") in errors
    # port 25's proxy sent to the after-queue listener: refusals would be held, answered 250
    master = (DEPLOY / "postfix" / "master.cf.snippet").read_text().replace(
        "smtpd_proxy_filter=127.0.0.1:10024", "smtpd_proxy_filter=127.0.0.1:10027")
    both = [ipaddress.ip_network("127.0.0.25/32"), ipaddress.ip_network("127.0.0.1/32")]
    errors = _not_ok(_example(inbound={"clients": both}), _shipped(tmp_path, master=master))
    assert errors == [
        f"{where}master.cf smtp smtpd_proxy_filter puts listener inbound before the queue, "
        'but it has queue = "after": congvu holds what it refuses and answers 250, so the '
        "sending server never learns of the refusal; fix: set queue = \"before\" on "
        "listener inbound"]
    # an outbound listener's queue changes nothing: no finding either way
    assert _not_ok(_example(outbound={"queue": QueuePosition.BEFORE}), _shipped(tmp_path)) == []


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_the_proxy_must_be_let_in_and_waited_for(tmp_path: Path) -> None:
    where = f"postfix {tmp_path}: "
    example = load_config(DEPLOY / "congvu.toml")
    # the port-25 listener given the transports' address only: the proxy is refused
    refusing = _example(port_25={"clients": [ipaddress.ip_network("127.0.0.25/32")]})
    assert _not_ok(refusing, _shipped(tmp_path)) == [
        f"ERROR   {where}master.cf smtp smtpd_proxy_filter connects from 127.0.0.1, which "
        "listener port-25 refuses (clients): every message on that service is answered 451; "
        'fix: add "127.0.0.1/32" to listener port-25\'s clients']
    # XFORWARD not allowed from the proxy: congvu would not know the original client
    service = example.service.model_copy(
        update={"xforward_hosts": [ipaddress.ip_network("127.0.0.25/32")]})
    [warning] = _not_ok(example.model_copy(update={"service": service}), _shipped(tmp_path))
    assert warning.startswith(f"WARNING {where}service.xforward_hosts leaves out 127.0.0.1, "
                              "where master.cf smtp's proxy connects from")
    # Postfix's default smtpd_proxy_timeout (100s) gives up before congvu's next hop does
    master = (DEPLOY / "postfix" / "master.cf.snippet").read_text().replace(
        "  -o smtpd_proxy_timeout=420s\n", "")
    [warning] = _not_ok(example, _shipped(tmp_path, master=master))
    assert warning.startswith(f"WARNING {where}master.cf smtp smtpd_proxy_timeout = 100s is "
                              "not above congvu's next_hop.data_timeout = 300s")


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_port_25_behind_the_queue_is_a_warning(tmp_path: Path) -> None:
    # the stock smtp service: port 25 inherits main.cf's content_filter (the internal path)
    shipped = (DEPLOY / "postfix" / "master.cf.snippet").read_text()
    start = shipped.index("smtp      inet")
    master = shipped[:start] + "smtp inet n - y - - smtpd\n" + shipped[shipped.index(
        "\n\n", start):]
    assert _not_ok(load_config(DEPLOY / "congvu.toml"), _shipped(tmp_path, master=master)) == [
        f"WARNING postfix {tmp_path}: port 25 (master.cf smtp) reaches listener inbound behind "
        "the queue: what congvu refuses from the Internet is held, never answered to the "
        "sending server; fix: give the smtp service deploy/postfix/master.cf.snippet's "
        "smtpd_proxy_filter and content_filter= lines, and congvu.toml's port-25 listener"]
    # behind postscreen, the smtpd it passes connections to is the one that needs them
    postscreen = master.replace("smtp inet n - y - - smtpd\n",
                                "smtp inet n - y - 1 postscreen\nsmtpd pass - - y - 100 smtpd\n")
    [warning] = _not_ok(load_config(DEPLOY / "congvu.toml"),
                        _shipped(tmp_path, master=postscreen))
    assert warning.startswith(f"WARNING postfix {tmp_path}: port 25 (master.cf smtpd) reaches")
    proxied = postscreen.replace("smtpd pass - - y - 100 smtpd\n", "smtpd pass - - y - 100 smtpd\n"
                                 + shipped[shipped.index("  -o content_filter=\n"):
                                           shipped.index("\n\n", start)] + "\n")
    assert _not_ok(load_config(DEPLOY / "congvu.toml"), _shipped(tmp_path, master=proxied)) == []


def test_an_lmtp_next_hop_is_greeted_with_lhlo(setup: Setup, loop_thread: LoopThread) -> None:
    sink = Sink(loop_thread, is_lmtp=True)
    sink.start()
    try:
        config = setup.config()
        text = config.read_text().replace('kind = "smtp"', 'kind = "lmtp"').replace(
            'name = "inbound"', 'name = "inbound"\nprotocol = "lmtp"').replace(
            'name = "port-25"', 'name = "port-25"\nprotocol = "lmtp"')
        text = text.replace(f"port = {setup.hop_port}", f"port = {sink.port}")
        config.write_text(text)
        result = doctor(config)
    finally:
        sink.stop()
    assert f"OK      next_hop: lmtp 127.0.0.1:{sink.port} answers 250" in result.output


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_listener_clients_must_match_the_postfix_transports_bind_address(
        tmp_path: Path) -> None:
    write_config(tmp_path / "main.cf", (DEPLOY / "postfix" / "main.cf.snippet").read_text())
    example = load_config(DEPLOY / "congvu.toml")
    # without smtp_bind_address, Postfix connects from 127.0.0.1: the listeners refuse it
    text = (DEPLOY / "postfix" / "master.cf.snippet").read_text()
    write_config(tmp_path / "master.cf", text.replace("  -o smtp_bind_address=127.0.0.25\n", ""))
    errors = [f.line() for f in check_postfix(example, tmp_path) if f.level is Level.ERROR]
    assert any("congvu-inbound connects from 127.0.0.1, which listener inbound refuses" in line
               for line in errors), errors
    # a listener open to every local process is a warning for the outbound path
    open_listeners = example.model_copy(update={"listeners": [
        listener.model_copy(update={"clients": None}) for listener in example.listeners]})
    write_config(tmp_path / "master.cf", text)
    warnings = [f.line() for f in check_postfix(open_listeners, tmp_path)
                if f.level is Level.WARNING]
    assert [line for line in warnings if "takes mail from any process" in line] != []
    assert not any("listener inbound takes mail from any process" in line for line in warnings)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.skipif(not HAS_POSTCONF, reason="Debian package postfix is not installed")
def test_a_listener_postfix_sends_to_that_does_not_answer_is_an_error(setup: Setup) -> None:
    stopped = replace(setup, in_port=_free_port())  # congvu serves the fixture's ports only
    directory = stopped.postfix()
    result = doctor(stopped.config(), "--postfix-config", str(directory))
    assert result.exit_code == 2, result.output
    assert (f"ERROR   listener inbound: congvu does not answer on 127.0.0.1:{stopped.in_port} "
            "(Connection refused), and Postfix sends mail to it (main.cf content_filter = "
            f"congvu-in:[127.0.0.1]:{stopped.in_port}): mail waits in Postfix's queue and is "
            "bounced when it expires; fix: start congvu (systemctl start congvu; journalctl "
            "-u congvu says why it stopped)") in lines(result, "ERROR")
    assert f"OK      listener port-25: congvu answers on 127.0.0.1:{setup.bq_port}: 220 " \
        in result.output


def test_a_listener_that_does_not_answer_without_postfix_is_a_warning(setup: Setup) -> None:
    stopped = replace(setup, bq_port=_free_port())
    result = doctor(stopped.config(extra=pin_own_key(stopped)))
    assert [line for line in lines(result, "WARNING") if "listener" in line] == [
        f"WARNING listener port-25: congvu does not answer on 127.0.0.1:{stopped.bq_port} "
        "(Connection refused); fix: start congvu (systemctl start congvu; journalctl -u "
        "congvu says why it stopped)"]
    assert lines(result, "ERROR") == []


def test_the_package_list_names_every_library_the_code_loads() -> None:
    packages = read_package_list((DEPLOY / "debian-packages.txt").read_text("utf-8"))
    libraries = {(p.name, p.library, p.module) for p in packages if p.kind == "library"}
    assert {("libmagic1", "magic", "magic"), ("libarchive13", "archive", "libarchive")} \
        <= libraries
    assert all(p.why for p in packages)
    # doctor, run from this tree, reads this very list
    assert package_list_path() == DEPLOY / "debian-packages.txt"


def test_a_missing_library_is_an_error_and_a_missing_server_package_a_warning(
        tmp_path: Path) -> None:
    listed = tmp_path / "debian-packages.txt"
    listed.write_text(
        "libarchive13 library archive libarchive  # 7z and rar attachments\n"
        "libcongvu-none9 library congvu-none congvu_none  # a library no one has\n"
        "libc6 library c congvu_no_binding  # a library whose binding is missing\n"
        "congvu-no-such-server server  # on the server\n"
        "congvu-no-such-tool test  # only the tests: not checked\n", encoding="utf-8")
    found = [f.line() for f in check_system(listed)]
    assert found[0].startswith("OK      package libarchive13: libarchive loads libarchive.so")
    assert found[1] == (
        "ERROR   package libcongvu-none9: the system library congvu-none is missing, which "
        "congvu_none loads: a library no one has; fix: apt-get install libcongvu-none9, "
        "then restart congvu")
    assert found[2].startswith("ERROR   package libc6: congvu_no_binding cannot load libc.so.6 "
                               "(ModuleNotFoundError: No module named 'congvu_no_binding'): ")
    assert found[3] == (
        "WARNING package congvu-no-such-server: not installed on this host: on the server; "
        "fix: apt-get install congvu-no-such-server, unless it runs on another host")
    assert len(found) == 4


def test_a_package_list_doctor_cannot_read_is_an_error_naming_the_line(tmp_path: Path) -> None:
    listed = tmp_path / "debian-packages.txt"
    listed.write_text("libmagic1 library magic  # the binding is missing\n", encoding="utf-8")
    [finding] = check_system(listed)
    assert finding.level is Level.ERROR
    assert "line 1: 'libmagic1 library magic  # the binding is missing' is not NAME library " \
        "LIBRARY MODULE, NAME server or NAME test" in finding.message
