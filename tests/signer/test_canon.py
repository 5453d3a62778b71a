"""Canonicalization over bytes, checked against dkimpy's and on awkward input."""

from __future__ import annotations

import dkim
import pytest
from dkim.canonicalization import Relaxed, Simple
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbase import HeaderField, read_header
from signer import canon
from signer.canon import Canon

AWKWARD_BODIES = {
    "plain": b"Hello\r\nworld\r\n",
    "trailing whitespace": b"Hello  \t \r\nworld\t\r\n",
    "inner whitespace runs": b"a  b\t\tc \t d\r\n",
    "empty": b"",
    "only CRLF": b"\r\n",
    "only blank lines": b"\r\n\r\n\r\n",
    "whitespace-only lines at the end": b"text\r\n  \r\n\t\r\n",
    "trailing blank lines": b"text\r\n\r\n\r\n\r\n",
    "no final CRLF": b"last line",
    "8-bit": "Kính gửi  Sở Tài chính\u00a0 \r\n".encode(),
    "latin-1 bytes": b"caf\xe9 \xff\xfe  x\r\n",
    "leading whitespace kept as one": b"   indented\r\n",
    "blank lines inside": b"a\r\n\r\n\r\nb\r\n",
    "long line": b"x" * 5000 + b"  \r\n",
}

BARE_LF_BODIES = {
    "bare LF": b"Hello  \nworld\n\n",
    "mixed": b"a\r\nb\nc  \r\n\n",
}


def _dkimpy_body(body: bytes, algorithm: type[Relaxed] | type[Simple]) -> bytes:
    # dkimpy canonicalizes the body as rfc822_parse leaves it (CRLF-joined lines)
    _, parsed = dkim.rfc822_parse(b"A: b\r\n\r\n" + body)
    return bytes(algorithm.canonicalize_body(parsed))


@pytest.mark.parametrize("body", AWKWARD_BODIES.values(), ids=AWKWARD_BODIES.keys())
def test_relaxed_body_matches_dkimpy(body: bytes) -> None:
    assert canon.body(body, Canon.RELAXED) == _dkimpy_body(body, Relaxed)


@pytest.mark.parametrize("body", AWKWARD_BODIES.values(), ids=AWKWARD_BODIES.keys())
def test_simple_body_matches_dkimpy(body: bytes) -> None:
    assert canon.body(body, Canon.SIMPLE) == _dkimpy_body(body, Simple)


@pytest.mark.parametrize("body", BARE_LF_BODIES.values(), ids=BARE_LF_BODIES.keys())
def test_bare_lf_reads_as_crlf_like_dkimpy(body: bytes) -> None:
    for ours, theirs in ((Canon.RELAXED, Relaxed), (Canon.SIMPLE, Simple)):
        assert canon.body(body, ours) == _dkimpy_body(body, theirs)
        assert canon.body(body, ours) == canon.body(body.replace(b"\r\n", b"\n")
                                                    .replace(b"\n", b"\r\n"), ours)


def test_exact_canonical_forms() -> None:
    assert canon.body(b"", Canon.RELAXED) == b""
    assert canon.body(b"", Canon.SIMPLE) == b"\r\n"
    assert canon.body(b" C \r\nD \t E\r\n\r\n\r\n", Canon.RELAXED) == b" C\r\nD E\r\n"
    assert canon.body(b" C \r\nD \t E\r\n\r\n\r\n", Canon.SIMPLE) == b" C \r\nD \t E\r\n"


def test_last_line_without_crlf_is_read_as_smtp_will_end_it() -> None:
    # The SMTP client must end DATA with CRLF, so trailing WSP on the last line is
    # at the end of a line when a verifier sees it (RFC 6376 3.4.4 a). dkimpy keeps it.
    assert canon.body(b"text  ", Canon.RELAXED) == b"text\r\n"
    assert canon.body(b"text  ", Canon.RELAXED) == canon.body(b"text  \r\n", Canon.RELAXED)
    assert canon.body(b"text  ", Canon.SIMPLE) == b"text  \r\n"


def test_stray_cr_before_the_final_crlfs_is_content() -> None:
    assert canon.body(b"a\r\r\n\r\n", Canon.SIMPLE) == b"a\r\r\n"


