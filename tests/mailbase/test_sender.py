"""The one From reader: "this address" or "ambiguous: why", and the provincial claims."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbase import (
    FromHeaderError,
    ProvincialDomains,
    parse_from,
    read_from,
    read_header,
)
from mailbase.ambiguity import MAX_LENIENT
from signer import UnsignableMessageError, from_domain

PROVINCE = ProvincialDomains(["lamdong.gov.vn", "binhthuan.gov.vn", "daknong.gov.vn"])


def read(value: str | bytes):
    raw = value if isinstance(value, bytes) else f"From: {value}\r\nSubject: x\r\n\r\nbody".encode()
    return read_from(read_header(raw), PROVINCE)


@pytest.mark.parametrize(("value", "address"), [
    ("sotc@lamdong.gov.vn", "sotc@lamdong.gov.vn"),
    ("Sở Tài chính <sotc@lamdong.gov.vn>", "sotc@lamdong.gov.vn"),
    ("=?utf-8?q?S=E1=BB=9F_T=C3=A0i_ch=C3=ADnh?= <sotc@binhthuan.gov.vn>",
     "sotc@binhthuan.gov.vn"),
    # what Outlook writes when no name is set: the same address twice
    ('"sotc@lamdong.gov.vn" <sotc@lamdong.gov.vn>', "sotc@lamdong.gov.vn"),
    ('"SOTC@LAMDONG.GOV.VN" <sotc@lamdong.gov.vn>', "sotc@lamdong.gov.vn"),
    ("sotc@LAMDONG.GOV.VN", "sotc@lamdong.gov.vn"),  # DNS ignores ASCII case
    ("John Q. Public <jqp@example.org>", "jqp@example.org"),
    ("o'brien@lamdong.gov.vn", "o'brien@lamdong.gov.vn"),
    ("x@evil.example (John)", "x@evil.example"),
    ("người@lâmđồng.vn", "người@xn--lmng-boa7zy25p.vn"),  # RFC 6532 and a U-label
    ("a@xn--lmng-boa7zy25p.vn", "a@xn--lmng-boa7zy25p.vn"),
    ("  sotc@lamdong.gov.vn  ", "sotc@lamdong.gov.vn"),
    ('"Nguyễn, Văn A" <a@example.org>', "a@example.org"),
])
def test_one_plain_address_is_read_as_that_address(value: str, address: str) -> None:
    verdict = read(value)
    assert verdict.ambiguity is None
    assert verdict.addr_spec == address
    assert parse_from([value]).addr_spec == address


@pytest.mark.parametrize(("value", "why", "claims"), [
    # comments and whitespace inside the address
    ("sotc@(x)lamdong.gov.vn", "comment", ("lamdong.gov.vn",)),
    ("sotc@lamdong(x).gov.vn", "comment", ("lamdong.gov.vn",)),
    ("sotc @ lamdong.gov.vn", "whitespace inside the address", ("lamdong.gov.vn",)),
    ("sotc@lamdong . gov . vn", "whitespace inside the address", ("lamdong.gov.vn",)),
    # domains that IDNA or NFKC map onto a provincial one
    ("sotc@ｌａｍｄｏｎｇ.gov.vn", "changes under NFKC", ("lamdong.gov.vn",)),
    ("sotc@lamdong。gov.vn", "reads as a dot", ("lamdong.gov.vn",)),
    ("sotc@lamdong．gov.vn", "reads as a dot", ("lamdong.gov.vn",)),
    ("sotc@LÂMĐỒNG.vn", "not a valid IDN", ()),
    ("sotc@lamdong.gov.vn\u200b", "not a valid IDN", ("lamdong.gov.vn",)),
    ("sotc@xn--zz.gov.vn", "invalid IDN label", ()),
    ("sotc@lamdong.gov.vn.", "RFC 5322", ("lamdong.gov.vn",)),
    # an address only inside an encoded word, or spelled by the display name
    ("=?utf-8?q?sotc=40lamdong.gov.vn?=", "no address outside encoded words",
     ("lamdong.gov.vn",)),
    ("=?utf-8?q?sotc=40lamdong.gov.vn?= <x@evil.example>", "also reads as sotc@lamdong.gov.vn",
     ("lamdong.gov.vn",)),
    ('"vanphong@lamdong.gov.vn" <x@evil.example>', "also reads as vanphong@lamdong.gov.vn",
     ("lamdong.gov.vn",)),
    ("sotc＠lamdong.gov.vn <x@evil.example>", "also reads as sotc@lamdong.gov.vn",
     ("lamdong.gov.vn",)),
    ('"sotc@lamdong.gov.vn\u200b" <x@evil.example>', "also reads as sotc@lamdong.gov.vn",
     ("lamdong.gov.vn",)),
    ("x@evil.example (sotc@lamdong.gov.vn)", "also reads as sotc@lamdong.gov.vn",
     ("lamdong.gov.vn",)),
    # another provincial address in the display name is a lie too
    ('"giamdoc@binhthuan.gov.vn" <vanthu@lamdong.gov.vn>', "also reads as giamdoc@",
     ("binhthuan.gov.vn", "lamdong.gov.vn")),
    ("sotc@lamdong.gov.vn <x@evil.example>", "display name holds an @", ("lamdong.gov.vn",)),
    # several addresses, groups, obsolete and odd forms
    ("x@evil.example, sotc@lamdong.gov.vn", "several addresses", ("lamdong.gov.vn",)),
    ("G: sotc@lamdong.gov.vn;", "several addresses or a group", ("lamdong.gov.vn",)),
    ('"a b"@lamdong.gov.vn', "quoted local part", ("lamdong.gov.vn",)),
    ("sotc@[192.0.2.1]", "domain literal", ()),
    ("<sotc@lamdong.gov.vn", "RFC 5322", ("lamdong.gov.vn",)),
    ("", "empty", ()),
    ("undisclosed-recipients:;", "holds no address", ()),
    ("a" * 3000 + "@lamdong.gov.vn", "longer than 2048", ("lamdong.gov.vn",)),
    ("ｓｏｔｃ@lamdong.gov.vn", "changes under NFKC", ("lamdong.gov.vn",)),
])
def test_ambiguous_from_says_why_and_what_it_claims(value: str, why: str,
                                                   claims: tuple[str, ...]) -> None:
    verdict = read(value)
    assert verdict.address is None and verdict.is_ambiguous
    assert why in (verdict.ambiguity or "")
    assert verdict.claims == claims
    # parse_from knows no province: a display name spelling a provincial address is a
    # lie only where that domain is the province's, so it may name the real address
    unaware = read_from(read_header(f"From: {value}\r\n\r\n".encode()))
    if unaware.address is None:
        with pytest.raises(FromHeaderError):
            parse_from([value])
    else:
        assert "also reads as" in why
        assert parse_from([value]) == unaware.address


@pytest.mark.parametrize(("raw", "why"), [
    (b"Subject: x\r\n\r\nbody", "no From header"),
    (b"From: x@evil.example\r\nFrom: sotc@lamdong.gov.vn\r\n\r\nb", "2 From headers"),
    (b" From: sotc@lamdong.gov.vn\r\nFrom: x@evil.example\r\n\r\nb", "line 1 continues"),
    (b"From : sotc@lamdong.gov.vn\r\n\r\nb", "whitespace before the colon"),
    (b"X-Junk\r\nFrom: x@evil.example\r\nfRoM:sotc@lamdong.gov.vn\r\n\r\nb", "not a header"),
    (b"From: x@evil.example\r\nSubject: a\r\n\tFrom: sotc@lamdong.gov.vn\r\n\r\nb", None),
    (b"From: \xffsotc@lamdong.gov.vn\r\n\r\nb", "not valid UTF-8"),
])
def test_a_header_block_that_reads_two_ways_is_ambiguous(raw: bytes, why: str | None) -> None:
    verdict = read(raw)
    if why is None:  # a continuation of Subject is Subject's text, not a From field
        assert verdict.addr_spec == "x@evil.example"
        return
    assert verdict.address is None
    assert why in (verdict.ambiguity or "")
    if b"lamdong" in raw:
        assert verdict.claims == ("lamdong.gov.vn",)


def test_subdomains_are_provincial_and_lookalike_suffixes_are_not() -> None:
    assert read("a@sotc.lamdong.gov.vn").claims == ("sotc.lamdong.gov.vn",)
    assert read("a@notlamdong.gov.vn").claims == ()
    assert read("a@lamdong.gov.vn.evil.example").claims == ()
    assert not PROVINCE.covers("gov.vn")


def test_long_and_hostile_values_are_refused() -> None:
    # how fast they are read is measured by tests/benchmarks/test_from_reader_speed.py
    values = ["a" * 5000 + " x", "a " * 3000, "@" * 20000, ("x" * 200 + "@") * 100,
              '"' + "\\" * 4000, "(" * 3000 + ")" * 3000, "=?utf-8?q?" * 2000]
    for value in values:
        assert read(value).address is None, value[:20]


# -- one reading for every consumer -------------------------------------------------

_PIECES = st.sampled_from([
    "sotc", "@", "lamdong", ".", "gov", "vn", "evil", "example", " ", "<", ">", '"', "(",
    ")", ",", ";", ":", "=?utf-8?q?", "?=", "=40", "ｌ", "。", "＠", "\u200b", "\t", "A",
    "Sở", "\\", "[", "]", "xn--", "-",
])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=16).map("".join))
def test_guard_attribution_and_signing_agree_on_any_from(value: str) -> None:
    raw = f"From: {value}\r\nSubject: x\r\n\r\nbody\r\n".encode()
    verdict = read(raw)
    assert (verdict.address is None) == (verdict.ambiguity is not None)
    # knowing the province only ever makes a From ambiguous, never another address
    unaware = read_from(read_header(raw))
    assert verdict.address is None or verdict.address == unaware.address
    # signing from the command line (which knows no province) names the same domain
    # or refuses, exactly when the reader does
    try:
        signed_for = from_domain(raw)
    except UnsignableMessageError:
        signed_for = None
    assert signed_for == unaware.domain
    # the guard: a plain From is claimed exactly when its domain is provincial
    if verdict.address is not None:
        assert (verdict.address.domain in verdict.claims) == PROVINCE.covers(
            verdict.address.domain)
        # and no other reading of it names another provincial address
        assert set(verdict.claims) <= {verdict.address.domain}
    # anything that shows a provincial domain to a person is claimed
    shown = value.replace(" ", "").replace("\t", "").replace("\u200b", "").lower()
    if "@lamdong.gov.vn" in shown and verdict.address is None:
        assert "lamdong.gov.vn" in verdict.claims


def test_the_claimed_addresses_say_which_unit_a_forgery_poses_as() -> None:
    assert read("=?utf-8?q?sotc=40lamdong.gov.vn?=").claimed_addresses == (
        "sotc@lamdong.gov.vn",)
    assert read("ｓｏｔｃ@lamdong.gov.vn").claimed_addresses == ("sotc@lamdong.gov.vn",)
    assert read("Sotc@LAMDONG.gov.vn").claimed_addresses == ("sotc@lamdong.gov.vn",)
    assert read("x@example.org").claimed_addresses == ()


# -- edges the mutation run of the From reader found untested --------------------------

@pytest.mark.parametrize(("value", "display"), [
    ('"Nguyễn Văn A" <a@lamdong.gov.vn>', "Nguyễn Văn A"),
    ('"A \\"B\\" C" <a@lamdong.gov.vn>', 'A "B" C'),
    ('"" <a@lamdong.gov.vn>', ""),
    ("Văn thư <a@lamdong.gov.vn>", "Văn thư"),
])
def test_a_quoted_display_name_is_read_without_its_quotes(value: str, display: str) -> None:
    verdict = read(value)
    assert verdict.address is not None
    assert verdict.address.display_name == display


def test_a_from_value_of_exactly_the_lenient_limit_is_read() -> None:
    # the value read is everything after the colon, its leading space included
    tail = " <a@lamdong.gov.vn>"
    at_limit = "x" * (MAX_LENIENT - 1 - len(tail)) + tail
    assert len(" " + at_limit) == MAX_LENIENT
    assert read(at_limit).address is not None
    over = read("x" + at_limit)
    assert over.address is None
    assert over.ambiguity == f"the From header is longer than {MAX_LENIENT} characters"


def test_the_first_provincial_stranger_is_the_one_named() -> None:
    verdict = read('"z@lamdong.gov.vn, a@daknong.gov.vn" <vanthu@lamdong.gov.vn>')
    assert verdict.address is None
    assert verdict.ambiguity == "the From header also reads as a@daknong.gov.vn"


def test_a_domain_that_changes_under_nfkc_names_what_it_reads_as() -> None:
    verdict = read("a@ｌａｍｄｏｎｇ.gov.vn")
    assert verdict.address is None
    assert verdict.ambiguity == ("the From domain 'ｌａｍｄｏｎｇ.gov.vn' changes under NFKC "
                                 "(reads as lamdong.gov.vn)")


def test_is_ambiguous_says_whether_the_reading_found_one_address() -> None:
    assert read("Văn thư <a@lamdong.gov.vn>").is_ambiguous is False
    assert read("a@lamdong.gov.vn, b@lamdong.gov.vn").is_ambiguous is True


def test_the_one_reading_cannot_be_changed_by_a_consumer() -> None:
    # guard, attribution, signing and the record share one verdict: none may alter it
    verdict = read("a@lamdong.gov.vn")
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.address = None  # type: ignore[misc]
