"""The other readings of a MIME field (policies/ambiguity.py), value by value."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.ambiguity import (
    Reading,
    charset_readings,
    encoding_readings,
    filename_readings,
    media_type_readings,
    param_readings,
    without_comments,
)


@pytest.mark.parametrize(("value", "expected"), [
    ("abc", "abc"),
    ("a(b)c", "a c"),
    ("a(b(c)d)e", "a e"),  # comments nest
    (r"a(b\)c)d", "a d"),  # a quoted pair inside a comment
    ('"a(b)c" d', '"a(b)c" d'),  # no comment inside a quoted string
    (r'"a\"(b)" c(d)', r'"a\"(b)" c '),
    ("a(unterminated", "a "),
])
def test_without_comments(value: str, expected: str) -> None:
    assert without_comments(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ('multipart/mixed; boundary="abc"', [Reading("abc", ("boundary=",))]),
    ("multipart/mixed; boundary=abc (x)", [
        Reading("abc (x)", ("boundary=",)), Reading("abc", ("boundary= without comments",))]),
    ('multipart/mixed; boundary="abc"; boundary="abc"', [
        Reading("abc", ("boundary=", "repeated boundary="))]),  # repeated alike: one reading
    ('multipart/mixed; boundary="=?us-ascii?q?abc?="', [
        Reading("=?us-ascii?q?abc?=", ("boundary=",)),
        Reading("abc", ("boundary= decoded",))]),
    ('multipart/mixed; boundary="a"; boundary="b"; boundary="c"', [
        Reading("a", ("boundary=",)), Reading("b", ("repeated boundary=",)),
        Reading("c", ("repeated boundary=",))]),
    ('multipart/mixed; boundary=" abc "', [
        Reading(" abc ", ("boundary=",)), Reading("abc", ("boundary= trimmed",))]),
    ("multipart/mixed; boundary*0=a; boundary*1=bc", [
        Reading("abc", ("RFC 2231 boundary*",))]),
    ("multipart/mixed; boundary=abc def", [
        Reading("abc def", ("boundary=",)), Reading("abc", ("boundary= to the first space",))]),
    ('multipart/mixed; boundary="abc def"', [Reading("abc def", ("boundary=",))]),
    ("multipart/mixed", []),
])
def test_boundary_readings(value: str, expected: list[Reading]) -> None:
    assert param_readings(value, "boundary", is_trimmed=True, is_literal=True) == expected


def test_encodings_that_decode_alike_are_one_reading() -> None:
    assert encoding_readings(["7bit", "8bit"]) == [
        Reading("7bit", ("the first field as written", "the last field as written"))]
    assert encoding_readings([]) == []
    assert [r.value for r in encoding_readings(["base64", "7bit", "x", "quoted-printable"])] \
        == ["base64", "quoted-printable"]  # the first field and the last


def test_names_that_differ_only_in_case_or_spacing_are_one_reading() -> None:
    names = filename_readings('application/pdf; name="Bao  Cao.PDF"',
                              ['attachment; filename="bao cao.pdf"'])
    assert [r.value for r in names.readings] == ["bao cao.pdf"]
    # the rules still get every exact name
    assert names.every == ("bao cao.pdf", "Bao  Cao.PDF")


def test_charsets_ignore_case() -> None:
    assert len(charset_readings('text/plain; charset=UTF-8; charset="utf-8"')) == 1
    assert [r.value for r in charset_readings("text/plain; charset=utf-8; charset=koi8-r")] \
        == ["utf-8", "koi8-r"]


def test_rfc2047_names_are_read_decoded_only() -> None:
    names = filename_readings('application/pdf; name="=?utf-8?q?b=C3=A1o_c=C3=A1o.pdf?="', [])
    assert [r.value for r in names.readings] == ["báo cáo.pdf"]


_FIELD_TEXT = st.text(alphabet=st.sampled_from('ab =;"()\\*\'%\t/é?'), max_size=60)


@settings(max_examples=300, deadline=None)
@given(_FIELD_TEXT, st.lists(_FIELD_TEXT, max_size=3))
def test_any_field_text_gives_readings_never_an_error(value: str, others: list[str]) -> None:
    found = param_readings(value, "boundary", is_trimmed=True, is_literal=True)
    assert len({r.value for r in found}) == len(found)  # one reading per value
    assert all(r.how for r in found)
    bare = without_comments(value)
    assert without_comments(bare) == bare  # no comment is left to remove
    media_type_readings(value)
    charset_readings(value)
    encoding_readings([value, *others])
    names = filename_readings(value, others)
    assert {r.value for r in names.readings} <= set(names.every)


def test_a_long_reading_is_shown_by_its_start() -> None:
    [written, trimmed] = param_readings(f'multipart/mixed; boundary=" {"b" * 500}"', "boundary",
                                        is_trimmed=True)
    assert str(trimmed) == repr("b" * 80 + "...") + " (boundary= trimmed)"
    assert written.value == " " + "b" * 500  # the walk still reads it whole


def test_an_encoded_word_naming_a_non_ascii_charset_keeps_its_raw_text() -> None:
    # found by the fuzz test: the standard library raises CharsetError (not a
    # ValueError) for "=?\x80tf-8?q?...?=", which made the walk fail
    from policies.headers import param_values

    assert param_values([("name", "=?\x80tf-8?q?setup.exe?=")], "name") == [
        "=?\x80tf-8?q?setup.exe?="]
