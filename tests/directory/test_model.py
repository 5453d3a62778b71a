"""Official addresses: syntax checked without DNS, normalised once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from directory import Address, DirectoryConfig, InvalidAddress, parse_official_address
from directory.model import parse_domain


def test_domain_is_lower_case_ascii_and_local_part_keeps_its_case() -> None:
    address = parse_official_address("  Van.Phong@LaoCai.GOV.vn ")
    assert address == Address("Van.Phong", "laocai.gov.vn")
    assert address.key == "van.phong@laocai.gov.vn"


def test_idn_domain_is_stored_as_idna_and_read_back_in_unicode() -> None:
    address = parse_official_address("ubnd@Lào-Cai.gov.vn")
    assert address.domain == "xn--lo-cai-ita.gov.vn"
    assert address.unicode_domain == "lào-cai.gov.vn"


@pytest.mark.parametrize("text", [
    "", "no-at-sign", "a@b@laocai.gov.vn", "space in@laocai.gov.vn", "x@localhost",
    "x@laocai..gov.vn", ".x@laocai.gov.vn", "x@-laocai.gov.vn",
])
def test_bad_addresses_are_refused_with_a_reason(text: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_official_address(text)
    assert caught.value.value == text
    assert caught.value.reason


def test_test_names_are_accepted_other_special_use_names_are_not() -> None:
    # RFC 6761 reserves .test for testing (the try-out province lives there); the
    # other special-use names are never an official address.
    assert parse_official_address("ubnd@tinh-vi-du.test").domain == "tinh-vi-du.test"
    assert parse_domain("xa-an-binh.tinh-vi-du.test") == "xa-an-binh.tinh-vi-du.test"
    for text in ("x@laocai.local", "x@laocai.invalid", "x@laocai.onion", "x@in-addr.arpa"):
        with pytest.raises(InvalidAddress, match="special-use or reserved"):
            parse_official_address(text)


def test_domains_are_checked_like_address_domains() -> None:
    assert parse_domain("Sở.LaoCai.gov.vn.") == "xn--s-lym.laocai.gov.vn"
    with pytest.raises(InvalidAddress):
        parse_domain("user@laocai.gov.vn")
    with pytest.raises(InvalidAddress):
        parse_domain("bad_domain")


def test_the_config_checks_and_normalises_its_domains() -> None:
    config = DirectoryConfig(domains=("Thư.LaoCai.gov.vn",))
    assert config.domains == ("xn--th-e0a.laocai.gov.vn",)
    assert config.path == Path("directory.sqlite3")
    with pytest.raises(ValidationError, match="'not a domain' is not a valid domain"):
        DirectoryConfig(domains=("not a domain",))
    with pytest.raises(ValidationError):
        DirectoryConfig(unknown=1)  # type: ignore[call-arg]
