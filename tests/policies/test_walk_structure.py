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
    # (the line break before a delimiter is the delimiter's; with none after it, the
    # last line break is the part's own)
    found = walk(MIXED + b"--b\r\n" + PROGRAM + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n")
    assert [(p.path, p.filenames, p.data) for p in found.parts] == [
        ("1", ("run.exe",), PE), ("2", (), b"hi\r\n")]
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


def test_a_delimiter_line_ended_by_a_bare_cr_is_walked_as_python_reads_it() -> None:
    # Python's parser ends a line at a bare CR: for it the part's header starts right
    # after "--b\r"; by RFC 2046 that line is no delimiter (text follows the boundary)
    raw = (MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r" + PROGRAM
           + b"--b--\r\n")
    found = walk(raw)
    assert ("2", ("run.exe",), PE) in [(p.path, p.filenames, p.data) for p in found.parts]
    assert [d.kind for _, d in found.defects] == ["ambiguous-mime"]


def test_parts_after_the_close_delimiter_are_inspected_and_reported() -> None:
    # RFC 2046 5.1.1 makes what follows the close-delimiter an epilogue, but a reader
    # that takes a later delimiter line shows the part after it
    raw = (MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n--b\r\n"
           + PROGRAM + b"--b--\r\n")
    found = walk(raw)
    assert [(p.path, p.filenames, p.data) for p in found.parts] == [
        ("1", (), b"hi"), ("2", ("run.exe",), PE)]
    assert ("1", Defect("malformed-mime", "parts follow the closing boundary")) \
        in found.defects


def test_a_media_type_without_a_subtype_is_reported_and_read_as_octets() -> None:
    found = walk(b'Content-Type: text/; name="run.exe"\r\n\r\nMZ')
    assert [(p.path, p.content_type, p.filenames, p.data) for p in found.parts] == [
        ("1", "application/octet-stream", ("run.exe",), b"MZ")]
    assert found.defects == [
        ("1", Defect("malformed-mime", "Content-Type 'text/' is not type/subtype"))]


def test_an_empty_uuencoded_body_is_an_empty_leaf() -> None:
    found = walk(b"Content-Type: application/octet-stream\r\n"
                 b"Content-Transfer-Encoding: x-uuencode\r\n\r\n")
    assert [(p.path, p.data) for p in found.parts] == [("1", b"")]


def test_a_uuencoded_block_in_text_without_its_end_line_is_reported() -> None:
    block = b"begin 644 run.exe\r\n#35H`\r\n`\r\n"
    clean = walk(b"Content-Type: text/plain\r\n\r\nhi\r\n" + block + b"end\r\n")
    assert [(p.path, p.filenames, p.data) for p in clean.parts][1:] == [
        ("1.uu1", ("run.exe",), b"MZ\0")]
    assert clean.defects == []
    cut = walk(b"Content-Type: text/plain\r\n\r\nhi\r\n" + block)
    assert [(p.path, p.filenames) for p in cut.parts][1:] == [("1.uu1", ("run.exe",))]
    assert cut.defects == [
        ("1", Defect("malformed-mime", "uuencoded block has no end line"))]


def test_an_attached_cms_file_is_a_leaf_of_its_own() -> None:
    # only application/pkcs7-mime is opened as S/MIME: a .p7m attached as octets is a
    # file the rules judge by its own name and type
    signed = cm.opaque_signed(cm.message(cm.attachment(PE, "run.exe"), head=""))
    der = base64.decodebytes(signed.split(b"\r\n\r\n", 1)[1].split(b"\r\n\r\n")[-1])
    raw = (MIXED + b"--b\r\n" + b'Content-Type: application/octet-stream; name="hoso.p7m"\r\n'
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(der)
           + b"--b--\r\n")
    assert [(p.path, p.filenames, p.data) for p in walk(raw).parts] == [
        ("1", ("hoso.p7m",), der)]


def test_header_text_that_is_not_utf8_is_reported() -> None:
    found = walk(b'Content-Type: application/pdf; name="c\xf4ng v\xe3n.pdf"\r\n\r\n%PDF')
    assert [p.filenames for p in found.parts] == [("c\xf4ng v\xe3n.pdf",)]
    assert found.defects == [("1", Defect(
        "malformed-mime", "header Content-Type has 8-bit bytes that are not UTF-8"))]


def test_every_kind_of_header_problem_is_reported_once() -> None:
    # a repeated problem, then one of another kind: both kinds are findings
    found = walk(b"x\r\ny\r\nContent-Type: text/plain\0; name=a.exe\r\n\r\nMZ")
    reasons = [d.reason for _, d in found.defects]
    assert reasons.count("a line in the header block is not a header field") == 1
    assert any(r.startswith("the header block reads two ways") and "NUL" in r
               for r in reasons), reasons


def test_encrypted_content_is_known_to_be_unseen() -> None:
    # RFC 1847 multipart/encrypted and RFC 8551 enveloped data: the walk cannot see in
    encrypted = (b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";'
                 b' boundary="b"\r\n\r\n--b\r\nContent-Type: application/pgp-encrypted\r\n\r\n'
                 b"Version: 1\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\n"
                 b"-----BEGIN PGP MESSAGE-----\r\n--b--\r\n")
    assert walk(encrypted).is_encrypted
    enveloped = (b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; "
                 b'name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
                 + base64.encodebytes(b"\x30\x82\x01\x00" + b"\0" * 64))
    assert walk(enveloped).is_encrypted
    assert not walk(MIXED + b"--b\r\n" + PROGRAM + b"--b--\r\n").is_encrypted


def test_each_part_span_is_exactly_the_part_without_the_line_break_before_the_delimiter() -> None:
    # RFC 2046 5.1.1: the CRLF before a delimiter line belongs to the delimiter; a span
    # is what stripping the part removes, so it must end where the part does
    first = b"Content-Type: text/plain\r\n\r\nhi"
    second = b'Content-Type: application/octet-stream; name="run.exe"\r\n\r\nMZ'
    inner = b'Content-Type: text/plain\r\n\r\ninner\r\n'
    raw = (MIXED + b"--b\r\n" + first + b"\r\n--b\r\n" + second + b"\r\n--b\r\n"
           b'Content-Type: multipart/mixed; boundary="c"\r\n\r\n--c\r\n' + inner
           + b"\r\n--c--\r\n--b--\r\n")
    spans = {p.path: raw[p.span[0] : p.span[1]] for p in walk(raw).parts if p.span}
    assert spans == {"1": first, "2": second, "3.1": inner}


def test_a_nested_boundary_that_begins_with_an_enclosing_one_is_reported() -> None:
    # RFC 2046 5.1.1: no boundary may occur in a part; one that begins with another
    # makes its lines the other's delimiters too (and the other way round)
    for outer, inner in ((b"b", b"b2"), (b"b2", b"b")):
        raw = (b'Content-Type: multipart/mixed; boundary="' + outer + b'"\r\n\r\n--' + outer
               + b'\r\nContent-Type: multipart/mixed; boundary="' + inner + b'"\r\n\r\n--'
               + inner + b"\r\nContent-Type: text/plain\r\n\r\nhi\r\n--" + inner + b"--\r\n--"
               + outer + b"--\r\n")
        reasons = [d.reason for _, d in walk(raw).defects]
        assert "a nested boundary repeats an enclosing one (RFC 2046 5.1.1)" in reasons


def test_a_delimiter_on_the_last_line_without_a_line_break_is_a_delimiter() -> None:
    raw = MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n" + PROGRAM + b"--b"
    found = walk(raw)
    assert [(p.path, p.filenames, p.data) for p in found.parts] == [
        ("1", (), b"hi"), ("2", ("run.exe",), PE), ("3", (), b"")]


def test_a_close_delimiter_with_text_after_it_reads_two_ways() -> None:
    # RFC 2046 5.1.1 allows only white space after the close-delimiter's "--"
    raw = MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--x\r\n"
    found = walk(raw)
    [(path, defect)] = [(p, d) for p, d in found.defects if d.kind == "ambiguous-mime"]
    assert path == "1"
    assert defect.reason.startswith("boundary lines read two ways: 1 delimiter lines by "
                                    "RFC 2046, 2 for a reader")


def test_of_three_content_types_the_first_and_the_last_are_walked() -> None:
    raw = (b"Content-Type: text/x-first\r\nContent-Type: text/x-middle\r\n"
           b"Content-Type: text/x-last\r\n\r\nhi")
    assert [p.content_type for p in walk(raw).parts] == ["text/x-first", "text/x-last"]


def test_a_media_type_with_two_slashes_is_reported_and_read_as_octets() -> None:
    # RFC 2045 5.1: type "/" subtype, both tokens ("/" is not a token character);
    # Python's email package reads such a type as text/plain: it is a finding
    found = walk(b'Content-Type: application/x/msdownload; name="run.exe"\r\n\r\nMZ')
    assert [(p.content_type, p.filenames) for p in found.parts] == [
        ("application/octet-stream", ("run.exe",))]
    assert found.defects == [("1", Defect(
        "malformed-mime", "Content-Type 'application/x/msdownload' is not type/subtype"))]
