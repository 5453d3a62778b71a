"""The shared primitives: one answer in the whole product for addresses, From, folding, time."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from mailbase import (
    AddressError,
    FromHeaderError,
    PeriodError,
    fold,
    parse_address,
    parse_from,
    parse_local_datetime,
    parse_period,
)


def test_fold_matches_without_diacritics_or_case() -> None:
    assert fold("Sở Tài chính") == fold("so tai chinh") == "so tai chinh"
    assert fold("ĐẢNG ỦY") == "dang uy"
    assert fold("Công văn") == fold("CONG VAN")


def test_fold_is_its_definition_for_every_character() -> None:
    def defined(text: str) -> str:  # NFD, combining marks dropped, đ/Đ to d/D, casefold
        decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
        return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()

    # the Basic Multilingual Plane (the table's cache), and marks beyond it
    characters = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000]
    assert [fold(c) for c in characters] == [defined(c) for c in characters]
    text = "".join(characters[0x3000:0x3100]) + "Đ\u0303x\U0001D165y"
    assert fold(text) == defined(text)
    assert fold("Đ\u0303x\U0001D165y") == "dxy"


def test_parse_address_normalises_idn_domains() -> None:
    address = parse_address("Văn thư <vanthu@Lào-Cai.gov.vn>")
    assert address.addr_spec == "vanthu@" + "lào-cai.gov.vn".encode("idna").decode()
    assert address.display_name == "Văn thư"


@pytest.mark.parametrize("text", ["", "no-at-sign", "a@", "a@b.vn, c@d.vn", "x" * 65 + "@b.vn",
                                  "a@" + "b" * 64 + ".vn"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text)


def test_parse_from_takes_exactly_one_sender() -> None:
    assert parse_from(["=?utf-8?q?S=E1=BB=9F?= <sotc@binhthuan.gov.vn>"]).addr_spec == (
        "sotc@binhthuan.gov.vn")


@pytest.mark.parametrize(("values", "words"), [
    ([], "no From header"),
    (["a@b.vn", "c@d.vn"], "2 From headers"),
    (["a@b.vn, c@d.vn"], "several addresses"),
    (["Group: a@b.vn, c@d.vn;"], "several addresses or a group"),
    (["<>"], "From"),
    (["a@"], "From"),
    (["Group:a@"], "From"),
])
def test_parse_from_refuses_what_verifiers_and_clients_read_differently(
    values: list[str], words: str
) -> None:
    with pytest.raises(FromHeaderError, match=words):
        parse_from(values)
    with pytest.raises(FromHeaderError, match=words):  # the cached path says the same
        parse_from(values)


def test_periods_are_local_months_quarters_and_years() -> None:
    quarter = parse_period("2026-Q4")
    assert quarter.start == datetime(2026, 9, 30, 17, 0, tzinfo=UTC)  # 1 Oct, UTC+7
    assert quarter.end == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert parse_period("2026-12").end == datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert parse_period("2026").start == datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
    for bad in ("2026-13", "2026-Q5", "26-01", "last month"):
        with pytest.raises(PeriodError):
            parse_period(bad)


def test_dates_without_offset_are_local() -> None:
    assert parse_local_datetime("2026-11-01") == datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    assert parse_local_datetime("2026-11-01T00:00:00+00:00") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(PeriodError):
        parse_local_datetime("yesterday")
