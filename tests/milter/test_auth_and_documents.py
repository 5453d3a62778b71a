"""SPF/DMARC decisions, own-domain protection and document signatures through the service."""

from __future__ import annotations

import datetime as dt
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from audit import AuditLog
from audit.query import Filters
from directory import Directory
from mailbase import parse_period, zone
from support.dns import DnsServer
from support.documents import plain_pdf, sign_pdf
from support.pki import TestPki
from support.rawsmtp import Raw

OWN = "binhthuan.gov.vn"
OUTSIDE_CLIENT = b"203.0.113.9"


@pytest.fixture
def dns():
    server = DnsServer()
    server.start()
    server.add_txt("example.org", "v=spf1 ip4:203.0.113.9 -all")
    server.add_txt("_dmarc.example.org", "v=DMARC1; p=reject")
    server.add_txt(OWN, "v=spf1 ip4:192.0.2.0/24 -all")
    server.add_txt(f"_dmarc.{OWN}", "v=DMARC1; p=quarantine")
    yield server
    server.stop()


@pytest.fixture
def inbound(filter_server, dns):
    running = filter_server(
        listeners=[{"name": "in", "role": "inbound", "queue": "before", "port": 0}],
        signer={"dkim": {"authserv_id": f"mx.{OWN}", "resolver_nameserver": "127.0.0.1",
                         "resolver_port": dns.port, "resolver_timeout": 2}},
    )
    store = Directory.open(running.server.config.directory.path)
    store.import_csv(f"id,name,parent,address\nsotc,Sở Tài chính,,sotc@{OWN}\n", actor="t")
    store.close()
    running.server.runtime.units.index.refresh()
    return running


def message(sender: str) -> bytes:
    return (f"From: {sender}\r\nTo: sotc@{OWN}\r\nSubject: test\r\n"
            f"Message-ID: <a@example.org>\r\n\r\nbody\r\n").encode()


def send(running, sender: str, client_ip: bytes, mail_from: str | None = None) -> bytes:
    raw = Raw(running.port)
    raw.command(b"EHLO postfix")
    assert raw.command(b"XFORWARD ADDR=" + client_ip + b" HELO=mx.example.org").startswith(b"250")
    assert raw.command(f"MAIL FROM:<{mail_from or sender}>".encode()).startswith(b"250")
    assert raw.command(f"RCPT TO:<sotc@{OWN}>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(message(sender) + b".\r\n")
    return raw.reply()


def test_outside_client_claiming_a_provincial_sender_is_refused(inbound, next_hop) -> None:
    reply = send(inbound, f"sotc@{OWN}", OUTSIDE_CLIENT)
    assert reply.startswith(
        b"550 5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / "
        b"Message refused as a forged provincial sender")
    next_hop.assert_empty()


def test_trusted_client_is_not_checked_for_spoofing(inbound, next_hop) -> None:
    assert send(inbound, f"sotc@{OWN}", b"127.0.0.1").startswith(b"250")
    assert next_hop.get().recipients == [f"sotc@{OWN}"]


def test_dmarc_pass_is_delivered_with_the_results(inbound, next_hop) -> None:
    assert send(inbound, "news@example.org", OUTSIDE_CLIENT).startswith(b"250")
    head = next_hop.get().content.split(b"\r\n\r\n", 1)[0].decode()
    results = re.search(r"Authentication-Results: [^\r]*(\r\n[ \t][^\r]*)*", head)
    assert results is not None
    assert "spf=pass" in results.group(0) and "dmarc=pass" in results.group(0)


def test_dmarc_fail_with_p_reject_is_refused_and_audited(inbound, next_hop) -> None:
    reply = send(inbound, "ceo@example.org", b"198.51.100.7")
    assert reply.startswith(b"550 5.7.1")
    next_hop.assert_empty()
    log = AuditLog.open_readonly(inbound.server.config.audit.path)
    try:
        [record] = log.query(Filters()).items
        detail = log.show(record.id)
    finally:
        log.close()
    assert record.action == "reject"
    assert '"dmarc"' in str(detail) or "'dmarc'" in str(detail)


def test_signed_pdf_is_counted_as_validly_signed(filter_server, next_hop, tmp_path: Path) -> None:
    pki = TestPki.create()
    files = pki.write(tmp_path / "pki")
    running = filter_server(signer={"smime": {"trust_anchors": [str(files.root)],
                                              "intermediates": [str(files.intermediate)],
                                              "crls": [str(files.crl), str(files.root_crl)]}})
    store = Directory.open(running.server.config.directory.path)
    store.import_csv(f"id,name,parent,address\nsotc,Sở Tài chính,,sotc@{OWN}\n", actor="t")
    store.close()
    running.server.runtime.units.index.refresh()
    signed = sign_pdf(plain_pdf(), pki.issue(f"vanthu@{OWN}"))
    msg = EmailMessage()
    msg["From"] = f"sotc@{OWN}"
    msg["To"] = "ubnd@example.org"
    msg["Subject"] = "Quyết định đã ký số"
    msg.set_content("Gửi quyết định.\n")
    msg.add_attachment(signed, maintype="application", subtype="pdf", filename="Quyết định.pdf")
    running.client().sendmail(f"sotc@{OWN}", ["ubnd@example.org"],
                              msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
    next_hop.get()
    log = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        today = dt.datetime.now(zone()).strftime("%Y-%m")  # the report's own zone
        report = log.report(parse_period(today), ["sotc"])
    finally:
        log.close()
    [unit] = report.units
    assert (unit.counts.sent, unit.counts.documents_sent, unit.counts.documents_signed,
            unit.counts.documents_valid) == (1, 1, 1, 1)
