"""The store: re-imports, inactive units, history, reads, exports, the schema; every
test that takes ``store`` runs on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from directory import Directory, StoreError, Unit, UnknownUnit
from support.province import province_rows, to_csv


@pytest.fixture
def store(backend_store: Directory) -> Directory:
    return backend_store


def id_of(unit: Unit) -> str:
    return unit.id


GOOD = ("id,name,parent,address,aliases,senders\n"
        "tinh,UBND tỉnh Lào Cai,,ubnd@laocai.gov.vn,vanthu@laocai.gov.vn,admin\n"
        "stc,Sở Tài chính,tinh,stc@laocai.gov.vn,taichinh@laocai.gov.vn,nva;ttb\n"
        "phong,Phòng Ngân sách,stc,ngansach@laocai.gov.vn,,\n"
        "snv,Sở Nội vụ,tinh,snv@laocai.gov.vn,,\n")


def test_reimporting_the_same_file_changes_nothing(store: Directory) -> None:
    store.import_csv(GOOD, actor="a")
    revision = store.revision()
    summary = store.import_csv(GOOD, actor="b")
    assert (summary.created, summary.updated, summary.deactivated) == ((), (), ())
    assert summary.unchanged == 4
    assert store.revision() == revision


def test_changes_are_recorded_with_who_when_and_what(store: Directory) -> None:
    store.import_csv(GOOD, actor="nguyen.van.a")
    summary = store.import_csv(GOOD.replace("Sở Nội vụ", "Sở Nội vụ tỉnh"), actor="tran.b")
    assert summary.updated == ("snv",)
    created, updated = store.history("snv")
    assert (created.action, created.actor, updated.action, updated.actor) == (
        "created", "nguyen.van.a", "updated", "tran.b")
    assert updated.changes == {"name": ("Sở Nội vụ", "Sở Nội vụ tỉnh")}
    assert updated.at >= created.at and updated.at.tzinfo is not None


def test_units_missing_from_a_reimport_become_inactive_never_deleted(store: Directory) -> None:
    store.import_csv(GOOD)
    summary = store.import_csv(GOOD.replace("snv,Sở Nội vụ,tinh,snv@laocai.gov.vn,,\n", ""))
    assert summary.deactivated == ("snv",)
    assert "made inactive (missing from the file): snv" in str(summary)
    unit = store.get("snv@laocai.gov.vn")
    assert not unit.is_active
    assert store.history("snv")[-1].changes == {"active": (True, False)}
    assert [u.id for u in store.units(include_inactive=False)] == ["tinh", "stc", "phong"]
    # already inactive: a second import does not list it again
    assert store.import_csv(GOOD.replace("snv,Sở Nội vụ,tinh,snv@laocai.gov.vn,,\n", "")
                            ).deactivated == ()
    # back in the file: active again
    assert store.import_csv(GOOD).updated == ("snv",)
    assert store.get("snv").is_active


def test_addresses_can_move_between_units_in_one_import(store: Directory) -> None:
    store.import_csv(GOOD)
    moved = GOOD.replace(",taichinh@laocai.gov.vn,", ",,").replace(
        "snv@laocai.gov.vn,,", "snv@laocai.gov.vn,taichinh@laocai.gov.vn,")
    assert set(store.import_csv(moved).updated) == {"stc", "snv"}
    assert store.get("taichinh@laocai.gov.vn").id == "snv"


def test_get_by_id_address_alias_plus_tag_and_any_case(store: Directory) -> None:
    store.import_csv(GOOD)
    assert store.get("stc").senders == ("nva", "ttb")
    assert store.get("STC@LaoCai.GOV.VN").id == "stc"
    assert store.get("taichinh+ke-toan@laocai.gov.vn").id == "stc"
    for key in ("nobody@laocai.gov.vn", "nope", "", "bad@@address"):
        with pytest.raises(UnknownUnit) as caught:
            store.get(key)
        assert caught.value.key == key


def test_ancestors_run_from_the_unit_to_the_root(store: Directory) -> None:
    store.import_csv(GOOD)
    assert store.ancestors("phong") == ["phong", "stc", "tinh"]
    assert store.ancestors("tinh") == ["tinh"]
    with pytest.raises(UnknownUnit):
        store.ancestors("nope")


def test_exported_csv_imports_back_unchanged(province: Directory, tmp_path: Path) -> None:
    text = province.export_csv()
    again = Directory.open(tmp_path / "again.sqlite3")
    again.import_csv(text)
    assert sorted(again.units(), key=id_of) == sorted(province.units(), key=id_of)
    assert province.import_csv(province.export_csv(bom=True)).unchanged == 1000


def test_children_listed_before_parents_import_and_export_parents_first(store: Directory) -> None:
    rows = province_rows(250)
    store.import_csv(to_csv(list(reversed(rows))))
    exported = store.export_csv().splitlines()
    assert exported[1].startswith("ubnd-tinh,")


def test_the_tables_are_strict_and_not_null(tmp_path: Path) -> None:
    store = Directory.open(tmp_path / "d.sqlite3")
    schema = {row[0]: row[1] for row in store.db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
    for table in ("units", "addresses", "senders", "history", "imports", "mailboxes",
                  "mailbox_history"):
        assert schema[table].rstrip().endswith("STRICT"), table
    assert '"unit_id" TEXT NOT NULL' in schema["addresses"]
    assert '"unit_id" TEXT NOT NULL' in schema["mailboxes"]
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == 5


def test_reopening_a_store_keeps_its_data(tmp_path: Path) -> None:
    with Directory.open(tmp_path / "d.sqlite3") as first:
        first.import_csv(GOOD)
    with Directory.open(tmp_path / "d.sqlite3", read_only=True) as second:
        assert len(second.units()) == 4


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as caught:
        Directory.open(path)
    assert caught.value.path == str(path)


def test_read_only_open_of_a_missing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such directory store"):
        Directory.open(tmp_path / "missing.sqlite3", read_only=True)


def test_writing_to_a_read_only_store_is_a_store_error(tmp_path: Path) -> None:
    Directory.open(tmp_path / "d.sqlite3").close()
    with Directory.open(tmp_path / "d.sqlite3", read_only=True) as directory, \
            pytest.raises(StoreError, match="writing the import failed") as caught:
        directory.import_csv(GOOD)
    assert isinstance(caught.value.__cause__, sqlite3.Error)
