"""The race against OpenDKIM: one Postfix load through Postfix alone, Postfix with
OpenDKIM as its milter, and Postfix with congvu as its content filter.

Run by `make bench-postfix`. One private Postfix relays to smtp-sink; each path is
its own smtpd listener on that Postfix, so every path shares one queue, one smtp client
and one sink:

- (a) Postfix alone;
- (b) ``smtpd_milters`` = OpenDKIM signing RSA-2048 (relaxed/relaxed, From oversigned);
- (c) ``content_filter`` = congvu, DKIM only (``units``, ``dkim-sign``, no audit, no
  archive): what OpenDKIM does;
- (d) ``content_filter`` = congvu with the full default pipeline (policies, S/MIME with
  an identity for the sender, DKIM, the archive, the audit record committed before every
  reply);
- (c') and (d'): the same two congvu services as a before-queue proxy
  (``smtpd_proxy_filter``), which spares Postfix the second queueing of each message;
- (a2) Postfix queueing every message twice with no filter between (its content_filter
  is its own reinjection listener): what an after-queue filter costs Postfix itself.

congvu (both deployments) relays to the reinjection listener, as deploy/ sets it up.
The load is smtp-source's: MESSAGES of SIZE bytes over SESSIONS connections with -d.
Before the load, one message per path goes to a recording sink (routed there by
transport_maps) and its signatures are verified: OpenDKIM (Mode v) for DKIM, OpenSSL
for S/MIME. Every path runs ROUNDS times, interleaved, and the table gives each
round's figures and the ranges; ratios are taken within a round (the machine is shared,
so only same-round ratios mean anything). Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from directory import Directory
from signer.keys import Algorithm
from support import opendkim, postfix
from support.dkim import make_key, opendkim_verify
from support.dns import DnsServer
from support.loopthread import LoopThread
from support.pki import PkiFiles, TestPki
from support.process import ServeProcess
from support.sink import Sink

MESSAGES, SESSIONS, SIZE = 2000, 20, 10240
ROUNDS = int(os.environ.get("CONGVU_BENCH_ROUNDS", "3"))
DOMAIN = "binhthuan.gov.vn"
# support.postfix.smtp_source's -f; smtp-source writes it as the header From too
# ("From: <bench@binhthuan.gov.vn>"), so it is the domain both signers sign for.
SENDER = "bench@binhthuan.gov.vn"
SELECTOR = "race"
CAPTURE = "capture.test"
OPENDKIM = "(b) Postfix + OpenDKIM milter"
REINJECTION_OVERRIDES = ",".join(
    ["no_unknown_recipient_checks", "no_header_body_checks", "no_milters", "no_address_mappings"]
)

reason = postfix.missing() or opendkim.missing()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"LOUD SKIP: {reason}")


@dataclass(frozen=True)
class Route:
    """One way through the mail system: its name, its Postfix port, what it signs."""

    label: str
    port: int
    is_dkim_signed: bool
    is_smime_signed: bool
    filter: str | None = None  # whose CPU time is charged to the route


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid``, its threads, its live children (the workers) and
    the children it has reaped (a worker that died and was replaced)."""
    def own(one: int, *, reaped: bool = False) -> float:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        # utime, stime; then cutime, cstime: the waited-for children's
        ticks = sum(int(f) for f in fields[11:15 if reaped else 13])
        return ticks / os.sysconf("SC_CLK_TCK")

    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own(pid, reaped=True) + sum(own(int(child)) for child in children)


def _congvu_config(work: Path, name: str, *, reinjection: int, dns_port: int, key: Path,
                   pipeline: str, smime: str = "") -> Path:
    config = work / f"{name}.toml"
    config.write_text(f"""
[service]
data_dir = "{work / ('var-' + name)}"
hostname = "mail.{DOMAIN}"

[[listeners]]
name = "outbound"
role = "outbound"
port = 0

[next_hop]
kind = "smtp"
port = {reinjection}
{pipeline}
[signer.dkim]
authserv_id = "mail.{DOMAIN}"
resolver_nameserver = "127.0.0.1"
resolver_port = {dns_port}
resolver_timeout = 2

[[signer.dkim.keys]]
domain = "{DOMAIN}"
selector = "{SELECTOR}"
key_file = "{key}"
algorithm = "rsa-sha256"
{smime}""", encoding="utf-8")
    return config


