"""The policy stage through the service: reject, strip, tag, quarantine, per unit."""

from __future__ import annotations

import base64
import email
import email.policy
import smtplib
import socket
from email.message import EmailMessage
from pathlib import Path

import pytest

from directory import Directory
from policies import Quarantine

PE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def message(filename: str, data: bytes, subtype: str = "octet-stream") -> bytes:
    msg = EmailMessage()
    msg["From"] = "sotc@binhthuan.gov.vn"
    msg["To"] = "vanphong@binhthuan.gov.vn"
    msg["Subject"] = "Công văn số 123"
    msg["Message-ID"] = "<policy@binhthuan.gov.vn>"
    msg.set_content("Kính gửi anh chị,\nXin xem tệp đính kèm.\n")
    maintype, _, sub = subtype.partition("/") if "/" in subtype else ("application", "", subtype)
    msg.add_attachment(data, maintype=maintype, subtype=sub, filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_clean_document_with_vietnamese_name_passes_untouched(filter_server, next_hop) -> None:
    raw = message("Công văn số 123.pdf", PDF, "application/pdf")
    filter_server().client().sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], raw)
    assert next_hop.get().content == raw


def test_executable_is_rejected_with_550_and_not_relayed(filter_server, next_hop) -> None:
    client = filter_server().client()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], message("bao cao.pdf.exe", PE))
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 ")
    assert b"double-extension" in refused.value.smtp_error or b"blocked" in refused.value.smtp_error
    next_hop.assert_empty()


def test_strip_removes_the_part_and_delivers_the_rest(filter_server, next_hop) -> None:
    running = filter_server(policies={"actions": {"blocked-extension": "strip",
                                                  "double-extension": "strip",
                                                  "blocked-type": "strip"}})
    running.client().sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], message("setup.exe", PE))
    delivered = email.message_from_bytes(next_hop.get().content, policy=email.policy.default)
    parts = list(delivered.walk())
    assert not any(part.get_filename() == "setup.exe" for part in parts)
    assert not any(part.get_payload(decode=True) == PE for part in parts)
    texts = [part.get_content() for part in parts if part.get_content_type() == "text/plain"]
    assert any("Kính gửi" in text for text in texts)  # the body is kept
    assert any("setup.exe" in text for text in texts[1:])  # the notice names what was removed


def test_tag_adds_the_header(filter_server, next_hop) -> None:
    running = filter_server(policies={"actions": {"extension-mismatch": "tag"}})
    running.client().sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"],
                              message("anh.png", PDF, "image/png"))
    content = next_hop.get().content
    assert content.startswith(b"X-Congvu-Policy: ") or b"\r\nX-Congvu-Policy:" in content


def test_quarantined_message_is_held_on_disk(filter_server, next_hop, tmp_path: Path) -> None:
    running = filter_server()
    raw = message("macro.docm", b"PK\x03\x04" + b"\x00" * 100)
    client = running.client()
    client.mail("sotc@binhthuan.gov.vn")
    client.rcpt("a@b.vn")
    code, text = client.data(raw)
    assert code == 250
    assert b"held in quarantine (" in text
    next_hop.assert_empty()
    held_id = text.decode().rsplit(" ", 1)[-1].strip("()")
    store = Quarantine(running.server.config.policies.quarantine.path)
    try:
        entry = store.get(held_id)
        assert entry.recipients == ("a@b.vn",)
        assert store.read(held_id) == raw
    finally:
        store.close()