def test_relaxed_headers_match_dkimpy() -> None:
    raw = (b"Subject:  Hello \t  world  \r\n\t again\t\r\n"
           b"FROM :a@b.vn\r\n"
           b"X-Empty:\r\n"
           b"To: =?utf-8?q?T=C3=A0i?= <t@x.vn>\r\n\r\nbody")
    header = read_header(raw)
    assert header.body(raw) == b"body"
    assert [f.name for f in header.fields] == [b"Subject", b"FROM", b"X-Empty", b"To"]
    ours = [canon.header(f, Canon.RELAXED) for f in header.fields]
    assert ours[0] == b"subject:Hello world again\r\n"
    assert ours[1] == b"from:a@b.vn\r\n"
    assert ours[2] == b"x-empty:\r\n"
    dk_headers, _ = dkim.rfc822_parse(raw.replace(b"FROM :", b"FROM:"))
    theirs = [name + b":" + value for name, value in Relaxed.canonicalize_headers(dk_headers)]
    assert ours == theirs


def test_simple_header_is_the_field_as_written() -> None:
    field = HeaderField(b"Subject", b"  Hi \r\n\tthere ")
    assert canon.header(field, Canon.SIMPLE) == b"Subject:  Hi \r\n\tthere \r\n"
    field = read_header(b"Subject \t:  Hi \r\n\r\n").fields[0]
    assert canon.header(field, Canon.SIMPLE) == b"Subject \t:  Hi \r\n"


def test_bare_lf_folding_reads_as_crlf_in_both_canonicalizations() -> None:
    lf, crlf = (read_header(b"Subject: one\n two\n\n").fields[0],
                read_header(b"Subject: one\r\n two\r\n\r\n").fields[0])
    for form in Canon:
        assert canon.header(lf, form) == canon.header(crlf, form)
    assert canon.header(lf, Canon.SIMPLE) == b"Subject: one\r\n two\r\n"


_line = st.lists(st.sampled_from([b"a", b"Z", b" ", b"\t", b"\xc3\xa9", b"\xff", b"x y"]),
                 max_size=12).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(_line, max_size=10), st.sampled_from([b"\r\n", b"\n"]))
def test_bodies_ending_in_a_line_break_agree_with_dkimpy(lines: list[bytes], eol: bytes) -> None:
    body = b"".join(line + eol for line in lines)
    assert canon.body(body, Canon.RELAXED) == _dkimpy_body(body, Relaxed)
    assert canon.body(body, Canon.SIMPLE) == _dkimpy_body(body, Simple)


@pytest.mark.parametrize(("body", "relaxed", "simple"), [
    # only empty lines, or lines of white space: nothing, or one CRLF (RFC 6376 3.4.3/4)
    (b"\r\n", b"", b"\r\n"),
    (b"\r\n\r\n\r\n", b"", b"\r\n"),
    (b"  \r\n\t\r\n", b"", b"  \r\n\t\r\n"),
    # a run of white space of any length is one space; at a line's end, none
    (b"a" + b" " * 1000 + b"b\r\n", b"a b\r\n", b"a" + b" " * 1000 + b"b\r\n"),
    (b"a\t \t b \t\r\n", b"a b\r\n", b"a\t \t b \t\r\n"),
    # a bare LF among CRLFs, and a lone CR, which is content
    (b"a\r\nb\nc\r\n", b"a\r\nb\r\nc\r\n", b"a\r\nb\r\nc\r\n"),
    (b"a\rb\r\n", b"a\rb\r\n", b"a\rb\r\n"),
    (b"a\r", b"a\r\r\n", b"a\r\r\n"),
])
def test_body_corner_cases(body: bytes, relaxed: bytes, simple: bytes) -> None:
    assert canon.body(body, Canon.RELAXED) == relaxed
    assert canon.body(body, Canon.SIMPLE) == simple


def test_crlf_leaves_crlf_text_alone_and_turns_every_bare_lf() -> None:
    assert canon.crlf(b"a\r\nb\r\n") == b"a\r\nb\r\n"
    assert canon.crlf(b"a\nb\r\n\n") == b"a\r\nb\r\n\r\n"
    assert canon.crlf(b"\n") == b"\r\n"
    assert canon.crlf(b"no line end") == b"no line end"


def test_relaxed_header_with_only_white_space_and_a_gap_before_the_colon() -> None:
    field = read_header(b"X-A \t:  \t \r\n\r\n").fields[0]
    assert canon.header(field, Canon.RELAXED) == b"x-a:\r\n"
    field = HeaderField(b"Subject", b"\tHi\r\n  there\t")
    assert canon.header(field, Canon.RELAXED) == b"subject:Hi there\r\n"
