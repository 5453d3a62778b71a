"""Searching units: every word must begin a word of the unit's text, diacritics optional."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory import Directory, Unit, search_units

UNITS = """id,name,parent,address,short_name,name_en,aliases
ubnd,Ủy ban nhân dân tỉnh Lào Cai,,vanthu@ubnd.laocai.gov.vn,UBND tỉnh,,ubnd@lào-cai.gov.vn
stc,Sở Tài chính,ubnd,vanthu@stc.laocai.gov.vn,STC,Department of Finance,
syt,Sở Y tế,ubnd,so-y-te@laocai.gov.vn,,,
ttyt,Trung tâm Y tế huyện Thái Thụy,ubnd,vanthu@ttyt.laocai.gov.vn,,,
sgd,Sở Giáo dục và Đào tạo,ubnd,vanthu@sgd.laocai.gov.vn,SGDĐT,,
"""


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> list[Unit]:
    path: Path = tmp_path_factory.mktemp("search") / "directory.sqlite3"
    with Directory.open(path) as directory:
        directory.import_csv(UNITS, actor="test")
        return directory.units()


def _ids(units: list[Unit], query: str) -> list[str]:
    return [unit.id for unit in search_units(units, query)]


@pytest.mark.parametrize(("query", "found"), [
    ("so tai chinh", ["stc"]), ("Sở Tài Chính", ["stc"]), ("chinh so", ["stc"]),
    ("tài", ["stc"]), ("finance department", ["stc"]), ("SGDĐT", ["sgd"]),
    ("dao tao", ["sgd"]), ("y te", ["syt", "ttyt"]), ("so y te", ["syt"]),
    ("so-y-te@laocai", ["syt"]), ("stc.laocai", ["stc"]), ("lào-cai.gov.vn", ["ubnd"]),
    ("ubnd@lào-cai.gov.vn", ["ubnd"]), ("  ", []), ("", []),
])
def test_every_word_must_match(units: list[Unit], query: str, found: list[str]) -> None:
    assert _ids(units, query) == found


@pytest.mark.parametrize("query", [
    "ai",            # inside 'tài' and 'Lào Cai': begins no word
    "so ai",         # 'so' begins words of three units, 'ai' none
    "tai y",         # each word of another unit: no unit holds both
    "hai",           # inside 'Thái'
    "chinh y",
])
def test_a_word_inside_another_or_of_another_unit_matches_nothing(
        units: list[Unit], query: str) -> None:
    assert _ids(units, query) == []


def test_regular_expression_characters_are_plain_text(units: list[Unit]) -> None:
    assert _ids(units, "s(") == [] and _ids(units, "[") == [] and _ids(units, ".*") == []