def test_a_units_override_applies_to_its_descendants(filter_server, next_hop, tmp_path) -> None:
    running = filter_server(policies={"overrides": [
        {"unit": "sotc", "direction": "outbound", "actions": {"double-extension": "accept",
                                                              "blocked-extension": "accept",
                                                              "blocked-type": "accept"}}]})
    store = Directory.open(running.server.config.directory.path)
    store.import_csv(
        "id,name,parent,address\n"
        "tinh,Tỉnh Bình Thuận,,ubnd@binhthuan.gov.vn\n"
        "sotc,Sở Tài chính,tinh,sotc@binhthuan.gov.vn\n"
        "phongns,Phòng Ngân sách,sotc,phongns@binhthuan.gov.vn\n",
        actor="test",
    )
    store.close()
    running.server.runtime.units.index.refresh()
    # The listener is auto: an XFORWARD from a trusted client makes the mail outbound.
    client = running.client()
    client.docmd("XFORWARD", "ADDR=127.0.0.1")
    raw = message("tool.exe", PE).replace(b"From: sotc@", b"From: phongns@")
    client.sendmail("phongns@binhthuan.gov.vn", ["a@example.org"], raw)
    assert next_hop.get().content == raw
    # The same message from a unit outside the override is refused.
    client.docmd("XFORWARD", "ADDR=127.0.0.1")
    other = raw.replace(b"From: phongns@", b"From: ubnd@")
    with pytest.raises(smtplib.SMTPDataError):
        client.sendmail("ubnd@binhthuan.gov.vn", ["a@example.org"], other)


def test_the_log_line_names_the_stage_that_decided(filter_server, caplog) -> None:
    import logging

    client = filter_server().client()
    with caplog.at_level(logging.INFO, logger="congvu.milter"), pytest.raises(
        smtplib.SMTPDataError
    ):
        client.sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], message("x.exe", PE))
    [line] = [r for r in caplog.records if r.getMessage() == "message"]
    assert (line.fields["fate"], line.fields["stage"]) == ("rejected", "policy")  # type: ignore[attr-defined]



def _reply(conn: socket.socket, buffer: bytearray) -> list[bytes]:
    """One SMTP reply's lines (continuations included), read from ``conn``."""
    lines: list[bytes] = []
    while True:
        while b"\r\n" not in buffer:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed after {lines!r}"
            buffer += chunk
        line, _, rest = bytes(buffer).partition(b"\r\n")
        buffer[:] = rest
        lines.append(line)
        if line[3:4] != b"-":
            return lines


def test_a_refused_name_carrying_crlf_gives_one_reply_line(filter_server, next_hop) -> None:
    # RFC 2231 lets a filename carry %0D%0A: quoted in the refusal as it stands, it would
    # end the reply early and forge the next one (here a 250 the client would believe).
    raw = (b"From: sotc@binhthuan.gov.vn\r\nTo: a@b.vn\r\nSubject: Cong van\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nXin xem.\r\n--b\r\n"
           b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment;\r\n filename*=utf-8''x%0D%0A250%202.0.0%20"
           b"Message%20accepted%20and%20relayed%0D%0A.exe\r\n\r\n"
           + base64.encodebytes(PE).replace(b"\n", b"\r\n") + b"--b--\r\n")
    running = filter_server()
    with socket.create_connection(("127.0.0.1", running.port), timeout=20) as conn:
        buffer = bytearray()
        assert _reply(conn, buffer)[0].startswith(b"220 ")
        for command, code in ((b"EHLO client.test", b"250"),
                              (b"MAIL FROM:<sotc@binhthuan.gov.vn>", b"250"),
                              (b"RCPT TO:<a@b.vn>", b"250"), (b"DATA", b"354")):
            conn.sendall(command + b"\r\n")
            assert _reply(conn, buffer)[-1][:3] == code
        conn.sendall(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        [refusal] = _reply(conn, buffer)
        conn.sendall(b"NOOP\r\n")
        noop = _reply(conn, buffer)
    assert refusal.startswith(b"550 5.7.1 ") and b"x  250 2.0.0" in refusal, refusal
    assert len(refusal) + 2 <= 512  # RFC 5321 4.5.3.1.5, CRLF included
    assert noop == [b"250 2.0.0 Xong / OK"], noop  # not the forged line, left unread
    next_hop.assert_empty()
