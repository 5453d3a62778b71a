"""The benchmarks' bulk-written store (tests/support/audit.py's BulkStore, which loads
with its secondary indexes dropped and no journal) ends as a store the writer could
have made: the migrations' schema, every index included, in write-ahead-log mode, a
chain, its derived tables and its checkpoint that ``audit verify`` finds intact."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from audit.config import AuditConfig
from audit.keys import KeyTrust
from audit.store import AuditLog
from support.audit import bulk_fill


def _schema(path: Path) -> list[tuple[str, str, str | None]]:
    """Every table, index and trigger (name, table, SQL), but ANALYZE's statistics."""
    conn = sqlite3.connect(path)
    try:
        return [(str(name), str(table), sql) for name, table, sql in conn.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_stat%' ORDER BY name")]
    finally:
        conn.close()


def test_a_bulk_written_store_is_the_writers_schema_and_verifies(tmp_path: Path) -> None:
    fresh = AuditConfig(path=tmp_path / "fresh" / "audit.sqlite3", keys_dir=tmp_path / "k1")
    fresh.path.parent.mkdir()
    AuditLog.open(fresh).close()
    bulk = AuditConfig(path=tmp_path / "bulk" / "audit.sqlite3", keys_dir=tmp_path / "k2")
    bulk.path.parent.mkdir()
    bulk_fill(bulk.path, 400, units=5, months=2, keys_dir=bulk.keys_dir, has_completions=True)
    assert _schema(bulk.path) == _schema(fresh.path)
    assert any(name == "attachments_sha256" for name, _, _ in _schema(bulk.path))
    conn = sqlite3.connect(bulk.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
    with AuditLog.open(bulk) as log:
        assert log.signer is not None
        report = log.verify(trust=KeyTrust.own(log.signer.public_key))
    assert report.is_intact, report.describe()
    assert (report.events, report.first_seq, report.last_seq, report.checkpoints) == (
        800, 1, 800, 1)
