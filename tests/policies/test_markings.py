"""Security markings (classified-marking, marking-not-checkable): where MẬT, TỐI MẬT
and TUYỆT MẬT are found and where they are not, the defaults by direction, and the
service holding a marked message with a notice to its sender."""

from __future__ import annotations

import io
import unicodedata
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from audit import AuditLog, Filters
from policies import Action, PoliciesConfig, decide
from policies.markings import (
    DOCUMENT_CHARS,
    DOCX,
    PDF,
    body_text,
    document_text,
    subject_marking,
    text_marking,
)
from support.office import docx_with, need_libreoffice, text_pdf, to_pdf


@pytest.mark.parametrize(("subject", "degree"), [
    ("MẬT - Báo cáo tình hình an ninh", "MẬT"),
    ("MẬT: Kế hoạch", "MẬT"),
    ("TỐI MẬT | Đề án", "TỐI MẬT"),
    ("TUYỆT  MẬT. Phương án", "TUYỆT MẬT"),
    ("  [MẬT] Báo cáo", "MẬT"),
    ("MẬT", "MẬT"),
    (unicodedata.normalize("NFD", "TỐI MẬT - Đề án"), "TỐI MẬT"),  # decomposed marks
    ("MẬT KHẨU: đổi mật khẩu hộp thư", None),
    ("MẬT KHẨU", None),
    ("Mật - Báo cáo", None),  # not in capitals
    ("MAT - Bao cao", None),  # without diacritics
    ("Báo cáo MẬT - tháng 11", None),  # not the first word
    ("MẬTMÃ - x", None),
    ("Re: MẬT - Báo cáo", None),
])
def test_a_subject_is_marked_by_its_first_word_and_a_separator(subject: str,
                                                              degree: str | None) -> None:
    assert subject_marking(subject) == degree


@pytest.mark.parametrize(("text", "degree"), [
    ("UBND TỈNH LÀO CAI\nMẬT\nSố: 12/BC-UBND", "MẬT"),
    ("Kính gửi:\r\n   TUYỆT MẬT   \r\nnội dung", "TUYỆT MẬT"),
    ('"TỐI MẬT"\nĐề án', "TỐI MẬT"),
    ("MẬT KHẨU\nabc123", None),
    ("Đây là tài liệu MẬT của cơ quan", None),  # inside a sentence
    ("mật\nMật", None),
    ("TỐI\nMẬT KHẨU", None),  # a degree never spans two lines
])
def test_a_text_is_marked_by_a_line_of_its_own(text: str, degree: str | None) -> None:
    assert text_marking(text) == degree


def test_bodies_are_read_as_utf8_windows_1258_or_html() -> None:
    # Windows-1258 writes Ậ as Â and a combining dot below
    assert text_marking(body_text(b"B\xe1o c\xe1o\nM\xc2\xf2T\n", "text/plain")) == "MẬT"
    page = "<p>Kính gửi</p><div>T&#7888;I M&#7852;T</div><script>x='MẬT'</script>"
    assert text_marking(body_text(page.encode(), "text/html")) == "TỐI MẬT"
    assert text_marking(body_text(b"<p>MAT KHAU</p>", "text/html")) is None


