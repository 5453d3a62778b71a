"""A merger's id map applied to a log's history, and the report's roll-up of
predecessors, through `congvu audit ...` on a real store: records keep the ids they
were written with, readers see the new ones for records written before the rename
only, and the figures add up with and without ``--with-predecessors``."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import AdminEvent, AdminKind, Completion, Fate
from audit.renames import MAX_RENAMES, IdMapError, UnitRenames, read_id_map
from audit.store import AuditLog
from directory import Unit, parse_official_address, predecessors, rolled_into
from support.audit import T0, make_record

IDS = ("file,old_id,new_id\r\n"
       "lamdong.csv,so-tai-chinh,ld-so-tai-chinh\r\n"
       "lamdong.csv,ubnd-tinh,ld-ubnd-tinh\r\n"
       "lamdong.csv,phuong-1-da-lat,phuong-1-da-lat\r\n"
       "binhthuan.csv,so-tai-chinh,bt-so-tai-chinh\r\n"
       "daknong.csv,phuong-1-gia-nghia,phuong-1-gia-nghia\r\n")
#: the new province's directory: the old departments merged into stc-moi
UNITS = [Unit(u, u, parse_official_address(f"{u}@lamdong.gov.vn"), successor=s) for u, s in (
    ("stc-moi", None), ("ld-so-tai-chinh", "stc-moi"), ("bt-so-tai-chinh", "stc-moi"),
    ("ld-ubnd-tinh", None), ("so-tai-chinh", None), ("phuong-1-da-lat", None))]


def run(cli: click.Group, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def sent(log: AuditLog, at: int, unit: str, to: list[str]) -> int:
    rid = log.record(make_record(received_at=T0 + timedelta(hours=at), sender_unit=unit,
                                 recipient_units=to, subject=f"thư {at}"))
    log.complete(Completion(record_id=rid, outcome=Fate.RELAYED, reply="250 2.0.0 Ok",
                            at=T0 + timedelta(hours=at, seconds=1)))
    return rid


@pytest.fixture
def history(audit_config: AuditConfig, tmp_path: Path) -> dict[str, Any]:
    """The old Lâm Đồng log: two records with its old ids, the rename, then two with
    the new directory's (one by a unit that took an old id, so-tai-chinh)."""
    with AuditLog.open(audit_config) as log:
        old = [sent(log, 1, "so-tai-chinh", ["ubnd-tinh"]), sent(log, 2, "phuong-1-da-lat", [])]
    (tmp_path / "ids.csv").write_text(IDS, encoding="utf-8")
    [group] = commands(
        lambda _path: audit_config,
        predecessors=lambda unit: sorted(predecessors(UNITS, [unit])),
        rollup=lambda reported: rolled_into(UNITS, reported))
    assert isinstance(group, click.Group)
    code, output = run(group, "rename-units", "--map", str(tmp_path / "ids.csv"),
                       "--file", "lamdong.csv", "--actor", "admin")
    assert (code, output) == (0, "lamdong.csv: 2 unit id(s) renamed for the records before "
                                 "event 5\n")
    with AuditLog.open(audit_config) as log:
        new = [sent(log, 3, "so-tai-chinh", []),
               sent(log, 4, "stc-moi", ["ld-so-tai-chinh", "bt-so-tai-chinh"]),
               sent(log, 5, "bt-so-tai-chinh", ["stc-moi"])]
    return {"cli": group, "old": old, "new": new, "map": tmp_path / "ids.csv"}


def ids(cli: click.Group, *args: str) -> set[int]:
    code, output = run(cli, "query", "--format", "json", *args)
    assert code == 0, output
    return {record["id"] for record in json.loads(output)["records"]}