def _smime_table(pki_files: PkiFiles, cert: Path, key: Path) -> str:
    return f"""
[signer.smime]
trust_anchors = ["{pki_files.root}"]
intermediates = ["{pki_files.intermediate}"]

[[signer.smime.identities]]
address = "{SENDER}"
cert = "{cert}"
key = "{key}"
"""


def _master(ports: dict[str, int], milter: str, congvu: dict[str, int]) -> str:
    def listener(name: str, *options: str) -> str:
        lines = [f"127.0.0.1:{ports[name]} inet n - n - - smtpd",
                 f"  -o syslog_name=postfix/{name}"]
        return "\n".join([*lines, *(f"  -o {option}" for option in options)]) + "\n"

    return "\n" + "".join([
        listener("opendkim", f"smtpd_milters={milter}"),
        # The after-queue cost without a filter: Postfix queues each message twice.
        listener("twice", f"content_filter=congvu-in:[127.0.0.1]:{ports['reinject']}"),
        listener("congvu-dkim", f"content_filter=congvu-in:[127.0.0.1]:{congvu['dkim']}"),
        listener("congvu-full", f"content_filter=congvu-in:[127.0.0.1]:{congvu['full']}"),
        # Before-queue: smtpd speaks to congvu during the client's session; congvu
        # relays to the reinjection listener, whose 250 is then the client's.
        listener("proxy-dkim", f"smtpd_proxy_filter=127.0.0.1:{congvu['dkim']}",
                 "smtpd_proxy_options=speed_adjust"),
        listener("proxy-full", f"smtpd_proxy_filter=127.0.0.1:{congvu['full']}",
                 "smtpd_proxy_options=speed_adjust"),
        listener("reinject", "content_filter=",
                 f"receive_override_options={REINJECTION_OVERRIDES}",
                 "smtpd_authorized_xforward_hosts=127.0.0.0/8",
                 "smtpd_client_restrictions=", "smtpd_helo_restrictions=",
                 "smtpd_sender_restrictions=", "mynetworks=127.0.0.0/8",
                 "smtpd_relay_restrictions=permit_mynetworks,reject"),
        "congvu-in unix - - n - 20 smtp\n"
        "  -o smtp_send_xforward_command=yes\n"
        "  -o disable_mime_output_conversion=yes\n",
    ])


def _verify_smime(message: bytes, work: Path, root: Path) -> None:
    path = work / "smime.eml"
    path.write_bytes(message)
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-CAfile", str(root), "-purpose", "smimesign",
         "-in", str(path), "-out", str(path) + ".content"],
        capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    """An event loop thread for the recording sink."""
    runner = LoopThread()
    yield runner
    runner.close()


