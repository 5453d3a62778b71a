"""The MIME walk against RFC 2045 and RFC 2046: every part a reader could show is a
leaf the rules see, however the structure is broken, and what is broken is reported."""

from __future__ import annotations

import base64

from policies.model import Defect
from policies.walk import walk

from .conftest import corpus_module as cm

PE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200
PROGRAM = (b'Content-Type: application/octet-stream; name="run.exe"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(PE))
MIXED = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'


def _leaves(raw: bytes) -> list[tuple[str, str, tuple[str, ...], bytes]]:
    return [(p.path, p.content_type, p.filenames, p.data) for p in walk(raw).parts]


def test_a_multipart_without_its_close_delimiter_is_walked_to_the_end_and_reported() -> None:
    # RFC 2046 5.1.1: the body ends with the close-delimiter; without it the last part
    # runs to the end of the body, as every reader shows it
    found = walk(MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n" + PROGRAM)
    assert [(p.path, p.filenames, p.data) for p in found.parts] == [
        ("1", (), b"hi"), ("2", ("run.exe",), PE)]
    assert found.defects == [
        ("1", Defect("malformed-mime", "the closing boundary is missing"))]


def test_a_multipart_whose_every_delimiter_has_trailing_text_is_walked_both_ways() -> None:
    # no line is a delimiter by RFC 2046 (one leaf: the whole body); Dovecot takes each
    # of them (the program is a part of its own): both readings are inspected
    body = (b"--b x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b x\r\n" + PROGRAM
            + b"--b-- x\r\n")
    found = walk(MIXED + body)
    assert [(p.path, p.content_type, p.filenames, p.data) for p in found.parts] == [
        ("1", "application/octet-stream", (), body),
        ("1", "text/plain", (), b"hi"),
        ("2", "application/octet-stream", ("run.exe",), PE)]
    [(path, defect)] = found.defects
    assert path == "1" and defect.kind == "ambiguous-mime"
    assert defect.reason.startswith("boundary lines read two ways: 0 delimiter lines by "
                                    "RFC 2046, 3 for a reader")


def test_a_content_type_that_does_not_parse_is_reported_and_its_name_still_read() -> None:
    found = walk(b'Content-Type: application/octet-stream; name="run.exe\r\n\r\nMZ')
    assert [(p.path, p.filenames, p.data) for p in found.parts] == [
        ("1", ("run.exe",), b"MZ")]
    assert found.defects == [("1", Defect(
        "malformed-mime", "Content-Type: unterminated quoted value of parameter 'name'"))]


def _with_tnef(tnef: bytes) -> bytes:
    return (MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
            b'Content-Type: application/ms-tnef; name="winmail.dat"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(tnef)
            + b"--b--\r\n")


def test_the_files_in_a_tnef_attachment_are_leaves_numbered_below_it() -> None:
    found = walk(_with_tnef(cm.tnef_of("hoadon.pdf", PE)))
    leaves = [(p.path, p.filenames, p.data, p.is_attachment) for p in found.parts]
    assert leaves[0] == ("1", (), b"hi", False)
    assert leaves[1][:2] == ("2", ("winmail.dat",))
    assert leaves[2:] == [("2.tnef1", ("hoadon.pdf",), PE, True)]
    assert found.defects == []


def test_a_truncated_tnef_attachment_is_reported_and_the_names_in_it_checked() -> None:
    # the file's data runs past the end: its name is still a leaf the rules check, and
    # the broken structure is a finding (malformed-mime) of its own
    found = walk(_with_tnef(cm.tnef_of("hoadon.pdf", PE)[:-20]))
    assert [p.filenames for p in found.parts if p.path == "2.tnef1"] == [("hoadon.pdf",)]
    assert found.defects == [
        ("2", Defect("malformed-mime", "TNEF attribute runs past the end"))]


def test_a_part_is_an_attachment_by_its_disposition_or_by_a_name() -> None:
    # RFC 2183: Content-Disposition: attachment, named or not; a part with a name given
    # any other way (RFC 2045 name=) is a file too, whatever its disposition says
    raw = (MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
           b"--b\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment\r\n\r\nMZ\r\n"
           b'--b\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
           b"Content-Disposition: inline\r\n\r\n%PDF\r\n"
           b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\n\r\nyo\r\n"
           b"--b--\r\n")
    assert [(p.path, p.filenames, p.is_attachment) for p in walk(raw).parts] == [
        ("1", (), False), ("2", (), True), ("3", ("a.pdf",), True), ("4", (), False)]


def test_a_content_disposition_that_does_not_parse_is_reported_and_still_read() -> None:
    found = walk(b'Content-Disposition: attachment; filename="run.exe\r\n\r\nMZ')
    assert [(p.filenames, p.is_attachment) for p in found.parts] == [(("run.exe",), True)]
    assert found.defects == [("1", Defect(
        "malformed-mime",
        "Content-Disposition: unterminated quoted value of parameter 'filename'"))]


def test_the_entity_inside_an_opaque_smime_signature_is_walked() -> None:
    # RFC 8551 3.5.2: application/pkcs7-mime; smime-type=signed-data carries the signed
    # entity inside the CMS SignedData (RFC 5652 5.2): its parts are read there
    inner = cm.message(cm.attachment(PE, "run.exe"), head="")
    found = walk(cm.opaque_signed(inner))
    assert [(p.path, p.filenames, p.data) for p in found.parts][1:] == [
        ("2", ("run.exe",), PE)]
    assert not found.is_encrypted
    assert found.defects == []


def test_signed_data_that_is_not_cms_is_reported_and_kept_as_a_leaf() -> None:
    body = base64.encodebytes(b"\x30\x03\x02\x01\x01")
    found = walk(b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
                 b"Content-Transfer-Encoding: base64\r\n\r\n" + body)
    assert [(p.path, p.content_type, p.data) for p in found.parts] == [
        ("1", "application/pkcs7-mime", b"\x30\x03\x02\x01\x01")]
    assert found.defects == [
        ("1", Defect("malformed-mime", "S/MIME signed data cannot be read"))]