def test_records_before_the_rename_are_read_with_the_new_ids(history: dict[str, Any]) -> None:
    cli, (r1, r2), (r3, r4, _r5) = history["cli"], history["old"], history["new"]
    assert ids(cli, "--unit", "ld-so-tai-chinh") == {r1, r4}
    assert ids(cli, "--unit", "ld-ubnd-tinh") == {r1}
    # the unit that took an old id after the rename has only its own mail
    assert ids(cli, "--unit", "so-tai-chinh") == {r3}
    assert ids(cli, "--sender-unit", "ld-so-tai-chinh") == {r1}
    assert ids(cli, "--unit", "phuong-1-da-lat") == {r2}
    output = run(cli, "show", str(r1))[1]
    shown = json.loads(output)
    assert (shown["sender_unit"], shown["recipient_units"]) == ("ld-so-tai-chinh",
                                                                ["ld-ubnd-tinh"])
    assert shown["units_as_written"] == {"sender_unit": "so-tai-chinh",
                                         "recipient_units": ["ubnd-tinh"]}
    assert "units_as_written" not in json.loads(run(cli, "show", str(r3))[1])
    output = run(cli, "query", "--format", "json", "--unit", "ld-so-tai-chinh")[1]
    assert {r["sender_unit"] for r in json.loads(output)["records"]} == {"ld-so-tai-chinh",
                                                                          "stc-moi"}
    assert run(cli, "verify")[0] == 0


def test_with_predecessors_a_query_covers_the_units_merged_in(history: dict[str, Any]) -> None:
    cli, (r1, _r2), (_r3, r4, r5) = history["cli"], history["old"], history["new"]
    assert ids(cli, "--unit", "stc-moi") == {r4, r5}
    assert ids(cli, "--unit", "stc-moi", "--with-predecessors") == {r1, r4, r5}
    assert ids(cli, "--sender-unit", "stc-moi", "--with-predecessors") == {r1, r4, r5}


def report(cli: click.Group, *args: str) -> dict[str, dict[str, int]]:
    code, output = run(cli, "report", "--period", "2026-11", "--format", "json", *args)
    assert code == 0, output
    return {row["unit"]: row for row in json.loads(output)["rows"] if not row["mailbox"]}


def test_the_report_rolls_predecessors_in_only_when_asked_and_adds_up(
    history: dict[str, Any],
) -> None:
    cli = history["cli"]
    apart, rolled = report(cli), report(cli, "--with-predecessors")
    merged = ("stc-moi", "ld-so-tai-chinh", "bt-so-tai-chinh")
    assert [apart[u]["sent"] for u in merged] == [1, 1, 1]
    assert [apart[u]["received"] for u in merged] == [1, 1, 1]
    assert "ld-so-tai-chinh" not in rolled and "bt-so-tai-chinh" not in rolled
    assert rolled["stc-moi"]["sent"] == sum(apart[u]["sent"] for u in merged) == 3
    # the message to two predecessors is received once by their successor, and the
    # one from a predecessor to it once
    assert rolled["stc-moi"]["received"] == 2
    assert rolled[""]["sent"] == apart[""]["sent"] == 5
    assert rolled[""]["received"] == apart[""]["received"]
    named = report(cli, "--unit", "stc-moi", "--with-predecessors")
    assert list(named) == ["stc-moi", ""]
    assert named["stc-moi"]["sent"] == 3
    # a predecessor named beside its successor is rolled into it too
    assert report(cli, "--unit", "ld-so-tai-chinh", "--unit", "stc-moi",
                  "--with-predecessors") == named


def test_a_map_is_recorded_once_for_a_file_it_has(history: dict[str, Any]) -> None:
    cli, path = history["cli"], str(history["map"])
    code, output = run(cli, "rename-units", "--map", path, "--file", "lamdong.csv")
    assert code == 2 and "this map was recorded already (event 5" in output
    code, output = run(cli, "rename-units", "--map", path, "--file", "hanoi.csv")
    assert code == 2 and ("the map has no file 'hanoi.csv'; it has: binhthuan.csv, "
                          "daknong.csv, lamdong.csv") in output
    assert run(cli, "rename-units", "--map", path, "--file", "daknong.csv") == (
        0, "daknong.csv: every id kept its name; nothing to rename\n")
    assert run(cli, "--help")[0] == 0


