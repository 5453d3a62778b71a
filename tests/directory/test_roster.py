"""The roster of officials' mailboxes: import (csv, doveadm, ldif), checks, history,
the index's resolution, privacy in the published files, and the schema migration."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from ldif import LDIFWriter

from directory import Directory, DirectoryConfig, DirectoryIndex, ImportRejected, UnknownUnit
from directory.roster import RosterFormat
from directory.schema import MIGRATIONS

D = "laocai.gov.vn"
UNITS = (
    "id,name,parent,address,aliases,active\n"
    f"ubnd-tinh,UBND tỉnh,,ubnd@{D},vanthu@{D},\n"
    f"so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@{D},,\n"
    f"stc-ngan-sach,Phòng Ngân sách,so-tai-chinh,pns@{D},,\n"
    f"so-noi-vu,Sở Nội vụ,ubnd-tinh,snv@{D},,\n"
    f"xa-cu,Xã Cũ,ubnd-tinh,xacu@{D},,no\n"
)
ROSTER = (
    "Unit;ADDRESS;full_name;position;created\n"
    f"so-tai-chinh;nguyen.van.a@{D};Nguyễn Văn A;Giám đốc;2024-01-15\n"
    f"stc-ngan-sach;tran.thi.b@{D};Trần Thị B;Chuyên viên;\n"
    f"so-noi-vu;le.van.c@{D};Lê Văn C;;\n"
    "so-noi-vu;pham.d@sở-nội-vụ.vn;Phạm D;;\n"
)


@pytest.fixture
def store(backend_store: Directory) -> Directory:
    """Every test here on both backends (SQLite and PostgreSQL)."""
    return backend_store


@pytest.fixture
def units(store: Directory) -> Directory:
    store.import_csv(UNITS, actor="fixture")
    return store


@pytest.fixture
def roster(units: Directory) -> Directory:
    units.import_mailboxes(ROSTER, actor="admin")
    return units


def by_address(store: Directory) -> dict[str, tuple[str, bool]]:
    return {m.address.addr_spec: (m.unit_id, m.is_active) for m in store.mailboxes()}


def problems(exc: pytest.ExceptionInfo[ImportRejected]) -> list[tuple[int, str | None, str]]:
    return [(e.row, e.column, e.reason) for e in exc.value.errors]


def test_a_csv_roster_imports_with_history_and_again_changes_nothing(units: Directory) -> None:
    summary = units.import_mailboxes(ROSTER, actor="admin")
    assert summary.created == (f"nguyen.van.a@{D}", f"tran.thi.b@{D}", f"le.van.c@{D}",
                               "pham.d@xn--s-ni-v-5n8bub8c.vn")
    assert by_address(units) == {
        f"le.van.c@{D}": ("so-noi-vu", True),
        f"nguyen.van.a@{D}": ("so-tai-chinh", True),
        "pham.d@xn--s-ni-v-5n8bub8c.vn": ("so-noi-vu", True),  # IDN stored as ASCII
        f"tran.thi.b@{D}": ("stc-ngan-sach", True),
    }
    [first] = [m for m in units.mailboxes() if m.full_name == "Nguyễn Văn A"]
    assert (first.position, first.created) == ("Giám đốc", date(2024, 1, 15))
    [change] = units.mailbox_history(f"nguyen.van.a@{D}")
    assert (change.actor, change.action, change.changes["unit"]) == (
        "admin", "created", (None, "so-tai-chinh"))
    again = units.import_mailboxes(ROSTER, actor="admin")
    assert (again.created, again.updated, again.deactivated, again.unchanged) == ((), (), (), 4)
    assert len(units.mailbox_history()) == 4
    # the units' own history is untouched by the roster
    assert {c.action for c in units.history()} == {"created"}


def test_missing_mailboxes_become_inactive_never_deleted_and_come_back(roster: Directory) -> None:
    kept = ROSTER.splitlines()[:2]
    summary = roster.import_mailboxes("\n".join(kept) + "\n", actor="admin")
    assert summary.deactivated == (f"le.van.c@{D}", "pham.d@xn--s-ni-v-5n8bub8c.vn",
                                   f"tran.thi.b@{D}")
    assert by_address(roster)[f"le.van.c@{D}"] == ("so-noi-vu", False)
    assert len(roster.mailboxes()) == 4
    [_, gone] = roster.mailbox_history(f"le.van.c@{D}")
    assert (gone.action, gone.changes) == ("deactivated", {"active": (True, False)})
    back = roster.import_mailboxes(ROSTER, actor="admin")
    assert len(back.updated) == 3 and by_address(roster)[f"le.van.c@{D}"][1] is True


def test_an_import_for_a_unit_covers_its_subtree_only(roster: Directory) -> None:
    text = f"address,full_name,unit\nnguyen.van.a@{D},Nguyễn Văn A,so-tai-chinh\n"
    summary = roster.import_mailboxes(text, unit="so-tai-chinh", actor="admin")
    assert summary.deactivated == (f"tran.thi.b@{D}",)  # Phòng Ngân sách is under it
    assert by_address(roster)[f"le.van.c@{D}"] == ("so-noi-vu", True)  # another subtree
    outside = text + f"le.van.c@{D},Lê Văn C,so-noi-vu\n"
    with pytest.raises(ImportRejected) as exc:
        roster.import_mailboxes(outside, unit="so-tai-chinh")
    assert problems(exc) == [
        (3, "unit", "the unit 'so-noi-vu' is outside the imported subtree (--unit)")]
    with pytest.raises(UnknownUnit):
        roster.import_mailboxes(text, unit="so-khong-co")
    assert [m.address.local for m in roster.mailboxes(unit="so-tai-chinh")] == [
        "nguyen.van.a", "tran.thi.b"]


def test_every_bad_row_is_reported_at_once_and_nothing_is_imported(units: Directory) -> None:
    text = (
        "address,full_name,unit,active,created\n"
        f"ok@{D},Được,so-tai-chinh,,\n"              # 2: fine
        f"ghost@{D},Ma,so-khong-co,,\n"              # 3: unknown unit
        f"late@{D},Muộn,so-noi-vu,,15/01/2024\n"     # 4: bad date
        f"OK@{D},Trùng,so-noi-vu,,\n"                # 5: duplicate address (any case)
        f"vanthu@{D},Văn thư,ubnd-tinh,,\n"          # 6: a unit's alias
        f"stc@{D},Sở,so-tai-chinh,,\n"               # 7: a unit's primary address
        f"maybe@{D},Có lẽ,so-noi-vu,maybe,\n"        # 8: bad active
        "not-an-address,X,so-noi-vu,,\n"             # 9: bad address
        f"noname@{D},,so-noi-vu,,\n"                 # 10: empty name
        f"short@{D},Ngắn\n"                          # 11: too few cells
        f"old@{D},Cũ,xa-cu,yes,\n"                   # 12: active mailbox of inactive unit
        f"Name <named@{D}>,Tên,so-noi-vu,,\n"        # 13: not bare
    )
    with pytest.raises(ImportRejected) as exc:
        units.import_mailboxes(text)
    assert [(row, column) for row, column, _ in problems(exc)] == [
        (3, "unit"), (4, "created"), (5, "address"), (6, "address"), (7, "address"),
        (8, "active"), (9, "address"), (10, "full_name"), (11, None), (12, "unit"),
        (13, "address"),
    ]
    reasons = dict(((row, column), reason) for row, column, reason in problems(exc))
    assert reasons[(3, "unit")] == "no unit has the id 'so-khong-co'"
    assert reasons[(4, "created")] == "'15/01/2024' is not a date as YYYY-MM-DD"
    assert reasons[(5, "address")] == f"OK@{D} is already listed on line 2"
    assert reasons[(6, "address")] == (f"vanthu@{D} is an official address of the unit "
                                       "'ubnd-tinh'; a unit's address cannot also be an "
                                       "official's mailbox")
    assert "the unit 'xa-cu' is inactive" in reasons[(12, "unit")]
    assert units.mailboxes() == []
    # --partial imports the good row and lists the rest
    summary = units.import_mailboxes(text, partial=True)
    assert summary.created == (f"ok@{D}",) and len(summary.skipped) == 11


@pytest.mark.parametrize(("text", "reasons"), [
    ("", [(1, None, "the file is empty")]),
    ("address,full_name,unit\n", [(1, None, "the file lists no mailbox; the roster would be "
                                            "emptied")]),
    ("address,unit\n", [(1, None, "missing column(s): full_name")]),
    ("Address,full_name,unit,email,UNIT\n", [
        (1, None, "unknown column(s): 'email'; the columns are: address, full_name, unit, "
                  "position, active, created, last_login"),
        (1, None, "column(s) given twice: unit")]),
])
def test_bad_files_are_refused_whole(units: Directory, text: str,
                                     reasons: list[tuple[int, None, str]]) -> None:
    with pytest.raises(ImportRejected) as exc:
        units.import_mailboxes(text)
    assert problems(exc) == reasons


def test_an_unreadable_or_non_utf8_file_is_refused(units: Directory, tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as exc:
        units.import_mailboxes(tmp_path)  # a folder: reading it fails
    assert exc.value.errors[0].row == 0 and "cannot read" in exc.value.errors[0].reason
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("address,full_name,unit\nx@laocai.gov.vn,Lê,ubnd-tinh\n"
                      .encode("cp1258"))
    with pytest.raises(ImportRejected) as exc:
        units.import_mailboxes(latin)
    assert [e.row for e in exc.value.errors] == [2]


def test_partial_keeps_a_bad_rows_mailbox_active(roster: Directory) -> None:
    text = ROSTER.replace(f"le.van.c@{D};Lê Văn C;;", f"le.van.c@{D};Lê Văn C;;not-a-date")
    summary = roster.import_mailboxes(text, partial=True)
    assert summary.deactivated == () and len(summary.skipped) == 1
    assert by_address(roster)[f"le.van.c@{D}"] == ("so-noi-vu", True)


def test_a_unit_cannot_take_an_active_roster_mailbox(roster: Directory) -> None:
    taken = UNITS.replace(f"so-noi-vu,Sở Nội vụ,ubnd-tinh,snv@{D},,",
                          f"so-noi-vu,Sở Nội vụ,ubnd-tinh,snv@{D},le.van.c@{D},")
    with pytest.raises(ImportRejected) as exc:
        roster.import_csv(taken)
    assert problems(exc) == [(5, "aliases", f"le.van.c@{D} is an official's mailbox on the "
                                            "roster (unit 'so-noi-vu'); take it off the "
                                            "roster first")]


def test_doveadm_listing_with_unit_and_map_keeps_names(roster: Directory,
                                                       tmp_path: Path) -> None:
    unit_map = tmp_path / "map.csv"
    unit_map.write_text(f"address,unit\nTRAN.THI.B@{D},stc-ngan-sach\n", encoding="utf-8")
    listing = f"nguyen.van.a@{D}\n\ntran.thi.b@{D}\nnew.one@{D}\n"
    summary = roster.import_mailboxes(listing, fmt=RosterFormat.DOVEADM, unit="so-tai-chinh",
                                      unit_map=unit_map)
    assert (summary.created, summary.deactivated, summary.unchanged) == (
        (f"new.one@{D}",), (), 2)
    names = {m.address.local: (m.full_name, m.unit_id) for m in roster.mailboxes()}
    assert names["nguyen.van.a"] == ("Nguyễn Văn A", "so-tai-chinh")  # kept from the store
    assert names["new.one"] == ("", "so-tai-chinh")
    with pytest.raises(ImportRejected) as exc:
        roster.import_mailboxes(f"x@{D}\nvmail\n", fmt=RosterFormat.DOVEADM, unit_map=unit_map)
    assert [(e.row, e.column) for e in exc.value.errors] == [(1, "unit"), (2, "address")]
    with pytest.raises(ValueError, match="needs a unit or a map"):
        roster.import_mailboxes(listing, fmt=RosterFormat.DOVEADM)


def _ldif(*entries: tuple[str, dict[str, list[str]]]) -> str:
    out = io.BytesIO()
    writer = LDIFWriter(out)  # python-ldap's writer: folds lines and base64-encodes UTF-8
    for dn, attributes in entries:
        writer.unparse(dn, {k: [v.encode() for v in vs] for k, vs in attributes.items()})
    return out.getvalue().decode("ascii")


def test_ldif_maps_mail_cn_title_and_ou_to_the_unit(units: Directory) -> None:
    text = _ldif(
        ("ou=people,dc=laocai,dc=gov,dc=vn", {"objectClass": ["organizationalUnit"]}),
        ("uid=a,ou=people,dc=laocai,dc=gov,dc=vn",
         {"mail": [f"nguyen.van.a@{D}"], "cn": ["Nguyễn Văn A"], "title": ["Giám đốc " * 10],
          "ou": ["sở tài chính"]}),
        ("uid=c,ou=so-noi-vu,dc=laocai,dc=gov,dc=vn",
         {"mail": [f"le.van.c@{D}"], "cn": ["Lê Văn C"]}),
    )
    summary = units.import_mailboxes(text, fmt=RosterFormat.LDIF)
    assert len(summary.created) == 2
    found = {m.address.local: (m.full_name, m.unit_id, m.position) for m in units.mailboxes()}
    assert found == {"nguyen.van.a": ("Nguyễn Văn A", "so-tai-chinh", ("Giám đốc " * 10).strip()),
                     "le.van.c": ("Lê Văn C", "so-noi-vu", "")}


def test_ldif_problems_are_reported_by_line(units: Directory) -> None:
    text = (
        "version: 1\n\n"
        f"dn: uid=a,dc=x\nmail: a@{D}\nou: Không có\ncn: A\n\n"      # 3: unknown ou
        f"dn: uid=b,dc=x\nmail: b@{D}\nou: so-noi-vu\n\n"            # 8: no cn
        "dn: uid=c,dc=x\nchangetype: delete\n\n"                   # 12: change record
        "cn: no dn\n"                                              # 15: no dn
    )
    with pytest.raises(ImportRejected) as exc:
        units.import_mailboxes(text, fmt=RosterFormat.LDIF)
    assert [(e.row, e.column) for e in exc.value.errors] == [
        (3, "ou"), (8, "cn"), (12, "changetype"), (15, "cn")]


def test_the_index_resolves_active_roster_mailboxes_to_their_unit(
        roster: Directory, backend_where: Path | DirectoryConfig) -> None:
    index = DirectoryIndex(Directory.open(backend_where))  # the filter's own connection
    assert index.unit_id("Nguyen.Van.A+hop@LaoCai.gov.vn") == "so-tai-chinh"
    assert index.unit_id("pham.d@sở-nội-vụ.vn") == "so-noi-vu"
    assert index.unit_id(f"stc@{D}") == "so-tai-chinh"
    assert index.mailbox(f"NGUYEN.VAN.A@{D}").full_name == "Nguyễn Văn A"  # type: ignore[union-attr]
    assert index.mailbox(f"stc@{D}") is None
    roster.import_mailboxes("\n".join(ROSTER.splitlines()[:2]) + "\n")
    assert index.refresh() is True  # a roster change alone rebuilds the snapshot
    assert index.unit_id(f"le.van.c@{D}") is None  # inactive: no longer resolved
    assert index.unit_id(f"nguyen.van.a@{D}") == "so-tai-chinh"
    assert index.refresh() is False
    index.close()


def test_the_roster_is_private_but_in_the_postfix_maps(roster: Directory, tmp_path: Path) -> None:
    roster.import_mailboxes(ROSTER.replace(f"so-noi-vu;le.van.c@{D};Lê Văn C;;",
                                           f"so-noi-vu;le.van.c@{D};Lê Văn C;;\n"
                                           f"so-noi-vu;le.van.c.cu@{D};Lê Văn C (cũ);;"))
    roster.import_mailboxes(ROSTER)  # le.van.c.cu becomes inactive
    out = tmp_path / "www"
    written = roster.publish(out)
    public = [p for p in written if "postfix" not in p.parts]
    assert {p.name for p in public} >= {"index.html", "directory.json", "directory.vcf",
                                        "directory.ldif", "directory.csv"}
    for path in public:
        text = path.read_text("utf-8")
        for needle in ("nguyen.van.a", "tran.thi.b", "le.van.c", "pham.d", "Nguyễn Văn A",
                       "Giám đốc"):
            assert needle not in text, (path.name, needle)
    recipients = (out / "postfix/recipients").read_text("utf-8").splitlines()
    logins = (out / "postfix/sender_logins").read_text("utf-8").splitlines()
    for address in (f"nguyen.van.a@{D}", f"le.van.c@{D}", "pham.d@xn--s-ni-v-5n8bub8c.vn"):
        assert f"{address}\tOK" in recipients
        assert f"{address}\t{address}" in logins  # owned by its own login only
    assert not [line for line in recipients + logins if "le.van.c.cu" in line]


def test_export_is_the_import_layout_and_round_trips(roster: Directory) -> None:
    text = roster.export_mailboxes_csv()
    assert text.splitlines()[0] == "address,full_name,unit,position,active,created,last_login"
    assert f"nguyen.van.a@{D},Nguyễn Văn A,so-tai-chinh,Giám đốc,yes,2024-01-15," in text
    again = roster.import_mailboxes(text)
    assert (again.created, again.updated, again.unchanged) == ((), (), 4)
    data = json.loads(roster.export_mailboxes_json())
    assert data[0] == {"address": f"le.van.c@{D}", "full_name": "Lê Văn C", "unit": "so-noi-vu",
                       "position": "", "active": True, "created": None, "last_login": None}


def test_the_migration_is_additive_and_the_previous_release_still_works(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.close()
    from sqlite_utils import Database

    db = Database(path)
    MIGRATIONS[0](db)  # the store as the previous release made it
    db.execute("PRAGMA user_version = 1")
    columns = {t: [c.name for c in db[t].columns] for t in db.table_names()}
    db.close()
    with Directory.open(path) as store:
        store.import_csv(UNITS, actor="new")
        store.import_mailboxes(ROSTER, actor="new")
        after = {t: [c.name for c in store.db[t].columns] for t in columns}
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 5
    # every old table keeps its columns in place (imports gains one at the end)
    assert {t: cols[: len(columns[t])] for t, cols in after.items()} == columns
    # the previous release's own writes (no kind column named) still work
    with sqlite3.connect(path) as old:
        old.execute("INSERT INTO imports (at, actor, source, created, updated, deactivated,"
                    " skipped) VALUES ('2026-01-01', 'old', 'x.csv', 0, 0, 0, 0)")
        kinds = [row[0] for row in old.execute("SELECT kind FROM imports ORDER BY id")]
    assert kinds == ["units", "mailboxes", "units"]
