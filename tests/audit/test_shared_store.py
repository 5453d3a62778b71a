"""The audit store in PostgreSQL (the shared store of several mail servers): the chain
byte for byte, the reads, many writers on one chain, and every way of failing."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from audit.chain import KEY_FILE, row_hash
from audit.config import AuditConfig
from audit.errors import AuditError
from audit.pending import Pending, rows_of
from audit.pgschema import MIGRATIONS as PG_MIGRATIONS
from audit.pgstore import PgAuditLog, _Shipped
from audit.pgwrite import json_members
from audit.query import Filters
from audit.records import (
    AdminEvent,
    AdminKind,
    AuditRecord,
    AuthResult,
    Completion,
    Direction,
    Fate,
)
from audit.rows import iso
from audit.schema import CHAIN_SPAN, HASHED_COLUMNS, MIGRATIONS
from audit.store import AuditLog
from mailbase.pgconn import decode, encode, translate
from support.audit import T0, make_record, sha
from support.postfix import free_port
from support.postgres import PASSWORD, ROLE, PostgresCluster, password_file
from support.threads import run_together

VECTORS = Path(__file__).parents[1] / "data" / "chain-vectors"


@pytest.fixture
def pg_config(postgres_url: str, tmp_path: Path) -> AuditConfig:
    return AuditConfig(url=postgres_url, password_file=password_file(tmp_path),
                       keys_dir=tmp_path / "keys")


def _superuser(cluster: PostgresCluster, url: str) -> Any:
    return cluster.admin(url.rsplit("/", 1)[1])


# -- the configuration ------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "message"), [
    ("postgresql://congvu:secret@db/audit", "must not contain a password: put it in"),
    ("postgresql://congvu@db/audit?password=secret", "must not contain a password parameter"),
    ("postgresql://congvu@db", "names no database"),
    ("sqlite:///var/audit.sqlite3", "starts with postgresql://"),
])
def test_a_url_that_is_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AuditConfig(url=url)


def test_path_and_url_in_one_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="path and url name two audit stores"):
        AuditConfig(path=tmp_path / "a.sqlite3", url="postgresql://congvu@db/audit")


def test_a_password_file_others_can_read_is_refused(pg_config: AuditConfig) -> None:
    assert pg_config.password_file is not None
    pg_config.password_file.chmod(0o644)
    with pytest.raises(AuditError, match=r"store password file .*chmod 600"):
        AuditLog.open(pg_config)


def test_libpq_passfile_works_without_password_file(
        pg_config: AuditConfig, postgres_cluster: PostgresCluster, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_cluster.port}:*:congvu:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with AuditLog.open(pg_config.model_copy(update={"password_file": None})) as log:
        assert log.record(make_record()) == 1


def test_a_wrong_password_is_an_audit_error(pg_config: AuditConfig, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    wrong.chmod(0o600)
    with pytest.raises(AuditError, match=r"could not open for writing.*password authentication"):
        AuditLog.open(pg_config.model_copy(update={"password_file": wrong}))


def test_no_database_there_is_an_audit_error(tmp_path: Path) -> None:
    config = AuditConfig(url=f"postgresql://congvu@127.0.0.1:{free_port()}/audit",
                         password_file=password_file(tmp_path), keys_dir=tmp_path / "keys")
    with pytest.raises(AuditError, match=r"could not open for writing.*(refused|failed)"):
        AuditLog.open(config)


def test_an_empty_database_is_no_store_to_read(pg_config: AuditConfig) -> None:
    with pytest.raises(AuditError, match="not an audit store of this version"):
        AuditLog.open_readonly(pg_config)


# -- the schema -------------------------------------------------------------------------------

def test_every_migration_is_written_for_both_backends(pg_config: AuditConfig) -> None:
    assert [name for name, _ in PG_MIGRATIONS] == [name for name, _ in MIGRATIONS]
    AuditLog.open(pg_config).close()
    with AuditLog.open(pg_config) as log:  # a second open applies nothing again
        names = [r["name"] for r in log.db.query("SELECT name FROM _migrations ORDER BY name")]
        assert names == [name for name, _ in MIGRATIONS]
        columns = [r["column_name"] for r in log.db.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' "
            "ORDER BY ordinal_position")]
        assert columns == ["seq", *HASHED_COLUMNS[:-1], "prev_hash", "hash", "chain"]


# -- the chain, byte for byte -----------------------------------------------------------------

def test_the_chain_vectors_from_postgresql(postgres_url: str, tmp_path: Path) -> None:
    events = json.loads((VECTORS / "events.json").read_text())["events"]
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    (keys / KEY_FILE).write_bytes((VECTORS / "checkpoint-test.key").read_bytes())
    (keys / KEY_FILE).chmod(0o600)
    models: dict[str, Any] = {"record": AuditRecord, "completion": Completion,
                              "admin": AdminEvent}
    items = [models[v["item"]].model_validate(v["input"]) for v in events]
    config = AuditConfig(url=postgres_url, password_file=password_file(tmp_path), keys_dir=keys)
    with AuditLog.open(config) as log:
        assert log.write(items) == list(range(1, len(items) + 1))
        stored = list(log.db.query("SELECT * FROM events ORDER BY seq"))
        report = log.verify()
    assert report.is_intact, report.describe()
    assert [row["hash"] for row in stored] == [v["hash"] for v in events]
    for row, vector in zip(stored, events, strict=True):
        assert {n: row[n] for n in HASHED_COLUMNS} == {
            n: vector["columns"].get(n) for n in HASHED_COLUMNS}


def _warmed(config: AuditConfig) -> PgAuditLog:
    """A new store past its first two batches: the first signs the first checkpoint and
    the second finds this server's key signing, so the next batches may be linked by
    the server."""
    log = AuditLog.open(config)
    assert isinstance(log, PgAuditLog)
    log.record(make_record(queue_id="W1"))
    log.record(make_record(queue_id="W2"))
    assert log.linked_in_server == 0
    return log


def test_the_server_links_exactly_as_the_writer_does(pg_config: AuditConfig) -> None:
    odd: list[AuditRecord | AdminEvent] = [
        make_record(subject='"prev_hash":"x" \\ \x00 \udcff\ud800 \ufdd0 ký 한국 \ud55c',
                    header_from="\ufdd0e\ufdd00 \\u0000 \udfff\ud7ff"),
        make_record(client_helo=None, sender_unit=None, subject=None, attachments=[]),
        AdminEvent(kind=AdminKind.PRUNE, actor="a\x00b", target='"', details={"k": "\udcff"}),
        make_record(subject="Giấy mời họp Đảng ủy", envelope_recipients=[
            "A@ubnd.example.gov.vn", "b@stc.example.gov.vn"], processing_ms=-0.0),
        make_record(processing_ms=0.1 + 0.2, size=2**62),
    ]
    with _warmed(pg_config) as log:
        assert log.write(odd) == [3, 4, 5, 6, 7]
        assert log.linked_in_server == 1
        rows = list(log.db.query("SELECT * FROM events ORDER BY seq"))
        report = log.verify()
        assert log.count(Filters(text="dang uy")) == 1
        assert log.count(Filters(recipient="a@ubnd.example.gov.vn")) == 1
    assert report.is_intact, report.describe()
    assert "the report summary matches the records" in report.notes
    for n, (item, row) in enumerate(zip(odd, rows[2:], strict=True), 2):
        assert row["prev_hash"] == rows[n - 1]["hash"]
        assert row["hash"] == Pending.of(item).link(row["prev_hash"])  # audit/chain.py's
        # the row the server read from the hashed text is the one the writer builds
        assert {c: row[c] for c in HASHED_COLUMNS if c != "prev_hash"} == {
            c: rows_of(item).event.get(c) for c in HASHED_COLUMNS if c != "prev_hash"}


# The functions earlier releases created, as they created them (tests/data/audit-previous)
PREVIOUS = Path(__file__).parents[1] / "data" / "audit-previous"
_PREVIOUS_CALLS = {  # each one's call, as a server of its release made it
    "congvu_append-summary.sql": (
        "SELECT seqs FROM congvu_append(%s::json, %s::bytea[], %s::bytea[], '[]', '[]', "
        "'[]', '[]', NULL, NULL, '{}', false, %s, %s, %s)"),
    "congvu_append-first.sql": (
        "SELECT seqs FROM congvu_append(%s::json, %s::bytea[], %s::bytea[], '[]', '[]', "
        "'[]', '[]', %s, %s, %s)"),
}


def _forged_append(db: Any, call: str, event: AdminEvent) -> dict[str, Any]:
    """Append ``event`` as a server of an earlier release would, but with a row whose
    target is not the one its hashed text says (one transaction, rolled back); the row
    stored."""
    forged = {**rows_of(event).event, "target": "forged"}
    with db.transaction(force_rollback=True), db.cursor(row_factory=dict_row) as cur:
        [seqs] = cur.execute(call, _previous_call(db, event, forged)).fetchone().values()
        return dict(cur.execute("SELECT * FROM events WHERE seq = %s", seqs).fetchone())


def _previous_call(db: Any, event: AdminEvent, row: dict[str, Any] | None
                   ) -> tuple[Any, ...]:
    """The arguments of an earlier release's call appending ``event``: its hashed text,
    the ``row`` sent beside it (None: no column), the schedule of the store's latest
    checkpoint (a checkpoint falling due would write nothing)."""
    shipped = _Shipped.ship(event)
    members = "" if row is None else json_members(row)
    schedule = db.execute("SELECT every_records, every_seconds FROM checkpoints "
                          "ORDER BY seq DESC LIMIT 1").fetchone()
    return (f'[{{"seq":1{members}}}]', [shipped.prefix], [shipped.after], *schedule,
            iso(event.at))


def test_a_row_that_is_not_its_hashed_text_is_never_stored(
        pg_config: AuditConfig, postgres_cluster: PostgresCluster) -> None:
    """congvu_append reads each event's row from the text it hashes. Earlier releases
    sent the row beside it and stored what they were sent, so a row that said otherwise
    (a forged target here) was stored under a hash of other words; a store they left,
    opened by this release, has their functions (which their servers still call while
    the servers are upgraded) read the row from the text too, the forged one unread."""
    event = AdminEvent(kind=AdminKind.DIRECTORY_CHANGE, actor="admin", target="ubnd")
    _warmed(pg_config).close()  # a checkpoint signed
    assert pg_config.url is not None
    with _superuser(postgres_cluster, pg_config.url) as db:  # as the earlier releases left it
        db.execute("DROP FUNCTION congvu_append(bytea[], bytea[], json, json, json, json, "
                   "json, bigint, bigint[], boolean, bigint, double precision, text)")
        db.execute("DROP FUNCTION congvu_events(bigint[], bytea[], bytea[])")
        db.execute("DROP FUNCTION congvu_text(bytea)")
        db.execute(f"SET ROLE {ROLE}")  # the store's owner created them
        for name, call in _PREVIOUS_CALLS.items():
            db.execute((PREVIOUS / name).read_text())
            stored = _forged_append(db, call, event)
            assert stored["target"] == "forged"  # stored as sent
            assert row_hash(stored) != stored["hash"]
            db.execute(call, _previous_call(db, event, rows_of(event).event))  # as written
    with AuditLog.open(pg_config) as log:  # this release
        log.write([event, event])
    with _superuser(postgres_cluster, pg_config.url) as db:
        db.execute(f"SET ROLE {ROLE}")
        for call in _PREVIOUS_CALLS.values():
            stored = _forged_append(db, call, event)
            assert stored["target"] == "ubnd"  # read from the hashed text
            assert row_hash(stored) == stored["hash"]
            db.execute(call, _previous_call(db, event, None))  # no row at all: the same
    with AuditLog.open(pg_config) as log:
        log.write([event])
        targets = [r["target"] for r in log.db.query(
            "SELECT target FROM events WHERE admin_kind = 'directory-change' ORDER BY seq")]
        report = log.verify()
    assert report.is_intact, report.describe()
    assert targets == ["ubnd"] * 7


def test_a_checkpoint_falling_due_is_signed_by_the_writer(pg_config: AuditConfig) -> None:
    config = pg_config.model_copy(update={"checkpoint_every_records": 3})
    with _warmed(config) as log:  # a checkpoint at 1
        log.write([make_record(), make_record()])  # 4 - 1 >= 3: due, appended as before
        log.write([make_record(), make_record()])  # 6 - 4 < 3: linked by the server
        log.write([make_record(), make_record()])  # 8 - 4 >= 3: due again
        assert log.linked_in_server == 1
        signed = [r["seq"] for r in log.db.query("SELECT seq FROM checkpoints ORDER BY seq")]
        report = log.verify()
    assert signed == [1, 4, 8]
    assert report.is_intact, report.describe()


def _summary_matches(log: AuditLog) -> None:
    report = log.verify()
    assert report.is_intact, report.describe()
    assert "the report summary matches the records" in report.notes


def test_completions_and_held_decisions_are_counted_by_the_server(
        pg_config: AuditConfig) -> None:
    with _warmed(pg_config) as log, AuditLog.open(pg_config) as other:
        dmarc = make_record(  # counted before its completion
            direction=Direction.INBOUND, sender_unit="ubnd", authentication=[AuthResult(
                method="dmarc", result="fail", domain="ubnd.example.gov.vn",
                disposition="spoof-quarantine")])
        sent, counted_early = log.write([make_record(), dmarc])
        renamed = AdminEvent(kind=AdminKind.UNITS_RENAMED, actor="admin", target="p.csv",
                             details={"ubnd": "ubnd2"})
        log.write([dmarc, renamed, dmarc])  # the stretch of each as the server places it
        held = other.record(make_record())
        log.write([Completion(record_id=sent, outcome=Fate.RELAYED, reply="250"),
                   Completion(record_id=counted_early, outcome=Fate.REJECTED, reply="550"),
                   Completion(record_id=held, outcome=Fate.QUARANTINED,
                              reply="quarantined as Q1")])
        log.admin(AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin", target="Q1"))
        assert log.linked_in_server == 4
        stretches = [r["stretch"] for r in log.db.query(
            "SELECT stretch FROM summary_sent WHERE forgery_attempts > 0 ORDER BY stretch")]
        # a delivered message taken back out: its mailbox's last time sent is counted
        # again from its day's records, under the lock
        log.complete(Completion(record_id=sent, outcome=Fate.REJECTED, reply="550"))
        assert log.linked_in_server == 4
        _summary_matches(log)
    assert stretches == [0, 7]  # after the rename at 6


def test_a_completion_of_an_imported_chains_record_is_refused(
        pg_config: AuditConfig, postgres_cluster: PostgresCluster) -> None:
    with _warmed(pg_config) as log:
        assert pg_config.url is not None
        with _superuser(postgres_cluster, pg_config.url) as db:  # a message imported
            db.execute("CREATE TEMP TABLE imported AS SELECT * FROM events WHERE seq = 1")
            db.execute("UPDATE imported SET seq = %s", (CHAIN_SPAN + 1,))
            db.execute("INSERT INTO events SELECT * FROM imported")
        [result] = log.write_each([Completion(record_id=CHAIN_SPAN + 1,
                                              outcome=Fate.RELAYED)])
        assert str(result) == (f"audit store {pg_config.url}: no message record "
                               f"{CHAIN_SPAN + 1} to complete")


def test_a_summary_count_another_server_outdated_is_counted_again_under_the_lock(
        pg_config: AuditConfig) -> None:
    """The figures counted before the lock hold while no event after their read changes
    them: another server completing the same message, or holding one as the id a release
    names, in between makes the server write nothing; the writer then counts it."""
    with _warmed(pg_config) as log, AuditLog.open(pg_config) as other:
        first, second = log.write([make_record(), make_record()])
        done = [_Shipped.ship(Completion(record_id=first, outcome=Fate.REJECTED, reply="550"))]
        counted = log._count_ahead(done)
        other.complete(Completion(record_id=first, outcome=Fate.QUARANTINED,
                                  reply="quarantined as Q7"))
        head = log.head()
        assert counted is not None
        assert log._append_in_server(done, counted) is None
        assert log.head() == head  # nothing written
        assert log.write([done[0].item]) == [head[0] + 1]
        release = [_Shipped.ship(AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin",
                                            target="Q8"))]
        counted = log._count_ahead(release)
        other.complete(Completion(record_id=second, outcome=Fate.QUARANTINED,
                                  reply="quarantined as Q8"))
        assert counted is not None
        assert log._append_in_server(release, counted) is None
        log.write([release[0].item])
        assert log.linked_in_server == 3  # the second tries, counted again from the store
        _summary_matches(log)


def test_text_postgresql_cannot_hold_is_kept_exactly() -> None:
    for text in ["", "Công văn", "a\x00b", "\udcff\ud800", "\ufdd0", "\ufdd0e\ufdd00", "x\\u0000"]:
        stored = encode(text)
        assert "\x00" not in stored and not any(0xD800 <= ord(c) <= 0xDFFF for c in stored)
        assert decode(stored) == text
    assert encode("Công văn số 123") == "Công văn số 123"  # ordinary text is untouched


def test_the_shared_sql_as_postgresql_reads_it() -> None:
    assert translate("SELECT a FROM t WHERE b = ? AND c LIKE '50%?'") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '50%%?'")
    assert translate("SELECT 1 WHERE x GLOB '*[^ -~]*'") == "SELECT 1 WHERE x ~ '^.*[^ -~].*$'"
    assert translate("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING")
    assert translate("SELECT 1 WHERE a IS b AND c IS NULL AND d IS NOT e") == (
        "SELECT 1 WHERE a IS NOT DISTINCT FROM b AND c IS NULL AND d IS NOT e")
    assert translate("BEGIN") == "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def test_reads_are_the_same_on_both_backends(backend_db: AuditLog) -> None:
    first = backend_db.record(make_record())
    backend_db.complete(Completion(record_id=first, outcome=Fate.RELAYED, reply="250 2.0.0 Ok"))
    backend_db.record(make_record(
        subject="Giấy mời họp Đảng ủy", sender_unit="ubnd", recipient_units=["stc"],
        envelope_sender="vanthu@ubnd.example.gov.vn", envelope_recipients=["A@stc.example.gov.vn"]))
    backend_db.admin(AdminEvent(kind=AdminKind.QUARANTINE_DELETE, actor="admin", target="q-1"))
    assert backend_db.count(Filters(units=("stc",))) == 2
    assert [r.subject for r in backend_db.query(Filters(text="dang uy")).items] == [
        "Giấy mời họp Đảng ủy"]
    assert backend_db.count(Filters(text="dang khong")) == 0
    assert backend_db.count(Filters(recipient="a@stc.example.gov.vn")) == 1
    assert backend_db.count(Filters(outcome="incomplete")) == 1
    assert backend_db.show(first)["completions"][0]["outcome"] == "relayed"
    [trail] = backend_db.trace(sha("cv123"))[:1]
    assert trail.record_id == first
    assert [e["kind"] for e in backend_db.admin_events()] == ["quarantine-delete"]
    report = backend_db.verify()
    assert report.is_intact and report.events == 4, report.describe()


def test_verify_finds_a_changed_row_and_a_lost_index_entry(
        pg_config: AuditConfig, postgres_cluster: PostgresCluster) -> None:
    with AuditLog.open(pg_config) as log:
        log.write([make_record(), make_record(), make_record()])
    assert pg_config.url is not None
    with _superuser(postgres_cluster, pg_config.url) as db:
        db.execute("DELETE FROM memberships WHERE record_id = 3 AND role = 'received'")
    with AuditLog.open_readonly(pg_config, trust=pg_config.key_trust()) as log:
        report = log.verify()
    assert not report.is_intact and report.seq == 3
    assert "memberships index lost" in (report.problem or "")
    with _superuser(postgres_cluster, pg_config.url) as db:
        db.execute("UPDATE events SET subject = 'đã sửa' WHERE seq = 2")
    with AuditLog.open_readonly(pg_config, trust=pg_config.key_trust()) as log:
        report = log.verify()
    assert (report.is_intact, report.seq) == (False, 2)
    assert "record 2 was changed" in (report.problem or "")


# -- many writers, one chain ------------------------------------------------------------------

def test_several_writers_never_fork_the_chain(pg_config: AuditConfig) -> None:
    AuditLog.open(pg_config).close()
    writers, batches, size = 4, 25, 4
    start = threading.Barrier(writers)

    def write(n: int) -> None:
        with AuditLog.open(pg_config) as log:
            start.wait()
            for b in range(batches):
                ids = log.write([make_record(queue_id=f"W{n}B{b}R{r}") for r in range(size)])
                assert ids == list(range(ids[0], ids[0] + size))  # one batch, in a row

    assert run_together(write, writers, barrier=start) == []
    with AuditLog.open_readonly(pg_config, trust=pg_config.key_trust()) as log:
        report = log.verify()
        assert report.is_intact, report.describe()
        assert report.events == writers * batches * size
        prev = list(log.db.query("SELECT prev_hash, count(*) AS n FROM events "
                                 "GROUP BY prev_hash HAVING count(*) > 1"))
    assert prev == []  # no two rows link to the same row


# -- a database that goes away or turns read-only ---------------------------------------------

def _end_sessions(cluster: PostgresCluster, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with cluster.admin() as db:
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


def test_a_read_only_database_refuses_and_a_restored_one_takes_writes_again(
        pg_config: AuditConfig, postgres_cluster: PostgresCluster) -> None:
    assert pg_config.url is not None
    name = pg_config.url.rsplit("/", 1)[1]
    with AuditLog.open(pg_config) as log:
        assert log.record(make_record(received_at=T0)) == 1
        with postgres_cluster.admin() as db:
            db.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        _end_sessions(postgres_cluster, pg_config.url)
        with pytest.raises(AuditError, match="could not append audit events"):
            log.record(make_record())  # the session it had is gone
        with pytest.raises(AuditError, match="read-only transaction"):
            log.record(make_record())  # a new session, on a read-only database
        with postgres_cluster.admin() as db:
            db.execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")
        _end_sessions(postgres_cluster, pg_config.url)
        with pytest.raises(AuditError):
            log.record(make_record())
        assert log.record(make_record()) == 2  # nothing of the refused writes was kept
        assert log.verify().is_intact



def test_verify_and_the_report_say_the_same_on_both_backends(
        postgres_url: str, tmp_path: Path) -> None:
    from audit.reportfmt import rows
    from mailbase import parse_period

    keys = tmp_path / "keys"
    stores = [AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=keys),
              AuditConfig(url=postgres_url, password_file=password_file(tmp_path),
                          keys_dir=keys)]
    items: list[Any] = []
    for n in range(30):
        unit = f"xa{n % 4}"
        items.append(make_record(received_at=T0 + timedelta(minutes=n), sender_unit=unit,
                                 recipient_units=[f"xa{(n + 1) % 4}"],
                                 envelope_sender=f"vanthu@{unit}.lamdong.gov.vn"))
    said = []
    for config in stores:
        with AuditLog.open(config) as log:
            ids = log.write(items)
            log.write([Completion(record_id=i, outcome=Fate.RELAYED if i % 3 else
                                  Fate.REJECTED, reply="250 ok") for i in ids])
            report = log.report(parse_period("2026-11"))
            verified = log.verify()
            said.append((verified.is_intact, verified.events, verified.first_seq,
                         verified.last_seq, rows(report),
                         [r.id for r in log.query(Filters(units=("xa1",))).items]))
    assert said[0][0] is True and said[0][1] == 60
    assert said[0] == said[1]


def test_readers_share_pooled_read_only_sessions(pg_config: AuditConfig) -> None:
    with AuditLog.open(pg_config) as log:
        log.record(make_record())
    pids = []
    for _ in range(3):  # the console opens the store for each request
        with AuditLog.open_readonly(pg_config) as log:
            assert log.count(Filters()) == 1
            pids.append(next(log.db.query("SELECT pg_backend_pid() AS pid"))["pid"])
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                log.db.execute("INSERT INTO _migrations (name, applied_at) VALUES ('x', 'y')")
    assert len(set(pids)) == 1  # one session, borrowed and given back
