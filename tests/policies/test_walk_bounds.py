"""The MIME walk's bounds: how deep it goes, how much it reads, and that each bound it
reaches is one finding, not one per entity or reading after it."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from policies.model import Defect
from policies.walk import WalkLimits, walk

TOO_COSTLY = ("the MIME structure is too costly to inspect (repeated readings of the same "
              "bytes); the rest was not inspected")


def _nested(levels: int) -> bytes:
    """A text leaf inside ``levels`` multiparts, one inside the other."""
    body = b"Content-Type: text/plain\r\n\r\nhi"
    for k in range(levels):
        body = (b'Content-Type: multipart/mixed; boundary="b%02d"\r\n\r\n--b%02d\r\n' % (k, k)
                + body + b"\r\n--b%02d--\r\n" % k)
    return body


def test_twenty_levels_of_nesting_are_read_and_the_twenty_first_is_not() -> None:
    found = walk(_nested(20))
    assert [(p.path, p.data) for p in found.parts] == [(".".join(["1"] * 20), b"hi")]
    assert found.defects == []
    deeper = walk(_nested(21))
    assert deeper.parts == []
    path = ".".join(["1"] * 21)
    assert deeper.defects == [(path, Defect(
        "malformed-mime", f"MIME nesting deeper than 20 levels at part {path}; the rest was "
        "not inspected"))]


def test_the_depth_limit_counts_levels_below_the_message() -> None:
    assert [p.path for p in walk(_nested(3), WalkLimits(max_depth=3)).parts] == ["1.1.1"]
    assert [d.reason for _, d in walk(_nested(4), WalkLimits(max_depth=3)).defects] == [
        "MIME nesting deeper than 3 levels at part 1.1.1.1; the rest was not inspected"]


def _costly_multipart() -> bytes:
    """A base64 multipart with 50 boundary readings: too costly to read every way."""
    params = "".join(f'; boundary="b{k:02d}"' for k in range(50))
    return (f"Content-Type: multipart/mixed{params}\r\nContent-Transfer-Encoding: base64"
            "\r\n\r\n").encode() + base64.encodebytes(b"\0" * 10_000)


def test_a_message_too_costly_to_inspect_is_one_finding() -> None:
    # the bound is spent in the first part: the parts after it are not read, and say
    # nothing more
    text = b"--m\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    raw = (b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\n'
           + _costly_multipart() + b"\r\n" + text * 3 + b"--m--\r\n")
    found = walk(raw)
    # what the first part's readings gave before the bound; parts 2 to 4 are not read
    assert {p.path for p in found.parts} == {"1.1"}
    assert [(path, d.reason) for path, d in found.defects if d.reason == TOO_COSTLY] == [
        ("1", TOO_COSTLY)]


def test_scanning_the_decoded_body_of_an_encoded_multipart_is_work_too() -> None:
    # Each boundary reading of a base64 multipart scans its body (B = 13,512 bytes) and
    # the body decoded (D = 10,000) to see whether decoding moves a delimiter, and each
    # reading after the first scans the body for its delimiters: 50 readings make
    # 50 * (B + D) + 49 * B, with the message 1.85 MB, over the bound of 16 times the
    # message plus 1 MB (1.28 MB)
    raw = _costly_multipart()
    assert 1_270_000 < 16 * len(raw) + (1 << 20) < 1_300_000
    assert TOO_COSTLY in [d.reason for _, d in walk(raw).defects]


def test_the_work_bound_allows_exactly_16_times_the_message_plus_1_mb() -> None:
    # 17 boundary readings of a body in which none occurs: the message is read once and
    # its body 16 times more, R + 16 * B with B = R - H (H: the header block); that is
    # the bound, 16 * R + 1 MB, when R = 16 * H + 1 MB. One byte more is over it.
    params = "".join(f'; boundary="b{k:02d}"' for k in range(17))
    header = f"Content-Type: multipart/mixed{params}\r\n\r\n".encode()
    size = 16 * len(header) + (1 << 20)
    at_bound = walk(header + b"x" * (size - len(header)))
    assert TOO_COSTLY not in [d.reason for _, d in at_bound.defects]
    assert len(at_bound.parts) == 17
    over = walk(header + b"x" * (size - len(header) + 1))
    assert TOO_COSTLY in [d.reason for _, d in over.defects]
    assert at_bound.work_left == 0 and over.work_left == -1


def test_the_walk_says_how_near_its_bounds_it_came() -> None:
    # (the archive reuses a walk only with room to spare: milter/stages/archive.py)
    single = b"Subject: a\r\n\r\nhi"
    found = walk(single)
    assert (found.depth, found.work_left) == (0, 16 * len(single) + (1 << 20) - len(single))
    nested = _nested(3)
    deep = walk(nested)
    # the message, then each multipart's part: three levels below it
    assert deep.depth == 3
    # each entity read once: the message and the three below it
    assert deep.work_left == 16 * len(nested) + (1 << 20) - len(nested) - sum(
        len(entity) for entity in _entities(nested))
    assert len(_entities(nested)) == 3
    # an entity past the depth bound is not read: the depth is the deepest read
    assert walk(_nested(21)).depth == 20


def _entities(nested: bytes) -> list[bytes]:
    """The entities below the message of :func:`_nested`'s, as the walk reads them."""
    found = []
    body = nested
    while body.startswith(b"Content-Type: multipart"):
        marker = body[body.index(b'boundary="') + 10:].split(b'"', 1)[0]
        start = body.index(b"--" + marker + b"\r\n") + len(marker) + 4
        body = body[start:body.rindex(b"\r\n--" + marker + b"--")]
        found.append(body)
    return found


