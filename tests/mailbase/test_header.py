"""The one header splitter: fields, body, and every place the block reads two ways."""

from __future__ import annotations

import pytest

from mailbase import HeaderBlock, HeaderDefectKind, header_bytes, read_header


def test_fields_keep_their_bytes_and_the_body_starts_after_the_empty_line() -> None:
    raw = b"From: a@b.vn\r\nSubject: one\r\n\ttwo\r\nX-Old : kept\r\n\r\nbody\r\n"
    block = read_header(raw)
    assert [f.raw for f in block.fields] == [
        b"From: a@b.vn", b"Subject: one\r\n\ttwo", b"X-Old : kept"]
    assert block.fields[1].unfolded == b" one\ttwo"
    assert block.body(raw) == b"body\r\n"
    assert block.raw == header_bytes(raw) == raw[: raw.index(b"\r\n\r\n")]


@pytest.mark.parametrize(("raw", "body"), [
    (b"\r\nonly body", b"only body"),
    (b"\nonly body", b"only body"),
    (b"A: 1\nB: 2\n", b""),
    (b"A: 1\r\nB: 2", b""),
    (b"A: 1\n\r\nbody", b"body"),
    (b"A: 1\r\n\nbody", b"body"),
])
def test_where_the_body_starts(raw: bytes, body: bytes) -> None:
    assert read_header(raw).body(raw) == body


def test_a_block_from_another_message_is_refused() -> None:
    block = read_header(b"From: a@b.vn\r\n\r\nbody")
    with pytest.raises(ValueError, match="not read from these bytes"):
        block.body(b"From: c@d.vn\r\n\r\nbody")


@pytest.mark.parametrize(("raw", "kind", "line", "kept"), [
    (b" folded: first\r\nFrom: a@b.vn\r\n\r\n", HeaderDefectKind.ORPHAN_CONTINUATION, 1,
     [b"From"]),
    (b"From: a@b.vn\r\nno colon here\r\nTo: c@d.vn\r\n\r\n", HeaderDefectKind.STRAY_LINE, 2,
     [b"From", b"To"]),
    (b"From: a@b.vn\r\nSubject : x\r\n\r\n", HeaderDefectKind.SPACE_BEFORE_COLON, 2,
     [b"From", b"Subject"]),
    (b"To: c@d.vn\r\nFrom: a@b.vn\0@evil.example\r\n\r\n", HeaderDefectKind.NUL, 2,
     [b"To", b"From"]),
    (b"From: a@b.vn\rFrom: e@evil.example\r\n\r\n", HeaderDefectKind.BARE_CR, 1, [b"From"]),
])
def test_each_second_reading_is_a_named_defect(
    raw: bytes, kind: HeaderDefectKind, line: int, kept: list[bytes]
) -> None:
    block = read_header(raw)
    assert [(d.kind, d.line) for d in block.defects] == [(kind, line)]
    assert [f.name for f in block.fields] == kept
    offset = block.defects[0].offset
    assert offset == 0 or block.raw[offset - 1: offset] == b"\n"  # where its line starts


def test_defect_text_names_the_line() -> None:
    block = read_header(b"From: a@b.vn\r\nX: 1\r\n folded\r\nnot a field\r\n\r\n")
    assert [str(d) for d in block.defects] == ["line 4 is not a header field"]


def test_bare_lf_is_a_line_end_not_a_defect() -> None:
    raw = b"From: a@b.vn\nSubject: one\n two\n\nbody\n"
    block = read_header(raw)
    assert block.defects == ()
    assert block.fields[1].value == b" one\n two"
    assert block.body(raw) == b"body\n"


@pytest.mark.parametrize(("value", "text"), [
    (b" Hello\r\n world ", "Hello world"),
    (b" =?utf-8?q?Xin_ch=C3=A0o?=\r\n =?utf-8?q?_b=E1=BA=A1n?=", "Xin chào bạn"),
    # one character split over two encoded words of one charset survives
    (b" =?utf-8?b?4bq=?= =?utf-8?b?oQ==?=", "ạ"),
    (" Công văn =?utf-8?q?s=E1=BB=91?= 12".encode(), "Công văn số 12"),
    (b" caf\xe9", "caf\ufffd"),
    (b" =?bogus?q?x?=", "=?bogus?q?x?="),
    # a charset name that is not ASCII is kept as written, never an exception
    (b" =?\x80tf-8?q?x?= M\xe1\xba\xacT", "=?\ufffdtf-8?q?x?= M\u1eacT"),
])
def test_text_is_decoded_once_here(value: bytes, text: str) -> None:
    field = read_header(b"Subject:" + value + b"\r\n\r\n").fields[0]
    assert field.text == text
    assert field.is_utf8 is (b"\xe9" not in value and b"\x80" not in value)


def test_a_block_not_read_from_bytes_fits_only_the_empty_message() -> None:
    made_up = HeaderBlock(())
    assert made_up.body(b"") == b""
    with pytest.raises(ValueError, match="not read from these bytes"):
        made_up.body(b"From: a@b.vn\r\n\r\nbody")
