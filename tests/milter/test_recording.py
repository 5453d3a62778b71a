"""The record's header fields: the first field of each recorded name, as the header block
the door read gives it (``HeaderBlock.first``), in one pass over the block."""

from __future__ import annotations

import base64

from mailbase import read_header
from milter.recording import RECORDED_HEADERS, header_fields

RAW = (b"Received: from a by b\r\n"
       b"SUBJECT: =?utf-8?b?Q8O0bmcgdsSDbg==?=\r\n"
       b"from: Van thu <vanthu@stc.example.gov.vn>\r\n"
       b"Subject: the second subject\r\n"
       b"To: a@ubnd.example.gov.vn\r\n"
       b"From: Not the first <x@example.org>\r\n"
       b"Date: Tue, 1 Dec 2026 10:00:00 +0700\r\n"
       b"Message-Id: <m@stc.example.gov.vn>\r\n"
       b"X-Cc: not a Cc\r\n"
       b"To: b@ubnd.example.gov.vn\r\n"
       b"\r\nbody\r\n")


def test_each_recorded_field_is_the_first_of_its_name_whatever_its_case() -> None:
    door = read_header(RAW)
    fields = header_fields(door)
    assert list(fields) == list(RECORDED_HEADERS)
    for name in RECORDED_HEADERS:
        first = door.first(name.encode("ascii"))
        assert fields[name] == (None if first is None else first.text), name
    assert (fields["From"], fields["Subject"], fields["To"], fields["Cc"]) == (
        "Van thu <vanthu@stc.example.gov.vn>", "Công văn", "a@ubnd.example.gov.vn", None)
    assert fields.raw == {}


def test_a_field_that_is_not_utf8_keeps_its_bytes_the_first_one_only() -> None:
    door = read_header(b"Subject: Cong v\xe3n\r\nSubject: ok\r\nFrom: a@b.vn\r\n\r\n")
    fields = header_fields(door)
    assert fields["Subject"] == "Cong v\ufffdn"
    assert fields.raw == {"Subject": base64.b64encode(b"Cong v\xe3n").decode("ascii")}
