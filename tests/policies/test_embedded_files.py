"""Files inside documents (PDF embedded files and attachment annotations, OLE objects in
OOXML and RTF) are judged as if attached directly, under the archive budget."""

from __future__ import annotations

import io
import struct
import zlib

from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.writer import PdfFileWriter

from policies import Action, Decision, PoliciesConfig, Policy, decide
from policies.archives import ArchiveLimits
from policies.parts import read_parts
from policies.pdf_files import may_embed

from .conftest import corpus_module as cm


def _policy(**actions: str) -> Policy:
    return PoliciesConfig.model_validate({"actions": actions}).resolve(["u"], "inbound")


def pdf_with_file(name: str, data: bytes, *, annotation: bool = False) -> bytes:
    """A one-page PDF carrying `data` as `name`: in the EmbeddedFiles name tree, or as a
    file attachment annotation on the page."""
    w = PdfFileWriter()
    page = generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject(
            [generic.NumberObject(n) for n in (0, 0, 595, 842)]),
    })
    w.insert_page(page)
    ef = embed.EmbeddedFileObject.from_file_data(w, data, mime_type="application/octet-stream")
    spec = embed.FileSpec(file_spec_string=name, file_name=name, embedded_data=ef)
    if annotation:
        annot = generic.DictionaryObject({
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/FileAttachment"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 10, 10)]),
            generic.NameObject("/FS"): w.add_object(spec.as_pdf_object()),
        })
        page_obj = w.find_page_for_modification(0)[0].get_object()
        page_obj[generic.NameObject("/Annots")] = generic.ArrayObject([w.add_object(annot)])
        w.update_container(page_obj)
    else:
        embed.embed_file(w, spec)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _decide(data: bytes, name: str, ctype: str = "application/octet-stream") -> Decision:
    return decide(cm.message(cm.attachment(data, name, ctype)), _policy())


def test_a_program_in_a_pdf_is_blocked_as_if_attached() -> None:
    decision = _decide(pdf_with_file("setup.exe", cm.EXE), "report.pdf", "application/pdf")
    assert decision.action is Action.REJECT
    found = {(v.rule, v.member) for v in decision.violations}
    assert ("blocked-type", "report.pdf/setup.exe") in found
    assert ("blocked-extension", "report.pdf/setup.exe") in found
    reason = next(v.reason for v in decision.violations if v.rule == "blocked-type")
    assert "report.pdf/setup.exe" in reason
    listed = [a.member for a in decision.attachments]
    assert "report.pdf/setup.exe" in listed


def test_a_program_in_a_file_attachment_annotation_is_blocked() -> None:
    decision = _decide(pdf_with_file("tool.scr", cm.EXE, annotation=True), "a.pdf")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "a.pdf/tool.scr") in {(v.rule, v.member) for v in decision.violations}


def test_a_pdf_a3_invoice_with_xml_stays_acceptable() -> None:
    xml = b'<?xml version="1.0"?><Invoice><ID>HD-0001</ID></Invoice>'
    decision = _decide(pdf_with_file("invoice.xml", xml), "hoadon.pdf", "application/pdf")
    # tagged for carrying a file (the default action of pdf-embedded-file), nothing more
    assert decision.action is Action.TAG
    assert [(f.violation.rule, f.action) for f in decision.findings] == [
        ("pdf-embedded-file", Action.TAG)]
    assert decision.tag_header == ("X-Congvu-Policy", "pdf-embedded-file")


def test_a_pdf_inside_a_zip_is_walked_with_the_archive_path() -> None:
    inner = pdf_with_file("run.js", cm.JS)
    decision = _decide(cm.zip_of({"docs/report.pdf": inner}), "a.zip", "application/zip")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "docs/report.pdf/run.js") in {
        (v.rule, v.member) for v in decision.violations}


def test_a_malformed_pdf_is_a_defined_decision() -> None:
    broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Names << /EmbeddedFiles 9 0 R >> /EF"
    decision = _decide(broken, "a.pdf", "application/pdf")
    assert decision.action is Action.QUARANTINE
    assert "unreadable-archive" in {v.rule for v in decision.violations}


def test_an_embedded_flate_bomb_stops_at_the_member_limit() -> None:
    bomb = pdf_with_file("big.bin", b"\0" * (4 * 1024 * 1024))
    limits = ArchiveLimits(max_member_read=1024 * 1024)
    found = read_parts(cm.message(cm.attachment(bomb, "a.pdf")), archive_limits=limits)
    pdf = next(p for p in found.parts if p.filename == "a.pdf")
    assert any(d.kind == "archive-limits" and "big.bin" in d.reason for d in pdf.defects)
    assert max(p.size for p in found.parts if p.member) <= 1024 * 1024


def test_nested_pdfs_stop_at_the_archive_depth() -> None:
    data = cm.EXE
    for _ in range(4):
        data = pdf_with_file("inner.pdf", data)
    found = read_parts(cm.message(cm.attachment(data, "a.pdf")),
                       archive_limits=ArchiveLimits(max_depth=2))
    assert any(d.kind == "archive-limits" for p in found.parts for d in p.defects)
    assert not any(p.detection.is_executable for p in found.parts)


def test_a_program_packaged_in_a_docx_names_its_path() -> None:
    docx = cm.docx_with_object(cm.ole_package("setup.exe", cm.EXE))
    decision = _decide(docx, "report.docx")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "report.docx/word/embeddings/oleObject1.bin/setup.exe") in {
        (v.rule, v.member) for v in decision.violations}


