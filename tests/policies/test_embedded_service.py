"""Through the real service on loopback: a program inside a PDF is refused at DATA and
the audit record names it by its path inside the document; a PDF/A-3 invoice with its
XML is relayed."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from typing import Any

import pytest

from audit import AuditLog
from audit.query import Filters
from congvu.config import parse_config
from milter.server import Server
from support.loopthread import LoopThread
from support.sink import Sink

from .conftest import corpus_module as cm
from .test_embedded_files import pdf_with_file


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Sink]]:
    runner = LoopThread()
    sink = Sink(runner)
    sink.start()
    config = parse_config({
        "service": {"data_dir": str(tmp_path_factory.mktemp("embedded") / "var"),
                    "hostname": "filter.test"},
        "listeners": [{"name": "in", "role": "inbound", "queue": "before", "port": 0}],
        "next_hop": {"kind": "smtp", "port": sink.port, "command_timeout": 5,
                     "data_timeout": 5, "connect_timeout": 5},
        "pipeline": {"stages": ["policy"]},
    })
    srv = Server(config)
    runner.run(srv.start())
    try:
        yield srv, sink
    finally:
        runner.run(srv.stop(5))
        sink.stop()
        runner.close()


def _send(srv: Server, name: str, data: bytes, message_id: str) -> tuple[int, bytes]:
    head = cm.HEAD.replace("<t@example.gov.vn>", f"<{message_id}>")
    raw = cm.message(cm.attachment(data, name, "application/pdf"), head=head)
    client = smtplib.SMTP("127.0.0.1", next(iter(srv.ports.values())),
                          local_hostname="mx.example.org", timeout=20)
    try:
        client.ehlo()
        client.mail("vanthu@example.org")
        client.rcpt("sotc@binhthuan.gov.vn")
        return client.data(raw)
    finally:
        client.close()


def _record(srv: Server, message_id: str) -> dict[str, Any]:
    log = AuditLog.open_readonly(srv.config.audit.path)
    try:
        [summary] = log.query(Filters(message_id=f"<{message_id}>")).items
        return {"action": summary.action, **log.show(summary.id)}
    finally:
        log.close()


def test_a_program_in_a_pdf_is_refused_and_recorded_by_its_path(
        server: tuple[Server, Sink]) -> None:
    srv, _ = server
    code, text = _send(srv, "report.pdf", pdf_with_file("setup.exe", cm.EXE), "exe@example.vn")
    assert code == 550
    assert b"report.pdf/setup.exe" in text
    record = _record(srv, "exe@example.vn")
    assert record["action"] == "reject"
    assert {(v["rule"], v["member"]) for v in record["violations"]} >= {
        ("blocked-type", "report.pdf/setup.exe")}


def test_a_pdf_a3_invoice_is_relayed(server: tuple[Server, Sink]) -> None:
    srv, sink = server
    xml = b'<?xml version="1.0"?><Invoice><ID>HD-0002</ID></Invoice>'
    code, _ = _send(srv, "hoadon.pdf", pdf_with_file("invoice.xml", xml), "inv@example.vn")
    assert code == 250
    assert b"inv@example.vn" in sink.get().content
    assert _record(srv, "inv@example.vn")["action"] in ("accept", "tag")
