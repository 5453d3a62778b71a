"""``congvu archive prune`` on real stores: it removes only what its retention class let
expire and no legal hold keeps, writes the ledger first and a chained ``archive-prune``
event naming it, keeps the audit chain intact, and ``archive verify`` then reports
those messages as pruned. Holds and their releases are chained admin events."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from archive import Archive
from audit import Action, AuditConfig, AuditLog, AuditRecord, Direction, Role
from congvu.cli import main
from directory import Directory

UNITS = ("id,name,parent,address\n"
         "ubnd-tinh,UBND tỉnh,,ubnd@lamdong.gov.vn\n"
         "sotc,Sở Tài chính,ubnd-tinh,sotc@lamdong.gov.vn\n"
         "snv,Sở Nội vụ,ubnd-tinh,snv@lamdong.gov.vn\n")
CONFIG = """
[archive]
keep_years = 10

[[archive.retention]]
name = "5-nam"
years = 5
units = ["snv"]
directions = ["inbound"]

[[archive.retention]]
name = "vinh-vien"
years = "permanent"
units = ["ubnd-tinh"]
directions = ["outbound"]
"""
NOW = datetime.now(UTC)


class Site:
    """A data directory with a directory of units, an audit store and an archive."""

    def __init__(self, root: Path) -> None:
        self.data = root / "var"
        self.config = root / "congvu.toml"
        self.config.write_text(f'[service]\ndata_dir = "{self.data}"\n' + CONFIG)
        self.data.mkdir()
        store = Directory.open(self.data / "directory.sqlite3")
        store.import_csv(UNITS, actor="test")
        store.close()
        self.archive = Archive.open(self.data / "archive")
        self.audit = AuditConfig(path=self.data / "audit.sqlite3", keys_dir=self.data / "keys")

    def relayed(self, body: str, *, years_ago: float, direction: Direction,
                sender_unit: str | None = None, to: tuple[str, ...] = (),
                rcpt: str = "vanthu@lamdong.gov.vn",
                subject: str | None = None) -> tuple[int, str]:
        """A record of a message relayed ``years_ago``, its bytes archived then (the
        object's time is when it was last stored)."""
        sha = self.archive.put(f"Subject: {body}\r\n\r\n{body}\r\n".encode()).sha256
        at = NOW - timedelta(days=365.25 * years_ago)
        os.utime(self.archive.path_of(sha), (at.timestamp(), at.timestamp()))
        with AuditLog.open(self.audit) as log:
            rid = log.record(AuditRecord(
                received_at=at, decided_at=at, listener="f", role=Role.AUTO,
                direction=direction, envelope_sender="x@lamdong.gov.vn", size=10,
                envelope_recipients=[rcpt],
                action=Action.ACCEPT, processing_ms=1.0, sender_unit=sender_unit,
                recipient_units=list(to), archived_sha256=sha, subject=subject))
        return rid, sha

    def congvu(self, *args: str) -> Result:
        return CliRunner().invoke(main, [*args, "--config", str(self.config)])


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


def test_prune_removes_only_what_expired_records_it_and_verify_says_pruned(
        site: Site) -> None:
    inbound, outbound = Direction.INBOUND, Direction.OUTBOUND
    expired_snv = site.relayed("snv, 6 years", years_ago=6, direction=inbound, to=("snv",))
    kept_snv = site.relayed("snv, 4 years", years_ago=4, direction=inbound, to=("snv",))
    sent = site.relayed("sent by sotc", years_ago=30, direction=outbound,
                        sender_unit="sotc", to=("snv",))  # the province's: permanent
    to_sotc = site.relayed("to sotc, 6 years", years_ago=6, direction=inbound, to=("sotc",))
    expired_sotc = site.relayed("to sotc, 11 years", years_ago=11, direction=inbound,
                                to=("sotc",))
    # the same bytes received again last year: kept for the newer record
    again = site.relayed("again", years_ago=7, direction=inbound, to=("snv",))
    site.relayed("again", years_ago=1, direction=inbound, to=("snv",))

    dry = site.congvu("archive", "prune", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert sorted(line.split()[1].rstrip(":") for line in dry.stdout.splitlines()
                  if line.startswith("expired")) == sorted([expired_snv[1], expired_sotc[1]])
    assert "nothing removed (--dry-run)" in dry.stdout
    assert all(site.archive.path_of(sha).exists() for _, sha in (expired_snv, expired_sotc))

    done = site.congvu("archive", "prune", "--actor", "van-thu")
    assert done.exit_code == 0, done.output
    assert "removed 2 archived message(s)" in done.stdout
    assert not site.archive.path_of(expired_snv[1]).exists()
    assert not site.archive.path_of(expired_sotc[1]).exists()
    for _, sha in (kept_snv, sent, to_sotc, again):
        assert site.archive.get(sha)
    [ledger] = (site.data / "archive" / "pruned").iterdir()
    entries = json.loads(ledger.read_bytes())["messages"]
    assert {(e["sha256"], tuple(e["records"]), e["retention"]) for e in entries} == {
        (expired_snv[1], (expired_snv[0],), "5-nam"),
        (expired_sotc[1], (expired_sotc[0],), "default")}
    with AuditLog.open(site.audit) as log:
        [event] = log.admin_events(kind="archive-prune")
        assert log.verify().is_intact
    assert (event["actor"], event["details"]["removed"]) == ("van-thu", 2)
    assert event["details"]["ledger_sha256"] == hashlib.sha256(ledger.read_bytes()).hexdigest()

    checked = site.congvu("archive", "verify")
    assert checked.exit_code == 0, checked.output
    pruned = [line for line in checked.stdout.splitlines() if " pruned " in line]
    assert sorted(line.split(":")[0] for line in pruned) == sorted(
        [f"record {expired_snv[0]}", f"record {expired_sotc[0]}"])
    assert "(2 removed by retention)" in checked.stdout
    # a second prune finds nothing more to remove
    again_run = site.congvu("archive", "prune")
    assert again_run.exit_code == 0 and "0 archived message(s) expired" in again_run.stdout


def test_a_message_missing_without_a_ledger_is_a_problem_not_pruned(site: Site) -> None:
    rid, sha = site.relayed("lost", years_ago=1, direction=Direction.INBOUND, to=("snv",))
    site.archive.path_of(sha).unlink()
    checked = site.congvu("archive", "verify")
    assert checked.exit_code == 1
    assert f"record {rid}: missing {sha}" in checked.stdout


def test_nothing_is_pruned_by_default(site: Site) -> None:
    site.config.write_text(f'[service]\ndata_dir = "{site.data}"\n')
    site.relayed("old", years_ago=80, direction=Direction.INBOUND, to=("snv",))
    done = site.congvu("archive", "prune")
    assert done.exit_code == 0 and "0 archived message(s) expired" in done.stdout
    assert not (site.data / "archive" / "pruned").exists()


def test_a_hold_keeps_what_expired_until_it_is_released(site: Site) -> None:
    inbound = Direction.INBOUND
    held = site.relayed("snv, held", years_ago=6, direction=inbound, to=("snv",))
    by_mailbox = site.relayed("sotc, to a held mailbox", years_ago=12, direction=inbound,
                              to=("sotc",), rcpt="Ke-Toan@lamdong.gov.vn")
    free = site.relayed("sotc, 12 years", years_ago=12, direction=inbound, to=("sotc",))
    placed = site.congvu("archive", "hold", "add", "--unit", "ubnd-tinh", "--since",
                         (NOW - timedelta(days=365 * 8)).date().isoformat(),
                         "--until", (NOW - timedelta(days=365 * 3)).date().isoformat(),
                         "--reason", "Thanh tra số 12", "--requested-by", "Thanh tra tỉnh",
                         "--actor", "admin")
    assert placed.exit_code == 0, placed.output
    unit_hold = int(placed.stdout.split()[-1])
    placed = site.congvu("archive", "hold", "add", "--mailbox", "ke-toan@lamdong.gov.vn",
                         "--reason", "Vụ việc 3", "--requested-by", "Công an tỉnh")
    mailbox_hold = int(placed.stdout.split()[-1])
    listed = site.congvu("archive", "hold", "list").stdout.splitlines()
    assert [line.split(":")[0] for line in listed] == [f"hold {unit_hold}",
                                                       f"hold {mailbox_hold}"]
    assert "unit ubnd-tinh and below" in listed[0] and "Thanh tra tỉnh" in listed[0]

    done = site.congvu("archive", "prune")
    assert done.exit_code == 0, done.output
    assert f"held {held[1]}: expired, kept by hold {unit_hold}" in done.stdout
    assert f"held {by_mailbox[1]}: expired, kept by hold {mailbox_hold}" in done.stdout
    assert "removed 1 archived message(s)" in done.stdout
    assert site.archive.get(held[1]) and site.archive.get(by_mailbox[1])
    assert not site.archive.path_of(free[1]).exists()

    released = site.congvu("archive", "hold", "release", str(unit_hold), "--reason",
                           "Kết thúc thanh tra", "--actor", "admin")
    assert released.exit_code == 0, released.output
    assert site.congvu("archive", "prune").exit_code == 0
    assert not site.archive.path_of(held[1]).exists()
    assert site.archive.get(by_mailbox[1])  # its own hold is still in force
    with AuditLog.open(site.audit) as log:
        kinds = [e["kind"] for e in reversed(log.admin_events())]
        assert log.verify().is_intact
    assert kinds == ["archive-hold", "archive-hold", "archive-prune",
                     "archive-hold-release", "archive-prune"]


def test_a_hold_on_a_query_keeps_what_the_search_finds(site: Site) -> None:
    inbound = Direction.INBOUND
    tender = site.relayed("a", years_ago=12, direction=inbound, to=("sotc",),
                          subject="Hồ sơ đấu thầu gói số 7")
    weekly = site.relayed("b", years_ago=12, direction=inbound, to=("sotc",),
                          subject="Báo cáo tuần")
    placed = site.congvu("archive", "hold", "add", "--query", "HO SO dau thau",
                         "--reason", "Vụ án gói thầu 7", "--requested-by", "Viện kiểm sát")
    assert placed.exit_code == 0, placed.output
    assert "the query finds 1 record(s) today" in placed.output
    hold = int(placed.stdout.split()[-1])
    assert "query 'HO SO dau thau'" in site.congvu("archive", "hold", "list").stdout
    done = site.congvu("archive", "prune")
    assert done.exit_code == 0, done.output
    assert f"held {tender[1]}: expired, kept by hold {hold}" in done.stdout
    assert site.archive.get(tender[1])
    assert not site.archive.path_of(weekly[1]).exists()


def test_hold_usage_errors(site: Site) -> None:
    site.relayed("one", years_ago=1, direction=Direction.INBOUND, to=("snv",))
    bare = site.congvu("archive", "hold", "add", "--reason", "x", "--requested-by", "y")
    assert bare.exit_code == 2 and "needs --unit, --mailbox, --since, --until or --query" \
        in bare.output
    wordless = site.congvu("archive", "hold", "add", "--query", "--- ...", "--reason", "x",
                           "--requested-by", "y")
    assert wordless.exit_code == 2 and "no words" in wordless.output
    backwards = site.congvu("archive", "hold", "add", "--since", "2026-02-01", "--until",
                            "2026-01-01", "--reason", "x", "--requested-by", "y")
    assert backwards.exit_code == 2 and "--until must be after --since" in backwards.output
    unknown = site.congvu("archive", "hold", "release", "77", "--reason", "x")
    assert unknown.exit_code == 1 and "no hold 77 is in force" in unknown.output


def test_a_ledger_the_chain_does_not_vouch_for_hides_nothing(site: Site) -> None:
    site.relayed("old", years_ago=6, direction=Direction.INBOUND, to=("snv",))
    rid, sha = site.relayed("deleted by hand", years_ago=1, direction=Direction.INBOUND,
                            to=("snv",))
    assert site.congvu("archive", "prune").exit_code == 0
    [ledger] = (site.data / "archive" / "pruned").iterdir()
    # someone removes a message and writes it into the ledger, and plants another ledger
    site.archive.path_of(sha).unlink()
    data = json.loads(ledger.read_bytes())
    data["messages"].append({"sha256": sha, "records": [rid], "kept_until": "2026-01-01",
                             "retention": "5-nam"})
    ledger.write_text(json.dumps(data))
    planted = ledger.with_name("20990101T000000Z-00000000.json")
    planted.write_text(json.dumps(data))
    checked = site.congvu("archive", "verify")
    assert checked.exit_code == 1
    assert f"ledger {ledger.name}: changed: it hashes to" in checked.stdout
    assert f"ledger {planted.name}: named by no archive-prune event" in checked.stdout
    assert f"record {rid}: missing {sha}" in checked.stdout


@pytest.mark.slow
def test_a_prune_waits_for_a_message_being_stored_and_leaves_the_bytes_it_names(
        site: Site) -> None:
    """The race a content-addressed store must not lose mail to: a prune has read the
    records (these bytes' only record expired), a new message with the same bytes finds
    them stored, and its record commits after the prune read the records."""
    inbound = Direction.INBOUND
    body = "Công văn gửi lại"
    old_id, again = site.relayed(body, years_ago=11, direction=inbound, to=("sotc",))
    _, gone = site.relayed("not sent again", years_ago=11, direction=inbound, to=("sotc",))
    env = {**os.environ, "CONGVU_CONFIG": "none"}
    with site.archive.locked():  # as the archive stage holds it while it stores
        prune = subprocess.Popen(
            [sys.executable, "-m", "congvu", "archive", "prune", "--config", str(site.config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert prune.stderr is not None
        # it has read the records, written its ledger and event, and waits for the lock
        waiting, before = "waiting for messages being archived\n", []
        while (line := prune.stderr.readline()) not in (waiting, ""):
            before.append(line)  # the configuration it read
        assert line == waiting, before
        assert site.archive.path_of(gone).exists()
        stored = site.archive.put(f"Subject: {body}\r\n\r\n{body}\r\n".encode())
        assert (stored.sha256, stored.is_new) == (again, False)
        with AuditLog.open(site.audit) as log:
            new_id = log.record(AuditRecord(
                received_at=NOW, decided_at=NOW, listener="f", role=Role.AUTO,
                direction=inbound, envelope_sender="x@lamdong.gov.vn", size=10,
                envelope_recipients=["vanthu@lamdong.gov.vn"], action=Action.ACCEPT,
                processing_ms=1.0, recipient_units=["sotc"], archived_sha256=again))
    out, err = prune.communicate(timeout=120)
    assert prune.returncode == 0, err
    assert f"kept {again}: stored again for a message" in out
    assert "removed 1 archived message(s)" in out
    assert not site.archive.path_of(gone).exists()
    assert site.archive.get(again) == f"Subject: {body}\r\n\r\n{body}\r\n".encode()
    checked = site.congvu("archive", "verify")
    assert checked.exit_code == 0, checked.output
    assert f"record {old_id}: pruned" not in checked.stdout  # it is there: the new one's
    assert f"record {new_id}" not in checked.stdout
    # the next prune reads the new record: nothing of it has expired
    again_run = site.congvu("archive", "prune")
    assert again_run.exit_code == 0 and "0 archived message(s) expired" in again_run.stdout

