"""Header fields in raw UTF-8 (SMTPUTF8, RFC 6532) are recorded as text and found by a
search; bytes that are not UTF-8 are recorded with U+FFFD and kept, base64, in the record."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from audit import AuditLog
from audit.query import Filters
from congvu.cli import main
from support.rawsmtp import Raw

UTF8_MESSAGE = (
    '"Sở Tài chính" <sotc@binhthuan.gov.vn>'.join(["From: ", "\r\n"])
    + "To: Văn phòng UBND tỉnh <vanphong@binhthuan.gov.vn>\r\n"
    + "Cc: Phòng Kế hoạch <khtc@binhthuan.gov.vn>,\r\n"
      " =?utf-8?q?S=E1=BB=9F_X=C3=A2y?= =?utf-8?q?_d=E1=BB=B1ng?= <sxd@binhthuan.gov.vn>\r\n"
    + "Subject: Công văn số 45/STC về dự toán\r\n ngân sách năm 2027\r\n"
    + "Message-ID: <utf8-45@binhthuan.gov.vn>\r\n"
    + "\r\nNội dung.\r\n"
).encode("utf-8")

# Windows-1258 / Latin-1 bytes from an old client: not UTF-8.
LATIN1_SUBJECT = "Báo cáo tháng".encode("latin-1")
LATIN1_MESSAGE = (
    b"From: sotc@binhthuan.gov.vn\r\n"
    b"To: vanphong@binhthuan.gov.vn\r\n"
    b"Subject: " + LATIN1_SUBJECT + b" =?utf-8?q?s=E1=BB=91_9?=\r\n"
    b"Message-ID: <latin1-9@binhthuan.gov.vn>\r\n"
    b"\r\nx\r\n"
)


def _start(filter_server: Callable[..., Any]) -> Any:
    # Inbound from outside, with the stages that need no DNS: what is recorded of the
    # header is the same whatever the stages decide.
    return filter_server(listeners=[{"name": "in", "role": "inbound", "port": 0}],
                         pipeline={"stages": ["units", "policy"]})


def _send(port: int, content: bytes) -> None:
    client = Raw(port)
    assert client.command(b"EHLO client.test").startswith(b"250")
    assert client.command(b"MAIL FROM:<sotc@binhthuan.gov.vn>").startswith(b"250")
    assert client.command(b"RCPT TO:<vanphong@binhthuan.gov.vn>").startswith(b"250")
    assert client.command(b"DATA").startswith(b"354")
    client.send(content + b".\r\n")
    assert client.reply().startswith(b"250 2.0.0")


def _shown(path: Path, filters: Filters) -> tuple[Any, dict[str, Any]]:
    store = AuditLog.open_readonly(path)
    try:
        [summary] = store.query(filters).items
        return summary, store.show(summary.id)
    finally:
        store.close()


def _cli_query(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    config = tmp_path / "congvu.toml"
    config.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["audit", "query", "--config", str(config),
                                       "--format", "json", *args])
    assert result.exit_code == 0, result.output
    records: list[dict[str, Any]] = json.loads(result.stdout)["records"]
    return records


def test_raw_utf8_headers_are_recorded_as_text_and_found(
        filter_server, next_hop, tmp_path: Path) -> None:
    running = _start(filter_server)
    _send(running.port, UTF8_MESSAGE)
    assert next_hop.get().content == UTF8_MESSAGE  # relayed byte for byte
    summary, shown = _shown(running.server.config.audit.path, Filters(text="công văn 45"))
    assert summary.subject == "Công văn số 45/STC về dự toán ngân sách năm 2027"
    assert summary.header_from == '"Sở Tài chính" <sotc@binhthuan.gov.vn>'
    assert shown["header_to"] == "Văn phòng UBND tỉnh <vanphong@binhthuan.gov.vn>"
    # raw UTF-8 and RFC 2047 encoded words in one field, both decoded
    assert shown["header_cc"] == ("Phòng Kế hoạch <khtc@binhthuan.gov.vn>, "
                                  "Sở Xây dựng <sxd@binhthuan.gov.vn>")
    assert "raw_headers" not in shown  # every byte decoded: nothing else to keep
    # The auditors' search, with and without diacritics, over subject, To and Cc.
    for words in ("dự toán ngân sách", "du toan ngan sach", "van phong ubnd", "xay dung",
                  "sở tài chính"):
        [found] = _cli_query(tmp_path, "--text", words)
        assert found["message_id"] == "<utf8-45@binhthuan.gov.vn>", words


def test_bytes_that_are_not_utf8_are_kept_base64(filter_server, next_hop) -> None:
    running = _start(filter_server)
    _send(running.port, LATIN1_MESSAGE)
    assert next_hop.get().content == LATIN1_MESSAGE
    summary, shown = _shown(running.server.config.audit.path,
                            Filters(message_id="<latin1-9@binhthuan.gov.vn>"))
    assert summary.subject == "B\ufffdo c\ufffdo th\ufffdng số 9"
    assert shown["raw_headers"] == {"Subject": base64.b64encode(
        LATIN1_SUBJECT + b" =?utf-8?q?s=E1=BB=91_9?=").decode()}
    assert shown["header_to"] == "vanphong@binhthuan.gov.vn"
    # The bytes as they came, recoverable from the record.
    raw = base64.b64decode(shown["raw_headers"]["Subject"])
    assert raw.startswith("Báo cáo tháng".encode("latin-1"))


def test_ascii_headers_with_encoded_words_are_recorded_as_before(
        filter_server, next_hop) -> None:
    running = _start(filter_server)
    _send(running.port, b"From: =?utf-8?b?U+G7nyBUw6BpIGNow61uaA==?= <sotc@binhthuan.gov.vn>\r\n"
                        b"Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?= 12\r\n"
                        b"Subject: a second Subject field is not the recorded one\r\n"
                        b"Message-ID: <ascii-12@binhthuan.gov.vn>\r\n\r\nx\r\n")
    next_hop.get()
    summary, shown = _shown(running.server.config.audit.path, Filters(text="cong van 12"))
    assert (summary.subject, summary.header_from) == (
        "Công văn 12", "Sở Tài chính <sotc@binhthuan.gov.vn>")
    assert "raw_headers" not in shown