def test_a_header_that_ends_early_counts_its_second_reading_as_work() -> None:
    # A line that is no field ends the header block for Python: the entity is walked
    # again from that line (S bytes in) under the fields before it. Nine boundary
    # readings scan a body eight times more: R + 8 * (R - H) for the whole header block
    # (H bytes), then R - S for the second reading and 8 * (R - S) for its scans. That
    # is the bound, 16 * R + 1 MB, when 2 * R = 1 MB + 8 * H + 9 * S. One byte more is
    # over it; counting the second reading as anything but R - S moves the bound.
    params = "".join(f'; boundary="b{k:02d}"' for k in range(9))
    fields = f"MIME-Version: 1.0\r\nContent-Type: multipart/mixed{params}\r\n".encode()
    header = fields + b"no field here\r\n\r\n"
    s, h = len(fields), len(header)
    size = ((1 << 20) + 8 * h + 9 * s) // 2
    assert 2 * size == (1 << 20) + 8 * h + 9 * s
    at_bound = walk(header + b"x" * (size - h))
    assert TOO_COSTLY not in [d.reason for _, d in at_bound.defects]
    assert len(at_bound.parts) == 18  # nine readings of each header reading
    over = walk(header + b"x" * (size - h + 1))
    assert TOO_COSTLY in [d.reason for _, d in over.defects]


