"""Importing CSV files: the layouts spreadsheets save, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory import Directory, ImportRejected, ImportRowError, UnknownUnit, problems
from support.province import province_rows, to_csv

HEADER = "id,name,parent,address,aliases\n"
GOOD = (
    HEADER
    + "tinh,UBND tỉnh Lào Cai,,ubnd@laocai.gov.vn,vanthu@laocai.gov.vn\n"
    + "stc,Sở Tài chính,tinh,stc@laocai.gov.vn,taichinh@laocai.gov.vn\n"
    + "snv,Sở Nội vụ,tinh,snv@laocai.gov.vn,\n"
)


def rejected(store: Directory, text: str | bytes) -> list[ImportRowError]:
    """Import text that must be refused; check nothing was imported; return the errors."""
    with pytest.raises(ImportRejected) as caught:
        store.import_csv(text)
    assert store.units() == []
    assert str(caught.value).startswith("<csv>: nothing imported")
    return list(caught.value.errors)


def test_a_good_file_imports_every_unit(store: Directory) -> None:
    summary = store.import_csv(GOOD, actor="admin")
    assert summary.created == ("tinh", "stc", "snv")
    assert (summary.updated, summary.deactivated, summary.skipped) == ((), (), ())
    assert store.get("stc").name == "Sở Tài chính"


def test_the_generated_province_imports(store: Directory, province_text: str) -> None:
    summary = store.import_csv(province_text)
    assert len(summary.created) == 1000
    assert len(store.units(include_inactive=False)) == 999


@pytest.mark.parametrize("bom", [False, True])
def test_utf8_with_or_without_bom_from_a_file(store: Directory, tmp_path: Path, bom: bool) -> None:
    path = tmp_path / "units.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + GOOD.encode("utf-8"))
    assert len(store.import_csv(path).created) == 3
    assert store.get("tinh").name == "UBND tỉnh Lào Cai"


def test_columns_in_any_order_and_header_case(store: Directory) -> None:
    rows = province_rows(300)
    columns = ["Address", "NAME", "senders", "parent", "id", "kind", "aliases"]
    text = to_csv([{c.title(): r[c.lower()] for c in columns} | {
        c: r[c.lower()] for c in columns} for r in rows], columns=columns)
    assert len(store.import_csv(text).created) == 300
    assert store.get("so-tai-chinh").senders == ("vt.so-tai-chinh", "ld.so-tai-chinh")


def test_semicolon_separated_files_and_quoted_multiline_cells(store: Directory) -> None:
    text = ('id;name;parent;address;aliases\r\n'
            'tinh;"UBND tỉnh\r\nLào Cai";;ubnd@laocai.gov.vn;"a@laocai.gov.vn;b@laocai.gov.vn"\r\n'
            'stc;Sở Tài chính;tinh;stc@laocai.gov.vn;\r\n')
    store.import_csv(text)
    assert store.get("tinh").name == "UBND tỉnh\r\nLào Cai"
    aliases = [a.addr_spec for a in store.get("tinh").aliases]
    assert aliases == ["a@laocai.gov.vn", "b@laocai.gov.vn"]


def test_decomposed_text_is_stored_composed(store: Directory) -> None:
    import unicodedata
    store.import_csv(unicodedata.normalize("NFD", GOOD))
    assert store.get("stc").name == unicodedata.normalize("NFC", "Sở Tài chính")


def test_blank_lines_are_ignored_and_line_numbers_still_count(store: Directory) -> None:
    errors = rejected(store, GOOD + "\n,,,\nbad,Bad,tinh,not-an-address,\n")
    assert [(e.row, e.column) for e in errors] == [(7, "address")]


# -- bad files: every one is refused whole, with every problem listed -----------


def test_missing_columns(store: Directory) -> None:
    assert rejected(store, "id,name,parent\nx,X,\n") == [
        ImportRowError(1, None, problems.MISSING_COLUMNS(columns="address"))]


def test_unknown_and_doubled_columns(store: Directory) -> None:
    errors = rejected(store, "id,name,parent,address,email,name\n")
    assert [e.reason.split(":")[0] for e in errors] == [
        "unknown column(s)", "column(s) given twice"]
    assert "'email'" in errors[0].reason


def test_empty_file(store: Directory) -> None:
    assert rejected(store, "") == [ImportRowError(1, None, problems.EMPTY_FILE())]


def test_wrong_number_of_cells(store: Directory) -> None:
    errors = rejected(store, GOOD + "x,X,tinh,x@laocai.gov.vn,,extra\n")
    assert errors == [ImportRowError(5, None, problems.CELL_COUNT(cells=6, columns=5))]


def test_bad_encoding_lists_each_bad_line(store: Directory) -> None:
    data = GOOD.encode("utf-8") + "x,Tài chính,tinh,x@laocai.gov.vn,\n".encode("cp1258")
    data += "y,Y tá,tinh,y@laocai.gov.vn,\n".encode("cp1258")
    errors = rejected(store, data)
    assert [e.row for e in errors] == [5, 6]
    assert all("not UTF-8" in e.reason and "CSV UTF-8" in e.reason for e in errors)


def test_duplicate_ids(store: Directory) -> None:
    errors = rejected(store, GOOD + "stc,Sở khác,tinh,khac@laocai.gov.vn,\n")
    assert errors == [ImportRowError(5, "id", problems.ID_USED(id="stc", line=3))]


def test_an_address_in_two_units(store: Directory) -> None:
    errors = rejected(store, GOOD + "x,X,tinh,x@laocai.gov.vn,TaiChinh@LAOCAI.gov.vn\n")
    assert errors == [ImportRowError(5, "aliases", problems.ADDRESS_TAKEN(
        address="TaiChinh@laocai.gov.vn", unit="stc", line=3))]


def test_an_address_listed_twice_in_one_unit(store: Directory) -> None:
    errors = rejected(store, HEADER + "tinh,T,,ubnd@laocai.gov.vn,UBND@laocai.gov.vn\n")
    assert errors == [ImportRowError(2, "aliases",
                                     problems.ADDRESS_TWICE(address="UBND@laocai.gov.vn"))]


def test_unknown_parent(store: Directory) -> None:
    errors = rejected(store, GOOD + "x,X,so-khong-co,x@laocai.gov.vn,\n")
    assert errors == [ImportRowError(5, "parent", problems.PARENT_UNKNOWN(parent="so-khong-co"))]


def test_cycles_are_reported_on_every_row_of_the_loop(store: Directory) -> None:
    text = GOOD + "a,A,b,a@laocai.gov.vn,\nb,B,c,b@laocai.gov.vn,\nc,C,a,c@laocai.gov.vn,\n"
    text += "self,S,self,s@laocai.gov.vn,\n"
    errors = rejected(store, text)
    assert [(e.row, e.column) for e in errors] == [
        (5, "parent"), (6, "parent"), (7, "parent"), (8, "parent")]
    assert errors[0].reason == "the parents form a cycle: a → b → c → a"
    assert errors[3].reason == "the parents form a cycle: self → self"


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("id", "Sở-Tài-Chính", "an id uses only a-z"),
    ("id", "", "the id is empty"),
    ("name", "", "the name is empty"),
    ("address", "", "the primary address is empty"),
    ("address", "stc.laocai.gov.vn", "'stc.laocai.gov.vn' is not a valid address"),
    ("aliases", "ok@laocai.gov.vn;bad@@x", "'bad@@x' is not a valid address"),
    ("dkim_domain", "not a domain", "'not a domain' is not a valid domain"),
    ("website", "stc.laocai.gov.vn", "the web site must start with http:// or https://"),
    ("active", "maybe", "'maybe' is not yes/no"),
    ("valid_from", "26/11/2026", "'26/11/2026' is not a date as YYYY-MM-DD"),
    ("senders", "nva;tran b", "the login 'tran b' contains a space or a comma"),
    ("certificate", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----",
     "not a PEM certificate"),
    ("successor", "stc", "the successor 'stc' is not another unit of this file"),
])
def test_bad_cells_name_their_line_column_and_reason(
    store: Directory, column: str, value: str, reason: str,
) -> None:
    cells = {"id": "stc", "name": "Sở Tài chính", "parent": "tinh",
             "address": "stc@laocai.gov.vn", column: value}
    root = {"id": "tinh", "name": "UBND", "parent": "", "address": "ubnd@laocai.gov.vn"}
    text = to_csv([root, cells], columns=list(dict.fromkeys([*root, *cells])))
    errors = rejected(store, text)
    assert [(e.row, e.column) for e in errors] == [(3, column)]
    assert errors[0].reason.startswith(reason)


def test_all_or_nothing_keeps_the_store_as_it_was(store: Directory) -> None:
    store.import_csv(GOOD)
    revision = store.revision()
    bad = GOOD.replace("Sở Nội vụ", "Sở Nội vụ mới") + "x,X,nowhere,x@laocai.gov.vn,\n"
    with pytest.raises(ImportRejected):
        store.import_csv(bad)
    assert store.get("snv").name == "Sở Nội vụ"
    assert store.revision() == revision


def test_partial_imports_good_rows_and_drops_the_children_of_bad_ones(store: Directory) -> None:
    text = GOOD + ("bad,B,tinh,not-an-address,\n"
                   "child,C,bad,child@laocai.gov.vn,\n"
                   "fine,F,stc,fine@laocai.gov.vn,\n")
    summary = store.import_csv(text, partial=True)
    assert summary.created == ("tinh", "stc", "snv", "fine")
    assert [(e.row, e.column) for e in summary.skipped] == [(5, "address"), (6, "parent")]
    assert "skipped line 6, column 'parent'" in str(summary)
    with pytest.raises(UnknownUnit):
        store.get("child")


def test_partial_keeps_a_stored_unit_whose_new_row_is_bad(store: Directory) -> None:
    store.import_csv(GOOD + "x,X,stc,x@laocai.gov.vn,\n")
    text = GOOD.replace("stc@laocai.gov.vn,", "broken,") + "x,X2,stc,x@laocai.gov.vn,\n"
    summary = store.import_csv(text, partial=True)
    assert [(e.row, e.column) for e in summary.skipped] == [(3, "address")]
    assert summary.deactivated == ()
    assert store.get("stc").address.addr_spec == "stc@laocai.gov.vn"
    assert store.get("x").name == "X2"


def test_an_address_kept_by_a_unit_missing_from_the_file(store: Directory) -> None:
    store.import_csv(GOOD)
    text = GOOD.replace("snv,Sở Nội vụ,tinh,snv@laocai.gov.vn,\n", "")
    text += "new,Sở mới,tinh,snv@laocai.gov.vn,\n"
    with pytest.raises(ImportRejected) as caught:
        store.import_csv(text)
    assert list(caught.value.errors) == [ImportRowError(
        4, None, problems.ADDRESS_KEPT(address="snv@laocai.gov.vn", unit="snv"))]


def test_an_unreadable_path(store: Directory, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as caught:
        store.import_csv(tmp_path / "missing.csv")
    assert caught.value.errors[0].reason.startswith("cannot read")


def test_validity_dates_out_of_order(store: Directory) -> None:
    text = ("id,name,parent,address,valid_from,valid_until\n"
            "t,T,,t@laocai.gov.vn,2026-01-01,2025-12-31\n")
    assert rejected(store, text) == [ImportRowError(
        2, None, problems.DATES_ORDER(until="2025-12-31", since="2026-01-01"))]
