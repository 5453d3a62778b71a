"""The record's header fields: the first field of each recorded name, as the header block
the door read gives it (``HeaderBlock.first``), in one pass over the block; and its
processing time, never negative."""

from __future__ import annotations

import base64
import time

from mailbase import NO_DOMAINS, read_header
from milter.context import Envelope, MessageContext
from milter.direction import Direction, Role
from milter.pipeline import Outcome
from milter.recording import RECORDED_HEADERS, build_record, header_fields

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


def _context(received_at: float) -> MessageContext:
    ctx = MessageContext.received(
        RAW, listener="submission", role=Role.OUTBOUND, direction=Direction.OUTBOUND,
        provincial=NO_DOMAINS,
        envelope=Envelope("vanthu@stc.example.gov.vn", (), ("a@ubnd.example.gov.vn",)))
    ctx.received_at = received_at
    return ctx


def test_a_wall_clock_stepped_back_since_the_message_came_records_no_negative_time() -> None:
    # received "a minute from now": the clock went back after DATA; the record is built
    # (it refuses a negative time, which had tempfailed the message unrecorded)
    record = build_record(_context(time.time() + 60), Outcome.CONTINUE)
    assert record.processing_ms == 0.0
    assert build_record(_context(time.time() - 2), Outcome.CONTINUE).processing_ms >= 2000