def _text_parts(count: int) -> bytes:
    return (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" * count + b"--b--\r\n")


def test_the_part_limit_counts_every_entity_and_is_reported_once() -> None:
    # the multipart and its two parts: three entities, the limit
    exact = walk(_text_parts(2), WalkLimits(max_parts=3))
    assert [p.path for p in exact.parts] == ["1", "2"]
    assert exact.defects == []
    over = walk(_text_parts(5), WalkLimits(max_parts=3))
    assert [p.path for p in over.parts] == ["1", "2"]
    assert over.defects == [("3", Defect(
        "malformed-mime", "more than 3 MIME parts; the rest was not inspected"))]


def test_uuencoded_files_past_the_part_limit_are_reported_not_dropped() -> None:
    raw = (b"Content-Type: text/plain\r\n\r\nhi\r\nbegin 644 a.txt\r\n#86)C\r\n`\r\nend\r\n"
           b"begin 644 run.exe\r\n#35H`\r\n`\r\nend\r\n")
    read = walk(raw, WalkLimits(max_parts=3))
    assert [(p.path, p.filenames) for p in read.parts] == [
        ("1", ()), ("1.uu1", ("a.txt",)), ("1.uu2", ("run.exe",))]
    assert read.defects == []
    cut = walk(raw, WalkLimits(max_parts=2))
    assert [p.path for p in cut.parts] == ["1", "1.uu1"]
    assert cut.defects == [("1", Defect(
        "malformed-mime", "more than 2 MIME parts; the rest was not inspected"))]
    assert [p.path for p in walk(raw, WalkLimits(max_parts=1)).parts] == ["1"]


def test_an_attached_message_is_one_level_of_nesting() -> None:
    # the multipart (level 0), its message/rfc822 part (1), the message inside (2)
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nhi\r\n--b--\r\n")
    found = walk(raw, WalkLimits(max_depth=2))
    assert [(p.path, p.data) for p in found.parts] == [("1.1", b"hi")]
    assert found.defects == [] and found.depth == 2
    assert [d.reason for _, d in walk(raw, WalkLimits(max_depth=1)).defects] == [
        "MIME nesting deeper than 1 levels at part 1; the rest was not inspected"]


def test_the_limits_cannot_be_changed_once_made() -> None:
    limits = WalkLimits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_parts = 10**9  # type: ignore[misc]


@pytest.mark.parametrize("count", [4, 5, 10])
def test_a_flood_of_delimiter_lines_is_one_reading_cut_at_the_part_limit(count: int) -> None:
    # plain delimiters past the part limit: every reader takes the same lines, so the
    # cut is no disagreement between readers; the part limit is the one finding
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" * count + b"--b--\r\n")
    found = walk(raw, WalkLimits(max_parts=3))
    assert [(p.path, p.data) for p in found.parts] == [("1", b"hi"), ("2", b"hi")]
    assert found.defects == [("3", Defect(
        "malformed-mime", "more than 3 MIME parts; the rest was not inspected"))]


def test_a_missing_close_delimiter_is_reported_beside_the_part_limit() -> None:
    # three parts and no close-delimiter, under a limit of three entities: the third
    # part is not read, and the missing close-delimiter is a finding of its own
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" * 3)
    found = walk(raw, WalkLimits(max_parts=3))
    assert [p.path for p in found.parts] == ["1", "2"]
    assert found.defects == [
        ("1", Defect("malformed-mime", "the closing boundary is missing")),
        ("3", Defect("malformed-mime", "more than 3 MIME parts; the rest was not inspected"))]


def test_the_delimiter_scan_stops_one_line_past_the_part_limit() -> None:
    # a flood of delimiter lines is not read whole: the scan stops at max_parts + 1
    # lines, enough to know the limit is passed, and looks for the close-delimiter only
    # among them. Four parts without one, under a limit of three entities: the scan is
    # at its bound, so the part limit is the one finding (three parts: see above)
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n" * 4)
    found = walk(raw, WalkLimits(max_parts=3))
    assert [p.path for p in found.parts] == ["1", "2"]
    assert found.defects == [("3", Defect(
        "malformed-mime", "more than 3 MIME parts; the rest was not inspected"))]


def test_a_text_part_past_the_part_limit_with_nothing_encoded_in_it_says_nothing() -> None:
    # the first part's two uuencoded files fill the limit of three; the second part, a
    # MIME entity within it (the message and two parts), has none, so nothing is cut
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain\r\n\r\nbegin 644 a\r\n#86)C\r\n`\r\nend\r\n"
           b"begin 644 b\r\n#86)C\r\n`\r\nend\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
           b"hi\r\n--b--\r\n")
    found = walk(raw, WalkLimits(max_parts=3))
    assert [p.path for p in found.parts] == ["1", "1.uu1", "1.uu2", "2"]
    assert found.defects == []
