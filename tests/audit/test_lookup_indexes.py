"""The lookups' indexes of the log (sender, Message-ID, queue id) hold only the rows that
have a value (migration 0009): a store of the previous release gets them and answers its
lookups as before, on both backends, and every query by one of those columns still
finds its records through its index (SQLite uses a partial index only when the query's
condition implies the index's, and without statistics it would rather read every
record in time order)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.config import AuditConfig
from audit.query import Filters
from audit.records import AdminEvent, AdminKind, Completion, Fate
from audit.schema import LOOKUP_INDEXES, MIGRATIONS
from audit.store import AuditLog
from support.audit import make_record

# each lookup, and the records it finds (ids, newest first) in the store _write makes
LOOKUPS: list[tuple[Filters, list[int]]] = [
    (Filters(message_id="a@stc.example.gov.vn"), [4, 1]),
    (Filters(message_id="<b@stc.example.gov.vn>"), [3]),
    (Filters(queue_id="Q1"), [4, 1]),
    (Filters(queue_id="Q3"), [8, 6]),
    (Filters(sender="VanThu@stc.example.gov.vn"), [8, 3]),
    (Filters(sender="vanthu@stc.example.gov.vn", queue_id="Q1"), []),
    (Filters(sender="ketoan@stc.example.gov.vn", message_id="a@stc.example.gov.vn",
             queue_id="Q1"), [4, 1]),
]


def _write(config: AuditConfig) -> None:
    """Records with and without each lookup column, their completions and an event."""
    with AuditLog.open(config) as log:
        first = log.record(make_record(message_id="<a@stc.example.gov.vn>", queue_id="Q1",
                                       envelope_sender="ketoan@stc.example.gov.vn"))
        log.complete(Completion(record_id=first, outcome=Fate.RELAYED, reply="250 ok"))
        third = log.record(make_record(message_id="<b@stc.example.gov.vn>", queue_id=None,
                                       envelope_sender="vanthu@stc.example.gov.vn"))
        log.record(make_record(message_id="<a@stc.example.gov.vn>", queue_id="Q1",
                                       envelope_sender="ketoan@stc.example.gov.vn"))
        log.complete(Completion(record_id=third, outcome=Fate.RELAYED, reply="250 ok"))
        log.record(make_record(message_id=None, queue_id="Q3", envelope_sender=""))
        log.admin(AdminEvent(kind=AdminKind.USER_GRANT, actor="root", target="an",
                             unit_id="stc"))
        log.record(make_record(message_id=None, queue_id="Q3",
                               envelope_sender="VanThu@stc.example.gov.vn"))


def _definitions(log: AuditLog, *, is_sqlite: bool) -> dict[str, str]:
    """The lookups' indexes as the store defines them, by name."""
    names = [name for name, _ in LOOKUP_INDEXES]
    marks = ", ".join("?" * len(names))
    sql = (f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ({marks})"
           if is_sqlite else
           f"SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN ({marks})")
    return {row[0]: row[1] for row in log.db.conn.execute(sql, names).fetchall()}


def _previous_release(config: AuditConfig, *, is_sqlite: bool) -> None:
    """The store _write makes, its schema taken back to the previous release's: the
    lookups' indexes over every row, and no migration 0009."""
    _write(config)
    with AuditLog.open(config) as log:
        conn = log.db.conn
        for name, column in LOOKUP_INDEXES:
            conn.execute(f"DROP INDEX {name}")
            conn.execute(f"CREATE INDEX {name} ON events ({column})")
        conn.execute("DELETE FROM _migrations WHERE name = '0009-partial-lookup-indexes'")
        conn.commit()
        assert not any("WHERE" in d for d in _definitions(log, is_sqlite=is_sqlite).values())


def test_a_store_of_the_previous_release_gets_the_partial_lookup_indexes(
        backend_config: AuditConfig) -> None:
    is_sqlite = backend_config.url is None
    _previous_release(backend_config, is_sqlite=is_sqlite)
    with AuditLog.open(backend_config) as log:
        names = [r[0] for r in log.db.conn.execute(
            "SELECT name FROM _migrations ORDER BY name").fetchall()]
        definitions = _definitions(log, is_sqlite=is_sqlite)
        found = [([s.id for s in log.query(f).items], log.count(f),
                  [r["id"] for r in log.records(f)]) for f, _ in LOOKUPS]
        report = log.verify()
    assert names == sorted(name for name, _ in MIGRATIONS)
    assert sorted(definitions) == sorted(name for name, _ in LOOKUP_INDEXES)
    for name, column in LOOKUP_INDEXES:  # SQLite's words, or PostgreSQL's, parenthesised
        assert re.sub(r"[()]", "", definitions[name]).endswith(
            f" {column} WHERE {column} IS NOT NULL"), definitions[name]
    assert found == [(ids, len(ids), sorted(ids)) for _, ids in LOOKUPS]
    assert report.is_intact, report.describe()


@pytest.fixture
def written(tmp_path: Path) -> Iterator[AuditLog]:
    config = AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
    _write(config)
    with AuditLog.open(config) as log:
        yield log


def _plans(log: AuditLog, ask: str, filters: Filters) -> list[list[str]]:
    """The query plan of each statement over the records that ``ask`` runs."""
    conn: sqlite3.Connection = log.db.conn
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        result = getattr(log, ask)(filters)
        if ask == "records":
            list(result)
    finally:
        conn.set_trace_callback(None)
    return [[row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]
            for sql in statements if "FROM events e WHERE" in sql]


def _reads_of_records(plan: list[str]) -> list[str]:
    """How a plan reads the records (``events e``): by an index, or in a scan."""
    return [step for step in plan if step.startswith(("SEARCH e ", "SCAN e"))]


@pytest.mark.parametrize("ask", ["query", "count", "records"])
def test_every_lookup_reads_its_records_through_its_index(written: AuditLog,
                                                          ask: str) -> None:
    for filters, index in ((Filters(message_id="a@stc.example.gov.vn"), "events_message_id"),
                           (Filters(queue_id="Q1"), "events_queue_id"),
                           (Filters(sender="vanthu@stc.example.gov.vn"), "events_sender")):
        plans = _plans(written, ask, filters)
        assert plans, ask
        for plan in plans:  # the records the lookup's index names, not every record
            assert _reads_of_records(plan)[0].startswith(f"SEARCH e USING INDEX {index} ("), (
                filters, plan)


def test_a_query_without_a_lookup_reads_the_records_in_time_order(written: AuditLog) -> None:
    plans = _plans(written, "query", Filters(queue_id=None))
    assert plans
    for plan in plans:  # the unary + is only for lookups
        assert re.match(r"SEARCH e USING (COVERING )?INDEX events_kind_at \(kind=\?\)",
                        _reads_of_records(plan)[0]), plan