def test_postfix_race(tmp_path: Path, loop: LoopThread) -> None:
    """(a) Postfix, (b) + OpenDKIM, (c) + congvu DKIM only, (d) + congvu full pipeline."""
    tmp_path.chmod(0o755)  # OpenDKIM and congvu read keys here; Postfix does not
    dns = DnsServer()
    dns.start()
    key = make_key(tmp_path, SELECTOR, Algorithm.RSA_SHA256, bits=2048)
    dns.add_txt(f"{SELECTOR}._domainkey.{DOMAIN}", key.record)
    pki = TestPki.create()
    pki_files = pki.write(tmp_path / "pki")
    cert, cert_key = pki.issue(SENDER).write(tmp_path / "pki", "bench")
    store = Directory.open(tmp_path / "var-full" / "directory.sqlite3")
    store.import_csv(f"id,name,parent,address,senders,dkim_domain\n"
                     f"bench,Phòng thử tải,,{SENDER},{SENDER},{DOMAIN}\n", actor="bench")
    store.close()

    sink = postfix.SmtpSink()
    capture = Sink(loop)
    capture.start()
    milter = opendkim.OpenDkimMilter(domain=DOMAIN, selector=SELECTOR, key_file=key.path)
    milter.start()
    reinjection = postfix.free_port()
    services = {
        "dkim": ServeProcess(_congvu_config(
            tmp_path, "dkim", reinjection=reinjection, dns_port=dns.port, key=key.path,
            pipeline='\n[pipeline]\nstages = ["units", "dkim-sign"]\naudit = false\n'
                     '\n[archive]\nenabled = false\n'),
            workers=2),
        "full": ServeProcess(_congvu_config(
            tmp_path, "full", reinjection=reinjection, dns_port=dns.port, key=key.path,
            pipeline="", smime=_smime_table(pki_files, cert, cert_key)), workers=2),
    }
    for service in services.values():
        for _ in range(2):
            service.wait_for("worker ready")
    ports = {name: postfix.free_port() for name in
             ("twice", "opendkim", "congvu-dkim", "congvu-full", "proxy-dkim", "proxy-full")}
    ports["reinject"] = reinjection
    relay = postfix.PostfixInstance(
        relayhost=f"[127.0.0.1]:{sink.port}",
        main_extra=f"transport_maps = inline:{{ {CAPTURE}=smtp:[127.0.0.1]:{capture.port} }}\n"
                   "milter_default_action = tempfail\n",
        master_extra=_master(ports, milter.socket,
                             {name: s.port for name, s in services.items()}),
    )
    relay.start()
    paths = [
        Route("(a) Postfix alone", relay.port, False, False),
        Route("(a2) Postfix queueing twice, no filter", ports["twice"], False, False),
        Route(OPENDKIM, ports["opendkim"], True, False, "opendkim"),
        Route("(c) Postfix + congvu DKIM only", ports["congvu-dkim"], True, False, "dkim"),
        Route("(d) Postfix + congvu full pipeline", ports["congvu-full"], True, True, "full"),
        Route("(c') before-queue congvu DKIM only", ports["proxy-dkim"], True, False, "dkim"),
        Route("(d') before-queue congvu full", ports["proxy-full"], True, True, "full"),
    ]
    pids = {"opendkim": milter.pid, **{name: s.process.pid for name, s in services.items()}}
    rounds: list[dict[str, float]] = []
    cpu: dict[str, list[float]] = {}
    try:
        for path in paths:
            _check_signed(path, capture, tmp_path, dns.port, pki_files.root)
        for _ in range(ROUNDS):
            rates: dict[str, float] = {}
            for path in paths:
                target = sink.count + MESSAGES
                cpu_before = _cpu_seconds(pids[path.filter]) if path.filter else 0.0
                started = time.perf_counter()
                postfix.smtp_source(path.port, messages=MESSAGES, sessions=SESSIONS,
                                    size=SIZE, reuse_connections=True)
                sink.wait_for(target, timeout=900)
                rates[path.label] = MESSAGES / (time.perf_counter() - started)
                if path.filter:
                    used = _cpu_seconds(pids[path.filter]) - cpu_before
                    cpu.setdefault(path.label, []).append(1000 * used / MESSAGES)
            rounds.append(rates)
            _print_round(len(rounds), rates, cpu)
    finally:
        relay.stop()
        for service in services.values():
            service.stop()
        milter.stop()
        capture.stop()
        sink.stop()
        dns.stop()
    _print_summary(rounds, cpu)
    # (d) and (d') wrote one audit record per message, each showing both signatures.
    expected = 2 * (1 + ROUNDS * MESSAGES)
    with sqlite3.connect(f"file:{tmp_path / 'var-full' / 'audit.sqlite3'}?mode=ro",
                         uri=True) as db:
        counted = db.execute(
            "SELECT count(*), sum(dkim = 'pass' AND smime = 'pass' AND sender_unit = 'bench') "
            "FROM events WHERE kind = 'message'").fetchone()
    print(f"audit (full pipeline): {counted[0]} records, {counted[1]} DKIM- and "
          "S/MIME-signed for unit bench")
    assert tuple(counted) == (expected, expected)


