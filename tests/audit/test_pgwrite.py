"""The PostgreSQL writer's session (audit/pgwrite.py): a batch's rows sent with the
commit, as one JSON document a table, exactly as written; a failing batch leaves
nothing behind, not even for the next one; and a write is durable when it returns,
though its commit gave the lock back before the flush."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from audit.config import AuditConfig
from audit.errors import AuditError
from audit.query import Filters
from audit.records import AdminEvent, AdminKind, Completion, Fate
from audit.schema import CHAIN_SPAN
from audit.store import AuditLog
from support import postgres
from support.audit import make_record

ODD_TEXTS = ["a\x00b", "\udcff\ud800 lone halves", "\ufdd0e and \ufdd00", "x\\u0000 as written",
             "tab\tnew\nline \\ back", "Công văn số 123/STC"]


def _config(url: str, tmp_path: Path) -> AuditConfig:
    return AuditConfig(url=url, password_file=postgres.password_file(tmp_path),
                       keys_dir=tmp_path / "keys")


def test_a_batch_of_text_postgresql_cannot_hold_is_stored_as_sqlite_stores_it(
        postgres_url: str, tmp_path: Path) -> None:
    records = [make_record(subject=text, header_to=text, queue_id=f"Q{n}")
               for n, text in enumerate(ODD_TEXTS)]
    said = []
    for config in (AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys"),
                   _config(postgres_url, tmp_path)):
        with AuditLog.open(config) as log:
            ids = log.write(records)
            shown = [log.show(i) for i in ids]
            hashes = [r["hash"] for r in log.db.query("SELECT hash FROM events ORDER BY seq")]
            found = log.count(Filters(text="cong van"))  # the words went in with the rows
            report = log.verify()
        assert report.is_intact and report.events == len(ODD_TEXTS), report.describe()
        said.append(([(r["subject"], r["header_to"]) for r in shown], hashes, found))
    assert said[0][0][0] == ("a\x00b", "a\x00b")
    assert said[0] == said[1]


def test_a_failing_batch_keeps_nothing_and_the_next_sends_only_its_own(
        postgres_url: str, postgres_cluster: postgres.PostgresCluster,
        tmp_path: Path) -> None:
    config = _config(postgres_url, tmp_path)
    with AuditLog.open(config) as log:
        assert log.write([make_record(queue_id="first")]) == [1]
        with postgres_cluster.admin(postgres_url.rsplit("/", 1)[1]) as db:
            db.execute("ALTER TABLE events ADD CONSTRAINT no_bad "
                       "CHECK (queue_id IS DISTINCT FROM 'bad')")
        with pytest.raises(AuditError, match=r"could not append audit events.*no_bad"):
            log.write([make_record(queue_id="good"), make_record(queue_id="bad")])
        assert log.write([make_record(queue_id="after")]) == [2]
        queues = [r["queue_id"] for r in log.db.query("SELECT queue_id FROM events "
                                                      "ORDER BY seq")]
        assert log.verify().is_intact
    assert queues == ["first", "after"]


def test_the_completions_of_a_batch_are_checked_together_as_one_at_a_time_would_be(
        postgres_url: str, tmp_path: Path) -> None:
    with AuditLog.open(_config(postgres_url, tmp_path)) as log:
        message = log.record(make_record())
        admin = log.admin(AdminEvent(kind=AdminKind.QUARANTINE_DELETE, actor="a", target="q"))
        results = log.write_each([
            Completion(record_id=message, outcome=Fate.RELAYED),
            Completion(record_id=admin, outcome=Fate.RELAYED),  # not a message
            Completion(record_id=77, outcome=Fate.RELAYED),  # no such record
            Completion(record_id=CHAIN_SPAN + 1, outcome=Fate.RELAYED),  # an imported chain's
            make_record(),
            Completion(record_id=message + 3, outcome=Fate.RELAYED),  # the record just above
        ])
        assert log.verify().is_intact
    assert results[0] == 3 and results[4] == 4 and results[5] == 5
    assert [str(r) for r in results[1:4]] == [
        f"audit store {postgres_url}: no message record {n} to complete"
        for n in (admin, 77, CHAIN_SPAN + 1)]


# -- durable when it returns ------------------------------------------------------------------


def _walwriter(cluster: postgres.PostgresCluster) -> int:
    with cluster.admin() as db:
        row = db.execute("SELECT pid FROM pg_stat_activity "
                         "WHERE backend_type = 'walwriter'").fetchone()
    assert row is not None
    return int(row[0])


def _accepting(cluster: postgres.PostgresCluster, url: str) -> None:
    """Wait (a minute at most) until the cluster has recovered and takes connections."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(url, password=postgres.PASSWORD, connect_timeout=5):
                return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL did not recover: {cluster.log_tail()}") from exc
            time.sleep(0.1)  # polling a server in crash recovery, not ordering our own code


def test_a_write_that_returned_survives_a_crash_before_any_background_flush(
        durable_postgres_cluster: postgres.PostgresCluster, tmp_path: Path) -> None:
    url = durable_postgres_cluster.database()
    config = _config(url, tmp_path)
    log = AuditLog.open(config)
    log.write([make_record(queue_id="before")])
    # The WAL writer flushes committed WAL in the background; stopped, only the writes'
    # own wait can have made their commits durable before the crash.
    walwriter = _walwriter(durable_postgres_cluster)
    os.kill(walwriter, signal.SIGSTOP)
    try:
        ids = log.write([make_record(queue_id=f"returned{n}") for n in range(5)])
    finally:
        # a server process dying is a crash to PostgreSQL: every session ends, shared
        # memory (the WAL buffers with it) is thrown away, and the WAL is replayed
        os.kill(walwriter, signal.SIGKILL)
    log.close()
    assert ids == [2, 3, 4, 5, 6]
    _accepting(durable_postgres_cluster, url)
    with AuditLog.open_readonly(config, trust=config.key_trust()) as survivor:
        assert survivor.count(Filters()) == 6
        report = survivor.verify()
    assert report.is_intact, report.describe()
