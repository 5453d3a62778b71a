"""Several chains in one shared store: SQLite logs of former servers imported beside the
live chain (audit/chains.py, audit/importlog.py), on the session's private PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from audit.chains import ChainError, check_chain_id
from audit.config import AuditConfig
from audit.errors import AuditError
from audit.importlog import Copied, copy_log
from audit.keys import KeyTrust
from audit.query import Filters
from audit.records import AdminEvent, AdminKind, Completion, Fate
from audit.schema import CHAIN_SPAN, MIGRATIONS
from audit.store import AuditLog
from support.audit import T0, make_record, sha
from support.postgres import PASSWORD, PostgresCluster, password_file


def _former_server(root: Path, name: str, records: int, *, doc: str = "cv123") -> AuditConfig:
    """A former server's SQLite log: ``records`` messages, every other one completed,
    checkpoints every 3 events."""
    config = AuditConfig(path=root / name / "audit.sqlite3", keys_dir=root / name / "keys",
                         checkpoint_every_records=3, checkpoint_every_seconds=86400)
    with AuditLog.open(config) as log:
        for i in range(records):
            rec = make_record(received_at=T0 + timedelta(hours=i), subject=f"{name} số {i}",
                              message_id=f"<{name}-{i}@example.gov.vn>")
            if doc != "cv123":
                rec = rec.model_copy(update={"attachments": [
                    rec.attachments[0].model_copy(update={"sha256": sha(doc)})]})
            seq = log.record(rec)
            if i % 2 == 0:
                log.complete(Completion(record_id=seq, outcome=Fate.RELAYED, reply="250 ok"))
    return config


def _source(config: AuditConfig) -> AuditLog:
    return AuditLog.open_readonly(config.path)


def _hashes(config: AuditConfig) -> list[str]:
    with _source(config) as log:
        return [r["hash"] for r in log.db.query("SELECT hash FROM events ORDER BY seq")]


@pytest.fixture
def shared(postgres_url: str, tmp_path: Path) -> AuditConfig:
    """The shared store, with a live chain of two records written by this server."""
    config = AuditConfig(url=postgres_url, password_file=password_file(tmp_path),
                         keys_dir=tmp_path / "live-keys")
    with AuditLog.open(config) as log:
        log.record(make_record(subject="live one"))
        log.record(make_record(subject="live two", received_at=T0 + timedelta(days=1)))
    return config


def _import(shared: AuditConfig, former: AuditConfig, chain_id: str | None) -> Any:
    with _source(former) as source:
        return copy_log(source, shared, trust=former.key_trust(), chain_id=chain_id,
                        actor="tester")


def _sql(url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    """What someone with the store's login could do behind congvu's back."""
    with psycopg.connect(url, password=PASSWORD, autocommit=True) as conn:
        conn.execute(statement, params)


def test_two_logs_imported_verify_each_and_queries_span_them(
        shared: AuditConfig, tmp_path: Path) -> None:
    daknong = _former_server(tmp_path, "daknong", 5)
    binhthuan = _former_server(tmp_path, "binhthuan", 4, doc="other")
    first = _import(shared, daknong, "daknong")
    second = _import(shared, binhthuan, "mail.binhthuan.gov.vn")
    assert (first.copied, second.copied) == (Copied.IMPORTED, Copied.IMPORTED)
    assert first.after is not None and first.after.is_intact
    with AuditLog.open_readonly(shared, trust=KeyTrust.from_config([], shared.keys_dir)) as log:
        # each imported row keeps its log's hash, at its chain's span of the store's ids
        stored = [r["hash"] for r in log.db.query(
            "SELECT hash FROM events WHERE chain = ? ORDER BY seq", ["daknong"])]
        assert stored == _hashes(daknong)
        report = log.verify()
        page = log.query(Filters(page_size=100))
        shown = log.show(CHAIN_SPAN + 1)
        completed = log.show(2 * CHAIN_SPAN + 3)
        traced = log.trace(sha("cv123"))
        archived = [r.record_id for r in log.archived()]
    assert report.is_intact, report.describe()
    # the archive reads every chain's records (a migrated server's archive is copied too)
    assert archived == [1, 2, *(CHAIN_SPAN + n for n in (1, 3, 4, 6, 7)),
                        *(2 * CHAIN_SPAN + n for n in (1, 3, 4, 6))]
    lines = report.describe().splitlines()
    assert [line.split(", ")[0] for line in lines if not line.startswith("note:")] == [
        "live chain: intact: 4 events (seq 1-4)", "chain daknong: intact: 8 events (seq 1-8)",
        "chain mail.binhthuan.gov.vn: intact: 6 events (seq 1-6)"]
    assert any("recorded when chain daknong was imported" in line for line in lines)
    assert page.total == 2 + 5 + 4
    by_chain: dict[str | None, int] = {}
    for summary in page.items:
        by_chain[summary.chain] = by_chain.get(summary.chain, 0) + 1
    assert by_chain == {None: 2, "daknong": 5, "mail.binhthuan.gov.vn": 4}
    assert shown["chain"] == "daknong" and shown["subject"] == "daknong số 0"
    # a completion keeps the record it completes, at the same span
    assert shown["completions"][0]["id"] == CHAIN_SPAN + 2
    assert completed["chain"] == "mail.binhthuan.gov.vn"
    assert {t.chain for t in traced} == {None, "daknong"}
    assert len(traced) == 2 + 5


def test_a_tampered_imported_row_is_reported_under_its_chain(
        shared: AuditConfig, tmp_path: Path) -> None:
    _import(shared, _former_server(tmp_path, "daknong", 5), "daknong")
    _sql(shared.url or "", "UPDATE events SET subject = 'forged' WHERE seq = %s",
         (CHAIN_SPAN + 3,))
    with AuditLog.open_readonly(shared, trust=KeyTrust.from_config([], shared.keys_dir)) as log:
        report = log.verify()
    assert not report.is_intact
    assert report.problem == ("chain daknong: record 3 was changed (its content does not "
                              "match its hash)")
    assert report.describe().splitlines()[0].startswith("live chain: intact")


def test_an_imported_chain_cut_at_its_end_is_held_to_its_recorded_head(
        shared: AuditConfig, tmp_path: Path) -> None:
    _import(shared, _former_server(tmp_path, "daknong", 5), "daknong")
    # the last row, which no checkpoint of its own log covers
    _sql(shared.url or "", "DELETE FROM events WHERE seq = %s", (CHAIN_SPAN + 8,))
    with AuditLog.open_readonly(shared, trust=KeyTrust.from_config([], shared.keys_dir)) as log:
        report = log.verify()
    assert not report.is_intact
    assert "rows were removed from or added to its end" in (report.problem or "")


def test_rows_of_a_chain_no_import_event_names_are_reported(
        shared: AuditConfig, tmp_path: Path) -> None:
    _import(shared, _former_server(tmp_path, "daknong", 3), "daknong")
    # the chain's rows (and their index entries) moved to a span no import names
    url = shared.url or ""
    _sql(url, "UPDATE events SET seq = seq + %s, chain = 'ghost' WHERE seq > %s",
         (CHAIN_SPAN, CHAIN_SPAN))
    for table in ("memberships", "recipients", "attachments"):
        _sql(url, f"UPDATE {table} SET record_id = record_id + %s WHERE record_id > %s",
             (CHAIN_SPAN, CHAIN_SPAN))
    _sql(url, "UPDATE search SET seq = seq + %s WHERE seq > %s", (CHAIN_SPAN, CHAIN_SPAN))
    with AuditLog.open_readonly(shared, trust=KeyTrust.from_config([], shared.keys_dir)) as log:
        report = log.verify()
    assert not report.is_intact
    assert report.problem is not None and report.problem.startswith("chain daknong:")
    assert "chain ghost:" in report.describe()


def test_with_pins_an_imported_chain_counts_only_pinned_keys(
        shared: AuditConfig, tmp_path: Path) -> None:
    daknong = _former_server(tmp_path, "daknong", 3)
    _import(shared, daknong, "daknong")
    live_key = KeyTrust.from_config([], shared.keys_dir)
    with AuditLog.open_readonly(shared, trust=KeyTrust.pinned(live_key.roots)) as log:
        report = log.verify()
    assert not report.is_intact
    assert report.problem is not None and "chain daknong: the checkpoint at record" in \
        report.problem and "not trusted" in report.problem
    both = KeyTrust.pinned([*live_key.roots, *daknong.key_trust().roots])
    with AuditLog.open_readonly(shared, trust=both) as log:
        assert log.verify().is_intact


def test_into_an_empty_store_the_log_starts_the_live_chain_and_a_rerun_changes_nothing(
        postgres_url: str, tmp_path: Path) -> None:
    former = _former_server(tmp_path, "lamdong", 5)
    # the same server moves to the shared store: its own key keeps signing
    target = AuditConfig(url=postgres_url, password_file=password_file(tmp_path),
                         keys_dir=former.keys_dir)
    first = _import(target, former, None)
    again = _import(target, former, None)
    assert (first.copied, first.events, first.has_changed) == (Copied.LIVE, 8, True)
    assert (again.copied, again.has_changed) == (Copied.ALREADY_LIVE, False)
    assert "nothing changed" in again.describe()
    with AuditLog.open(target) as log:
        assert [r["hash"] for r in log.db.query("SELECT hash FROM events ORDER BY seq")] \
            == _hashes(former)
        assert log.latest_checkpoint() is not None
        # the live chain goes on from the copied head
        assert log.record(make_record(subject="after the move")) == 9
        assert log.verify().is_intact
        assert log.query(Filters(text="lamdong")).total == 5
    # once the servers write on, the log is still the live chain's start
    assert _import(target, former, None).copied is Copied.ALREADY_LIVE


def test_a_target_with_a_live_chain_takes_the_log_only_as_a_chain(
        shared: AuditConfig, tmp_path: Path) -> None:
    daknong = _former_server(tmp_path, "daknong", 3)
    with pytest.raises(ChainError, match=r"give a chain id \(--chain-id\) to import"):
        _import(shared, daknong, None)
    assert _import(shared, daknong, "daknong").copied is Copied.IMPORTED
    again = _import(shared, daknong, "daknong")
    assert (again.copied, again.chain, again.has_changed) == (
        Copied.ALREADY_IMPORTED, "daknong", False)
    other = _former_server(tmp_path, "binhthuan", 2, doc="other")
    with pytest.raises(ChainError, match="chain id daknong is taken by another log"):
        _import(shared, other, "daknong")
    with AuditLog.open(daknong) as log:  # the former server wrote on after the import
        log.record(make_record(subject="later"))
    with pytest.raises(ChainError, match="the log has grown since"):
        _import(shared, daknong, "daknong")
    with AuditLog.open(shared) as log:
        assert [c.id for c in log.imported_chains()] == ["daknong"]
        assert log.verify().is_intact


def test_an_interrupted_import_leaves_nothing_and_runs_again(
        shared: AuditConfig, tmp_path: Path, postgres_cluster: PostgresCluster) -> None:
    daknong = _former_server(tmp_path, "daknong", 5)
    dbname = (shared.url or "").rsplit("/", 1)[1]
    # the database refuses the copy halfway: after the rows, at the checkpoints
    with postgres_cluster.admin(dbname) as admin:
        admin.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                      "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$")
        admin.execute("CREATE TRIGGER refuse BEFORE INSERT ON imported_checkpoints "
                      "FOR EACH ROW EXECUTE FUNCTION refuse()")
    with pytest.raises(AuditError, match="disk full"):
        _import(shared, daknong, "daknong")
    with AuditLog.open(shared) as log:
        assert [r["n"] for r in log.db.query("SELECT count(*) AS n FROM events")] == [2]
        assert log.imported_chains() == []
    with postgres_cluster.admin(dbname) as admin:
        admin.execute("DROP TRIGGER refuse ON imported_checkpoints")
    assert _import(shared, daknong, "daknong").copied is Copied.IMPORTED


def test_a_log_that_is_not_intact_is_not_copied(shared: AuditConfig, tmp_path: Path) -> None:
    import sqlite3

    daknong = _former_server(tmp_path, "daknong", 3)
    conn = sqlite3.connect(daknong.path)
    with conn:
        conn.execute("UPDATE events SET subject = 'forged' WHERE seq = 2")
    conn.close()
    with pytest.raises(AuditError, match="not intact, so nothing was copied: record 2 was "
                       "changed"):
        _import(shared, daknong, "daknong")
    with AuditLog.open(shared) as log:
        assert log.imported_chains() == []


def test_an_imported_chains_renames_are_of_its_own_records(
        shared: AuditConfig, tmp_path: Path) -> None:
    daknong = _former_server(tmp_path, "daknong", 2)
    with AuditLog.open(daknong) as log:
        log.admin(AdminEvent(kind=AdminKind.UNITS_RENAMED, actor="tester", target="dn.csv",
                             details={"stc": "dn-stc"}))
    _import(shared, daknong, "daknong")
    with AuditLog.open_readonly(shared) as log:
        renamed = log.query(Filters(units=("dn-stc",), page_size=100)).items
        kept = log.query(Filters(units=("stc",), page_size=100)).items
    assert {(s.chain, s.sender_unit) for s in renamed} == {("daknong", "dn-stc")}
    assert len(renamed) == 2
    assert {s.chain for s in kept} == {None}  # the live chain's records keep their ids


def test_proofs_are_of_the_live_chain(shared: AuditConfig, tmp_path: Path) -> None:
    _import(shared, _former_server(tmp_path, "daknong", 2), "daknong")
    with AuditLog.open(shared) as log, pytest.raises(AuditError, match="proofs are made of "
                                                     "the live chain only"):
        log.proof(CHAIN_SPAN + 1)


@pytest.mark.parametrize("text", ["Daknong", "", "-dak", "dak_nong", "a" * 65, "dak..nong",
                                  "đắk-nông"])
def test_a_chain_id_that_is_refused(text: str) -> None:
    with pytest.raises(ChainError, match="is not a chain id"):
        check_chain_id(text)


def test_a_chain_id_that_is_accepted() -> None:
    assert check_chain_id("mail.daknong.gov.vn") == "mail.daknong.gov.vn"


def _previous_release(config: AuditConfig) -> list[str]:
    """A store as the previous release left it: written, then its schema taken back to
    the previous release's (every migration but the chains'); its events' hashes."""
    with AuditLog.open(config) as log:
        log.record(make_record())
        log.complete(Completion(record_id=1, outcome=Fate.RELAYED, reply="250 ok"))
        hashes = [r["hash"] for r in log.db.query("SELECT hash FROM events ORDER BY seq")]
        conn = log.db.conn
        for statement in ("ALTER TABLE events DROP COLUMN chain", "DROP TABLE chains",
                          "DROP TABLE imported_checkpoints",
                          "DELETE FROM _migrations WHERE name = '0007-chains'"):
            conn.execute(statement)
        conn.commit()
    return hashes