def _check_signed(path: Route, capture: Sink, work: Path, dns_port: int, root: Path) -> None:
    """One smtp-source message through ``path`` to the recording sink, signatures checked."""
    subprocess.run(
        [str(postfix.SBIN / "smtp-source"), "-m", "1", "-s", "1", "-l", str(SIZE),
         "-f", SENDER, "-t", f"check@{CAPTURE}", f"127.0.0.1:{path.port}"],
        check=True, timeout=60, stdout=subprocess.DEVNULL)
    received = capture.get(timeout=60).content
    head = received.split(b"\r\n\r\n", 1)[0]
    assert (b"\r\nDKIM-Signature:" in b"\r\n" + head) == path.is_dkim_signed, head
    if path.is_dkim_signed:
        verify_dir = work / f"verify-{path.port}"
        verify_dir.mkdir()
        result = opendkim_verify(received, verify_dir, dns_port)
        assert "dkim=pass" in result, result
    if path.is_smime_signed:
        assert b"multipart/signed" in head, head
        _verify_smime(received, work, root)
    print(f"\n{path.label}: the sink got it "
          + ("DKIM-signed (OpenDKIM: pass)" if path.is_dkim_signed else "unsigned")
          + (", S/MIME-signed (openssl cms -verify: OK)" if path.is_smime_signed else ""))


def _print_round(number: int, rates: dict[str, float], cpu: dict[str, list[float]]) -> None:
    alone = rates["(a) Postfix alone"]
    opendkim_rate = rates[OPENDKIM]
    opendkim_cpu = cpu[OPENDKIM][-1]
    print(f"\nround {number}: {MESSAGES} messages of {SIZE} bytes over {SESSIONS} "
          "connections (smtp-source -d) into smtp-sink; filter CPU = OpenDKIM's or "
          f"congvu's (all workers) CPU time per message; load average {os.getloadavg()[0]:.1f}")
    print(f"{'path':40} {'msg/s':>7} {'x (a)':>7} {'x (b)':>7} {'filter CPU':>11} "
          f"{'CPU x (b)':>9}")
    for label, rate in rates.items():
        used = f"{cpu[label][-1]:.2f} ms" if label in cpu else ""
        ratio = f"{cpu[label][-1] / opendkim_cpu:.2f}" if label in cpu else ""
        print(f"{label:40} {rate:7.0f} {rate / alone:7.2f} {rate / opendkim_rate:7.2f} "
              f"{used:>11} {ratio:>9}")


def _print_summary(rounds: list[dict[str, float]], cpu: dict[str, list[float]]) -> None:
    def span(values: list[float], fmt: str) -> str:
        low, high = min(values), max(values)
        return f"{low:{fmt}}-{high:{fmt}}" if len(values) > 1 else f"{low:{fmt}}"

    print(f"\nranges over {len(rounds)} round(s), ratios taken within each round:")
    print(f"{'path':40} {'msg/s':>10} {'x (a)':>11} {'x (b)':>11} {'filter CPU ms':>13} "
          f"{'CPU x (b)':>11}")
    for label in rounds[0]:
        rates = [r[label] for r in rounds]
        to_a = [r[label] / r["(a) Postfix alone"] for r in rounds]
        to_b = [r[label] / r[OPENDKIM] for r in rounds]
        used = span(cpu[label], ".2f") if label in cpu else ""
        cpu_to_b = (span([mine / theirs for mine, theirs in zip(cpu[label], cpu[OPENDKIM],
                                                                 strict=True)], ".2f")
                    if label in cpu else "")
        print(f"{label:40} {span(rates, '.0f'):>10} {span(to_a, '.2f'):>11} "
              f"{span(to_b, '.2f'):>11} {used:>13} {cpu_to_b:>11}")