def test_a_documents_text_is_read_to_its_first_2000_characters() -> None:
    assert text_marking(document_text(text_pdf(["UBND TỈNH", "MẬT", "Số: 1"]), PDF)
                        or "") == "MẬT"
    assert text_marking(document_text(docx_with(["Kính gửi", "TUYỆT MẬT"]), DOCX)
                        or "") == "TUYỆT MẬT"
    late = docx_with(["x" * 100] * (DOCUMENT_CHARS // 100 + 1) + ["MẬT"])
    text = document_text(late, DOCX)
    assert text is not None and len(text) == DOCUMENT_CHARS and text_marking(text) is None


def test_a_document_without_text_is_not_checkable() -> None:
    assert document_text(text_pdf([]), PDF) is None  # a scan: a page without text
    assert document_text(b"%PDF-1.7\n1 0 obj << /Type /Catalog", PDF) is None
    assert document_text(b"PK\x03\x04 not a zip", DOCX) is None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:  # a DTD could expand entities: refused
        archive.writestr("word/document.xml", '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY '
                         'a "MẬT">]><w:document xmlns:w="http://schemas.openxmlformats.org/'
                         'wordprocessingml/2006/main"><w:p><w:t>&a;</w:t></w:p></w:document>')
    assert document_text(out.getvalue(), DOCX) is None


def message(subject: str, body: str = "Kính gửi các đơn vị.",
            attachments: dict[str, bytes] | None = None, *,
            sender: str = "vanthu@stc.laocai.gov.vn") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, "ubnd@laocai.gov.vn"
    msg["Subject"] = subject
    msg.set_content(body)
    for name, data in (attachments or {}).items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
    return msg.as_bytes(policy=SMTP)


def findings(raw: bytes, direction: str = "outbound") -> dict[str, list[str]]:
    decision = decide(raw, PoliciesConfig().resolve(["stc"], direction))
    found: dict[str, list[str]] = {}
    for f in decision.findings:
        found.setdefault(f.violation.rule, []).append(f.violation.reason)
    return {rule: reasons for rule, reasons in found.items()
            if rule in ("classified-marking", "marking-not-checkable")}


def test_outbound_mail_marked_anywhere_is_quarantined() -> None:
    raw = message("MẬT - Báo cáo", "Kính gửi\nTỐI MẬT\n", {
        "bc.pdf": text_pdf(["TUYỆT MẬT", "Báo cáo"]), "da.docx": docx_with(["MẬT"])})
    assert findings(raw) == {"classified-marking": [
        "the subject is marked MẬT", "the text is marked TỐI MẬT",
        "bc.pdf is marked TUYỆT MẬT", "da.docx is marked MẬT"]}
    decision = decide(raw, PoliciesConfig().resolve(["stc"], "outbound"))
    assert decision.action is Action.QUARANTINE


def test_a_document_inside_an_archive_is_read_too() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("ho-so/to-trinh.docx", docx_with(["Số: 5/TTr", "MẬT"]))
    assert findings(message("Hồ sơ", attachments={"ho-so.zip": out.getvalue()})) == {
        "classified-marking": ["ho-so/to-trinh.docx is marked MẬT"]}


def test_mail_that_only_speaks_of_secrets_is_not_held() -> None:
    raw = message("MẬT KHẨU: cấp lại mật khẩu", "Mật khẩu mới: MẬT KHẨU\n",
                  {"hd.pdf": text_pdf(["Hướng dẫn đổi MẬT KHẨU"])})
    assert findings(raw) == {}
    assert decide(raw, PoliciesConfig().resolve(["stc"], "outbound")).action is Action.ACCEPT


def test_a_scanned_pdf_is_noted_as_not_checked_when_asked() -> None:
    raw = message("Công văn", attachments={"scan.pdf": text_pdf([])})
    assert findings(raw) == {}  # off by default: scans are most of what is sent
    config = PoliciesConfig.model_validate({"actions": {"marking-not-checkable": "tag"}})
    decision = decide(raw, config.resolve(["stc"], "outbound"))
    assert [(f.violation.rule, f.violation.reason, f.action) for f in decision.findings] == [
        ("marking-not-checkable", "scan.pdf has no text to check for a classified marking",
         Action.TAG)]
    assert decision.tag_header is not None and "marking-not-checkable" in decision.tag_header[1]


def test_inbound_mail_is_not_checked_unless_configured() -> None:
    raw = message("MẬT - Báo cáo")
    assert findings(raw, "inbound") == {}
    config = PoliciesConfig.model_validate({"overrides": [
        {"unit": "stc", "direction": "inbound", "actions": {"classified-marking": "reject"}}]})
    assert decide(raw, config.resolve(["stc"], "inbound")).action is Action.REJECT
    # the top-level table changing the rule's action changes it both ways
    config = PoliciesConfig.model_validate({"actions": {"classified-marking": "reject"}})
    assert decide(raw, config.resolve(["stc"], "inbound")).action is Action.REJECT
    assert decide(raw, config.resolve(["stc"], "outbound")).action is Action.REJECT


def test_the_service_holds_a_marked_message_and_tells_its_sender(filter_server,
                                                                next_hop) -> None:
    running = filter_server()  # [policies.quarantine] notify is off by default
    client = running.client()
    client.mail("vanthu@binhthuan.gov.vn")
    client.rcpt("ubnd@example.org")
    code, text = client.data(message("TỐI MẬT - Phương án", "Xem tệp.",
                                     sender="vanthu@binhthuan.gov.vn"))
    assert code == 250 and b"held in quarantine" in text
    notice = next_hop.get()
    assert notice.recipients == ["vanthu@binhthuan.gov.vn"]
    assert b"the subject is marked T" in notice.content
    next_hop.assert_empty()  # the held message itself is not relayed
    # the record notes the finding (the report counts it from there)
    with AuditLog.open_readonly(running.server.config.audit.path) as log:
        [record] = [r for r in log.records(Filters()) if r["kind"] == "message"]
    assert [(v["rule"], v["reason"]) for v in record["violations"]] == [
        ("classified-marking", "the subject is marked TỐI MẬT")]


@pytest.mark.interop
def test_a_pdf_libreoffice_made_is_read(tmp_path: Path) -> None:
    """An independent producer: LibreOffice prints a Word document with the marking to
    PDF (embedded subset fonts with their ToUnicode maps), and the marking is found."""
    need_libreoffice()
    source = tmp_path / "to-trinh.docx"
    source.write_bytes(docx_with(["ỦY BAN NHÂN DÂN TỈNH LÀO CAI", "TỐI MẬT",
                                  "Tờ trình về việc phê duyệt đề án"]))
    text = document_text(to_pdf(source, tmp_path).read_bytes(), PDF)
    assert text is not None and text_marking(text) == "TỐI MẬT"


def test_a_subject_that_does_not_decode_is_checked_as_written() -> None:
    raw = (b"From: vanthu@stc.laocai.gov.vn\r\nTo: ubnd@laocai.gov.vn\r\n"
           b"Subject: =?\x80tf-8?q?x?= B\xc3\xa1o c\xc3\xa1o\r\n\r\nM\xe1\xba\xacT\r\n")
    decision = decide(raw, PoliciesConfig().resolve(["stc"], "outbound"))
    assert [v.reason for v in decision.violations] == ["the text is marked MẬT"]