@pytest.mark.parametrize(("text", "reason"), [
    ("", "not an id map"),
    ("id,name\r\n", "not an id map"),
    ("file,old_id,new_id\r\nlamdong.csv,a\r\n", "line 2: three cells"),
    ("file,old_id,new_id\r\nlamdong.csv,a,b\r\nlamdong.csv,a,c\r\n", "'a' is renamed twice"),
])
def test_a_bad_map_is_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(IdMapError, match=reason):
        read_id_map(text, "lamdong.csv")


def test_renames_compose_and_stay_in_their_stretch_of_the_log() -> None:
    renames = UnitRenames(((10, {"a": "b"}), (20, {"b": "c", "x": "y"})))
    assert [renames.resolve("a", seq) for seq in (5, 15, 25)] == ["c", "a", "a"]
    assert [renames.resolve("b", seq) for seq in (5, 15, 25)] == ["c", "c", "b"]
    assert renames.written_as(["c"]) == [(None, 10, ("a", "b", "c")), (10, 20, ("b", "c")),
                                         (20, None, ("c",))]
    assert renames.written_as(["b"]) == [(20, None, ("b",))]
    sql, params = renames.condition("m.unit_id", "m.record_id", ["b"])
    assert (sql, params) == ("((m.unit_id IN (?) AND m.record_id >= ?))", ["b", 20])
    sql, params = renames.condition("m.unit_id", "m.record_id", ["a"])
    assert (sql, params) == ("((m.unit_id IN (?) AND m.record_id >= ?))", ["a", 10])


def test_renames_are_refused_past_the_number_the_log_reads(
    history: dict[str, Any], audit_config: AuditConfig, tmp_path: Path,
) -> None:
    with AuditLog.open(audit_config) as log:
        log.write([AdminEvent(kind=AdminKind.UNITS_RENAMED, actor="test", target=f"p{n}",
                              details={f"old-{n}": f"new-{n}"})
                   for n in range(MAX_RENAMES - 2)])  # the fixture's is one more
    cli = history["cli"]
    for n, expected in ((MAX_RENAMES - 1, 0), (MAX_RENAMES, 2)):
        (tmp_path / f"{n}.csv").write_text(f"file,old_id,new_id\r\nx.csv,a{n},b{n}\r\n",
                                           encoding="utf-8")
        code, output = run(cli, "rename-units", "--map", str(tmp_path / f"{n}.csv"),
                           "--file", "x.csv")
        assert code == expected, output
    assert f"as many as it reads ({MAX_RENAMES})" in output
    assert ids(cli, "--unit", "ld-so-tai-chinh") == {history["old"][0], history["new"][1]}


def test_the_archive_reads_a_record_by_its_new_units(history: dict[str, Any],
                                                     audit_config: AuditConfig) -> None:
    """Retention rules and legal holds by unit name the new ids: they cover the mail
    the old ids sent."""
    (r1, _r2), (r3, _r4, _r5) = history["old"], history["new"]
    with AuditLog.open_readonly(audit_config.path) as log:
        (old,) = log.archived(record_id=r1)
        (new,) = log.archived(record_id=r3)
    assert old.units == ("ld-so-tai-chinh", "ld-ubnd-tinh")
    assert new.units == ("so-tai-chinh",)


def test_the_renames_are_found_through_an_index_not_a_scan_of_the_log(
        audit_config: AuditConfig) -> None:
    # every query reads the renames: a scan of the whole log in seq order cost 3 s a
    # console page on a log of a million records
    with AuditLog.open(audit_config) as log:
        sent(log, 1, "so-tai-chinh", [])
    with sqlite3.connect(audit_config.path) as conn:
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT seq, detail FROM events WHERE kind = 'admin' "
            "AND admin_kind = ? ORDER BY seq", (AdminKind.UNITS_RENAMED.value,)).fetchall()
    assert [row[-1] for row in plan] == [
        "SEARCH events USING INDEX events_admin_kind (admin_kind=?)"]