def test_a_store_of_the_previous_release_is_migrated(backend_config: AuditConfig) -> None:
    before = _previous_release(backend_config)
    with AuditLog.open(backend_config) as log:
        names = [r["name"] for r in log.db.query("SELECT name FROM _migrations ORDER BY name")]
        assert names == sorted(name for name, _ in MIGRATIONS)  # every one, once
        assert [r["hash"] for r in log.db.query(
            "SELECT hash FROM events ORDER BY seq")] == before
        assert log.record(make_record(subject="after the upgrade")) == 3
        report = log.verify()
        page = log.query(Filters())
        shown = log.show(1)
    assert report.is_intact, report.describe()
    assert report.describe().startswith("intact: 3 events")  # one chain: said as before
    assert [s.chain for s in page.items] == [None, None]
    assert "chain" not in shown


def test_a_rerun_from_the_former_server_writes_nothing(shared: AuditConfig,
                                                       tmp_path: Path) -> None:
    daknong = _former_server(tmp_path, "daknong", 2)
    # run on the former server: its key signs the import, enrolled in the live chain
    as_former = shared.model_copy(update={"keys_dir": daknong.keys_dir})
    assert _import(as_former, daknong, "daknong").copied is Copied.IMPORTED
    with AuditLog.open_readonly(shared) as log:
        before = log.head()
    again = _import(as_former, daknong, "daknong")
    assert (again.copied, again.has_changed) == (Copied.ALREADY_IMPORTED, False)
    with AuditLog.open_readonly(shared) as log:
        assert log.head() == before
        kinds = [r["admin_kind"] for r in log.db.query(
            f"SELECT admin_kind FROM events WHERE seq < {CHAIN_SPAN} ORDER BY seq")]
    assert kinds == [None, None, "audit-key-enrolled", "chain-imported"]