def test_a_truncated_ole_object_in_a_docx_is_still_inspected_as_bytes() -> None:
    truncated = cm.ole_package("setup.exe", cm.EXE)[:700]
    decision = _decide(cm.docx_with_object(truncated), "report.docx")
    members = [a.member for a in decision.attachments]
    assert "report.docx/word/embeddings/oleObject1.bin" in members


def test_a_broken_pdf_without_files_is_not_a_finding() -> None:
    # object streams make the walk try, but nothing shows that files are carried.
    decision = _decide(b"%PDF-1.7\n1 0 obj << /Type /ObjStm /N 1 >> garbage", "a.pdf")
    assert "unreadable-archive" not in {v.rule for v in decision.violations}


def test_a_cycle_in_the_name_tree_ends() -> None:
    body = (b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 3 0 R"
            b" >> >> endobj\n2 0 obj << /Type /Pages /Kids [2 0 R] /Count 1 >> endobj\n"
            b"3 0 obj << /Kids [3 0 R] >> endobj\n")
    xref = len(body)
    offsets = [body.index(f"{n} 0 obj".encode()) for n in (1, 2, 3)]
    table = b"xref\n0 4\n0000000000 65535 f \n" + b"".join(
        f"{o:010d} 00000 n \n".encode() for o in offsets)
    pdf = body + table + f"trailer << /Size 4 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    decision = _decide(pdf, "a.pdf")
    assert decision.action is not Action.REJECT
    assert not [a for a in decision.attachments if a.member]


def _lp(text: bytes) -> bytes:
    return struct.pack("<I", len(text) + 1) + text + b"\0"


def ole1(class_name: bytes, native: bytes) -> bytes:
    """An OLE1 embedded object (MS-OLEDS 2.2.4), as RTF's \\objdata carries it."""
    return (struct.pack("<II", 0x0501, 2) + _lp(class_name) + _lp(b"") + _lp(b"")
            + struct.pack("<I", len(native)) + native)


def package(label: str, data: bytes) -> bytes:
    path = b"C:\\tmp\\" + label.encode()
    return (struct.pack("<H", 2) + label.encode() + b"\0" + path + b"\0" + b"\0" * 8
            + path + b"\0" + struct.pack("<I", len(data)) + data)


def rtf_with(objdata: bytes, *, noise: bool = False) -> bytes:
    hexed = objdata.hex()
    if noise:  # what Word skips: white space, control words, nested groups
        hexed = "\n".join(hexed[i : i + 7] + ("{\\*\\x}" if i % 14 else "\\par ")
                          for i in range(0, len(hexed), 7))
    return (b"{\\rtf1\\ansi{\\object\\objemb{\\*\\objclass Package}{\\*\\objdata "
            + hexed.encode() + b"}}}")


def test_a_program_packaged_in_an_rtf_is_blocked() -> None:
    rtf = rtf_with(ole1(b"Package", package("setup.exe", cm.EXE)))
    decision = _decide(rtf, "letter.rtf", "application/rtf")
    assert decision.action is Action.REJECT
    assert ("blocked-type", "letter.rtf/object1/setup.exe") in {
        (v.rule, v.member) for v in decision.violations}


def test_rtf_objdata_hidden_by_groups_and_control_words_is_read() -> None:
    rtf = rtf_with(ole1(b"Package", package("a.js", cm.JS)), noise=True)
    decision = _decide(rtf, "letter.rtf")
    assert ("blocked-type", "letter.rtf/object1/a.js") in {
        (v.rule, v.member) for v in decision.violations}


def test_an_rtf_object_that_is_no_ole1_object_is_inspected_as_bytes() -> None:
    decision = _decide(rtf_with(cm.EXE), "letter.rtf")  # no OLE1 header: raw bytes
    assert ("blocked-type", "letter.rtf/object1") in {
        (v.rule, v.member) for v in decision.violations}


def test_a_truncated_rtf_object_is_a_defined_decision() -> None:
    rtf = rtf_with(ole1(b"Package", package("setup.exe", cm.EXE)))[:120]
    decision = _decide(rtf, "letter.rtf")
    # cut inside the OLE1 header: the object is the bytes that are left, listed as a
    # member and judged as such; too few to be the program, so nothing is found
    assert decision.action is Action.ACCEPT
    assert decision.findings == ()
    assert [(a.member, a.detected_type) for a in decision.attachments if a.member] == [
        ("letter.rtf/object1", "application/octet-stream")]


def test_an_rtf_object_larger_than_the_member_limit_is_not_read() -> None:
    rtf = rtf_with(b"\0" * 4096)
    found = read_parts(cm.message(cm.attachment(rtf, "a.rtf")),
                       archive_limits=ArchiveLimits(max_member_read=1024))
    rtf_part = next(p for p in found.parts if p.filename == "a.rtf")
    assert any(d.kind == "archive-limits" for d in rtf_part.defects)


def test_a_file_specification_hidden_in_an_object_stream_is_looked_for() -> None:
    hidden = zlib.compress(b"6 0 << /Type /Filespec /F (a.exe) /EF << /F 7 0 R >> >>")
    pdf = (b"%PDF-1.7\n5 0 obj << /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode >>\n"
           b"stream\n" + hidden + b"\nendstream\nendobj\n")
    assert may_embed(pdf)
    plain = zlib.compress(b"6 0 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    assert not may_embed(pdf.replace(hidden, plain))
    assert not may_embed(cm.PDF)
