"""A unit's identifier code in the national document exchange (``organ_id``): read,
checked, stored, exported and published, and a store of the previous release, which
had no such column, keeps working in both directions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from directory import Directory, ImportRejected
from directory.merge import MergeRejected, merge_files
from directory.model import parse_organ_id
from directory.schema import MIGRATIONS

HEADER = "id,name,parent,address,organ_id\n"
CODED = (
    HEADER
    + "tinh,UBND tỉnh Lào Cai,,ubnd@laocai.gov.vn,000.00.00.H41\n"
    + "stc,Sở Tài chính,tinh,stc@laocai.gov.vn, 000.01.21.h41 \n"
    + "snv,Sở Nội vụ,tinh,snv@laocai.gov.vn,\n"
)


@pytest.mark.parametrize("code", ["000.00.00.H41", "000.01.21.H41", "G12.34.56.A01",
                                  "000.00.00.G10"])
def test_codes_of_the_exchange_are_accepted(code: str) -> None:
    assert parse_organ_id(code) == code
    assert parse_organ_id(f" {code.lower()} ") == code


@pytest.mark.parametrize("code", [
    "000.00.00.141",        # the level-1 group starts with a letter
    "000.00.00",            # three groups
    "000.00.00.H41.01",     # five
    "0000.0.00.H41",        # groups of the wrong lengths
    "000-00-00-H41",        # another separator
    "000.00.00.H4Đ",        # not ASCII
    "000.00.00.H 1",
])
def test_anything_else_is_refused_with_the_form(code: str) -> None:
    with pytest.raises(ValueError, match=r"four groups .* \(000\.00\.00\.H41\)"):
        parse_organ_id(code)


def test_codes_are_imported_upper_case_and_none_when_empty(store: Directory) -> None:
    store.import_csv(CODED, actor="admin")
    assert [(u.id, u.organ_id) for u in store.units()] == [
        ("tinh", "000.00.00.H41"), ("stc", "000.01.21.H41"), ("snv", None)]
    assert store.history("stc")[0].changes["organ_id"] == (None, "000.01.21.H41")


def test_every_bad_code_and_a_code_given_twice_are_listed_at_once(store: Directory) -> None:
    text = (HEADER + "tinh,UBND tỉnh,,ubnd@laocai.gov.vn,000.00.00.H41\n"
            + "stc,Sở Tài chính,tinh,stc@laocai.gov.vn,H41\n"
            + "snv,Sở Nội vụ,tinh,snv@laocai.gov.vn,000.00.00.h41\n"
            + "sct,Sở Công Thương,tinh,sct@laocai.gov.vn,000.00.00.1X1\n")
    with pytest.raises(ImportRejected) as caught:
        store.import_csv(text)
    assert [(e.row, e.column) for e in caught.value.errors] == [
        (3, "organ_id"), (4, "organ_id"), (5, "organ_id")]
    assert "'H41' is not an agency's identifier code" in caught.value.errors[0].reason
    assert caught.value.errors[1].reason == (
        "the identifier code 000.00.00.H41 is already the code of 'tinh' (line 2); a code "
        "names one unit (clear it on a merged one)")
    assert store.units() == []


def test_exports_carry_the_code_and_import_back_unchanged(store: Directory,
                                                          tmp_path: Path) -> None:
    store.import_csv(CODED)
    exported = store.export_csv()
    assert exported.splitlines()[0].endswith(",organ_id")
    assert exported.splitlines()[2].endswith(",000.01.21.H41")
    assert store.import_csv(exported).unchanged == 3
    units = {u["id"]: u for u in json.loads(store.export_json())["units"]}
    assert (units["stc"]["organ_id"], units["snv"]["organ_id"]) == ("000.01.21.H41", None)

    store.publish(tmp_path / "out")
    published = json.loads((tmp_path / "out" / "directory.json").read_text("utf-8"))
    assert published["units"][0]["organ_id"] == "000.00.00.H41"
    schema = json.loads((tmp_path / "out" / "directory.schema.json").read_text("utf-8"))
    assert schema["$defs"]["PublishedUnit"]["properties"]["organ_id"]["anyOf"] == [
        {"type": "string"}, {"type": "null"}]
    public_csv = (tmp_path / "out" / "directory.csv").read_text("utf-8")
    assert "000.01.21.H41" in public_csv


def test_a_merge_refuses_one_code_in_two_provinces(tmp_path: Path) -> None:
    one = tmp_path / "a.csv"
    one.write_text(HEADER + "tinh,UBND tỉnh A,,ubnd@a.gov.vn,000.00.00.H41\n", "utf-8")
    other = tmp_path / "b.csv"
    other.write_text(HEADER + "tinh,UBND tỉnh B,,ubnd@b.gov.vn,000.00.00.h41\n", "utf-8")
    with pytest.raises(MergeRejected) as caught:
        merge_files([one, other], ["a", "b"])
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.column) == (str(other), 2, "organ_id")
    assert "000.00.00.H41 is also the code of 'tinh' in" in problem.reason


# -- a store of the previous release ------------------------------------------------

#: The previous release's write of a unit, verbatim (it names no organ_id column).
PREVIOUS_UPSERT = (
    "INSERT INTO units (id, name, short_name, name_en, kind, parent, dkim_domain,"
    " certificate, phone, website, active, valid_from, valid_until, successor,"
    " document_certificates, position)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
    " short_name = excluded.short_name, name_en = excluded.name_en,"
    " kind = excluded.kind, parent = excluded.parent,"
    " dkim_domain = excluded.dkim_domain, certificate = excluded.certificate,"
    " phone = excluded.phone, website = excluded.website,"
    " active = excluded.active, valid_from = excluded.valid_from,"
    " valid_until = excluded.valid_until, successor = excluded.successor,"
    " document_certificates = excluded.document_certificates")
#: The previous release's read of the units, verbatim.
PREVIOUS_SELECT = (
    "SELECT id, name, short_name, name_en, kind, parent, dkim_domain, certificate, "
    "phone, website, active, valid_from, valid_until, successor, document_certificates "
    "FROM units ORDER BY position, id")


def test_a_store_of_the_previous_release_opens_and_both_releases_keep_working(
        tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = Database(sqlite3.connect(path))
    for number, migration in enumerate(MIGRATIONS[:4], start=1):  # the previous release's
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
    db.execute(PREVIOUS_UPSERT, ["tinh", "UBND tỉnh", "", "", "", None, "", "", "", "",
                                 1, None, None, None, "", 0])
    db.execute("INSERT INTO addresses VALUES ('ubnd@laocai.gov.vn', 'ubnd', 'laocai.gov.vn',"
               " 'tinh', 1, 0)")
    db.conn.commit()
    db.close()

    with Directory.open(path) as store:  # migrates
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        [unit] = store.units()
        assert (unit.id, unit.organ_id) == ("tinh", None)
        store.import_csv(HEADER + "tinh,UBND tỉnh,,ubnd@laocai.gov.vn,000.00.00.H41\n")

    # rolled back, the previous release reads the units and rewrites one: the code stays
    with sqlite3.connect(path) as old:
        assert [row[0] for row in old.execute(PREVIOUS_SELECT)] == ["tinh"]
        old.execute(PREVIOUS_UPSERT, ["tinh", "UBND tỉnh Lào Cai", "", "", "", None, "", "",
                                      "", "", 1, None, None, None, "", 0])
    with Directory.open(path, read_only=True) as store:
        [unit] = store.units()
        assert (unit.name, unit.organ_id) == ("UBND tỉnh Lào Cai", "000.00.00.H41")
