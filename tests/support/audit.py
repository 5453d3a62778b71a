"""Test helpers for audit/: records with plausible defaults."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.chain import GENESIS, canonical, row_hash
from audit.records import (
    Action,
    Attachment,
    AuditRecord,
    AuthResult,
    Direction,
    Operation,
    Role,
    Violation,
)

if TYPE_CHECKING:
    import sqlite3

    from mailbase.pgconn import PgConnection

T0 = datetime(2026, 11, 3, 2, 30, tzinfo=UTC)


def sha(data: bytes | str) -> str:
    """SHA-256 hex of bytes or text."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def make_record(**overrides: Any) -> AuditRecord:
    """An outbound message from unit 'stc' to 'ubnd' with one signed PDF."""
    received = overrides.pop("received_at", T0)
    values: dict[str, Any] = {
        "received_at": received,
        "decided_at": received + timedelta(milliseconds=40),
        "listener": "submission",
        "role": Role.OUTBOUND,
        "direction": Direction.OUTBOUND,
        "client_address": "10.0.0.5",
        "client_helo": "pc-ketoan",
        "queue_id": "4Xk2Lm0abc",
        "message_id": "<cv-123@stc.example.gov.vn>",
        "envelope_sender": "vanthu@stc.example.gov.vn",
        "envelope_recipients": ["vanthu@ubnd.example.gov.vn"],
        "header_from": "Văn thư Sở Tài chính <vanthu@stc.example.gov.vn>",
        "header_to": "UBND tỉnh <vanthu@ubnd.example.gov.vn>",
        "subject": "Công văn số 123/STC về dự toán ngân sách",
        "header_date": "Tue, 03 Nov 2026 09:30:00 +0700",
        "size": 48213,
        "attachments": [Attachment(
            path="2", filename="Công văn 123.pdf", declared_type="application/pdf",
            detected_type="application/pdf", size=40000, sha256=sha("cv123"),
        )],
        "action": Action.ACCEPT,
        "violations": [],
        "authentication": [
            AuthResult(method="dkim", operation=Operation.SIGN, result="pass",
                       domain="stc.example.gov.vn", selector="cv2026"),
            AuthResult(method="smime", operation=Operation.SIGN, result="pass",
                       signer="vanthu@stc.example.gov.vn"),
        ],
        "processing_ms": 41.5,
        "sender_unit": "stc",
        "recipient_units": ["ubnd"],
    }
    values.update(overrides)
    return AuditRecord(**values)




class BulkStore:
    """A new store written fast, for benchmarks: chained rows built directly (no
    pydantic), hashed with the store's own :func:`audit.chain.row_hash`, inserted with
    executemany a flush at a time, with neither journal nor sync while it loads (a store
    cut short is no store: its caller writes it again from an empty place), into tables
    whose secondary indexes are built once at the end, each by one sort (not a B-tree
    insert a row, which at millions of rows, in the attachments' random SHA-256 order,
    no longer finds its pages in the cache); full-text rows left out (not queried).
    :meth:`close` signs the head with the checkpoint key in ``keys_dir`` (default:
    ``keys`` beside the store, as in a data directory), as a writer would, and leaves
    the file in write-ahead-log mode, as the store keeps it."""

    #: the tables loaded, whose secondary indexes wait for the load's end
    LOADED = ("events", "memberships", "recipients", "attachments")

    def __init__(self, path: Path, *, keys_dir: Path | None = None,
                 flush_every: int = 50_000) -> None:
        import sqlite3

        from sqlite_utils import Database

        from audit.schema import EVENT_COLUMNS, migrate

        self.path, self.keys_dir, self.flush_every = path, keys_dir, flush_every
        db = Database(sqlite3.connect(path))
        migrate(db)
        self.conn = db.conn
        self.indexes = [(str(name), str(sql)) for name, sql in self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            f"AND tbl_name IN ({', '.join('?' * len(self.LOADED))})", self.LOADED)]
        for name, _ in self.indexes:
            self.conn.execute(f"DROP INDEX {name}")
        # 256 MiB of cache: the indexes' sorts at the end, in memory where they fit
        for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -262144"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute("BEGIN")
        self.columns = list(EVENT_COLUMNS)
        self.seq, self.prev = 0, GENESIS
        self.events: list[tuple[object, ...]] = []
        self.members: list[tuple[object, ...]] = []
        self.recipients: list[tuple[object, ...]] = []
        self.attachments: list[tuple[object, ...]] = []

    def _event(self, fields: dict[str, object]) -> int:
        self.seq += 1
        fields.update(seq=self.seq, prev_hash=self.prev)
        fields["hash"] = self.prev = row_hash(fields)
        self.events.append(tuple(map(fields.get, self.columns)))
        if len(self.events) >= self.flush_every:
            self._flush()
        return self.seq

    def message(self, fields: dict[str, object], detail: dict[str, Any], *,
                members: Sequence[tuple[str, str]] = (),
                recipients: Sequence[tuple[str, str | None]] = (),
                attachments: Sequence[tuple[str, str, int, str | None]] = ()) -> int:
        """A message record: its event columns, its chained detail, its unit
        memberships (unit, role), recipients (address, unit) and attachments (sha256,
        filename, size, document verdict); returns its position."""
        seq = self._event({"kind": "message", **fields, "detail": canonical(detail)})
        at = fields["at"]
        self.members.extend((seq, unit, role, at) for unit, role in members)
        self.recipients.extend((seq, i, address, unit)
                               for i, (address, unit) in enumerate(recipients))
        self.attachments.extend((seq, i, digest, name, name.lower(), size, document)
                                for i, (digest, name, size, document) in enumerate(attachments))
        return seq

    def completion(self, record: int, outcome: str, at: str) -> int:
        """A completion of ``record`` (``relayed``, ``rejected``, ...); its position."""
        return self._event({"kind": "completion", "at": at, "record_id": record,
                            "outcome": outcome, "reply": "250 2.0.0 Ok",
                            "processing_ms": 3.0, "detail": "{}"})

    def _flush(self) -> None:
        marks = ", ".join("?" * len(self.columns))
        self.conn.executemany(f"INSERT INTO events ({', '.join(self.columns)}) VALUES ({marks})",
                              self.events)
        self.conn.executemany("INSERT INTO memberships (record_id, unit_id, role, at) "
                              "VALUES (?, ?, ?, ?)", self.members)
        self.conn.executemany("INSERT INTO recipients (record_id, position, address, "
                              "unit_id) VALUES (?, ?, ?, ?)", self.recipients)
        self.conn.executemany("INSERT INTO attachments (record_id, position, sha256, "
                              "filename, filename_folded, size, document) "
                              "VALUES (?, ?, ?, ?, ?, ?, ?)", self.attachments)
        for rows in (self.events, self.members, self.recipients, self.attachments):
            rows.clear()
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    def close(self) -> None:
        """Write what is left, build the indexes, sign the head, commit, analyse, and
        put the store's write-ahead log back."""
        from audit.chain import CheckpointSigner, Schedule

        self._flush()
        for _, sql in self.indexes:
            self.conn.execute(sql)  # as the migrations wrote it
        signer = CheckpointSigner.load_or_create(self.keys_dir or self.path.parent / "keys")
        cp = signer.sign(self.seq, self.prev,
                         datetime.now(UTC).isoformat(timespec="microseconds"),
                         schedule=Schedule(1000, 60.0), batch_from=self.seq + 1)
        self.conn.execute(
            "INSERT INTO checkpoints (seq, hash, at, public_key, signature, every_records, "
            "every_seconds, batch_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (cp.seq, cp.hash, cp.at, cp.public_key, cp.signature, cp.every_records,
             cp.every_seconds, cp.batch_from))
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")
        self.conn.execute("PRAGMA journal_mode = WAL")  # kept in the file (sync is not)
        self.conn.close()


def bulk_fill(path: Path, count: int, *, units: int = 100, months: int = 12,
              seed: int = 7, keys_dir: Path | None = None,
              has_completions: bool = False) -> None:
    """Fill a new store at ``path`` with ``count`` chained message records, fast
    (:class:`BulkStore`): officials of ``units`` units writing to each other over
    ``months`` months, one PDF each.

    With ``has_completions``, each record is followed by its completion (relayed) and
    its attachment is typed as a PDF, so that the report has sent mail and documents
    to count (event ids then differ from record numbers).
    """
    import random

    rng = random.Random(seed)
    store = BulkStore(path, keys_dir=keys_dir)
    span = months * 30 * 86400
    start = datetime(2026, 1, 1, tzinfo=UTC)
    offsets = sorted(rng.randrange(span) for _ in range(count))
    for n in range(1, count + 1):
        seq = store.seq + 1
        sender, receiver = rng.randrange(units), rng.randrange(units)
        at = (start + timedelta(seconds=offsets[n - 1])).isoformat(timespec="microseconds")
        digest = f"{rng.getrandbits(256):064x}"
        record = store.message({
            "at": at, "decided_at": at, "listener": "submission",
            "role": "outbound", "direction": "outbound", "client_address": "10.0.0.5",
            "queue_id": f"Q{seq:09d}", "message_id": f"<{seq}@u{sender}.gov.vn>",
            "envelope_sender": f"staff{seq % 7}@u{sender}.gov.vn",
            "header_from": f"Cán bộ {seq % 7} <staff{seq % 7}@u{sender}.gov.vn>",
            "subject": f"Công văn số {seq}/UB{sender}", "size": 40000 + seq % 1000,
            "action": "accept", "dkim": "pass", "smime": "pass" if seq % 3 else None,
            "processing_ms": 12.5, "sender_unit": f"u{sender}",
        }, {
            "envelope_recipients": [f"vanthu@u{receiver}.gov.vn"],
            "attachments": [{"path": "2", "filename": f"CV {seq}.pdf",
                             "sha256": digest, "size": 40000,
                             **({"detected_type": "application/pdf"}
                                if has_completions else {})}],
            "recipient_units": [f"u{receiver}"], "violations": [], "authentication": [],
            "envelope_recipient_units": [f"u{receiver}"],
            "header_to": f"vanthu@u{receiver}.gov.vn",
        }, members=[(f"u{sender}", "sent"), (f"u{receiver}", "received")],
            recipients=[(f"vanthu@u{receiver}.gov.vn", f"u{receiver}")],
            attachments=[(digest, f"CV {seq}.pdf", 40000, None)])
        if has_completions:
            store.completion(record, "relayed", at)
    store.close()


def _copy_table(source: sqlite3.Connection, target: PgConnection, table: str,
                columns: Sequence[str]) -> int:
    """What :func:`mailbase.pgconn.copy_table` does, at millions of rows: the rows
    passed to COPY as SQLite gives them, a chunk's text checked for what PostgreSQL
    cannot hold in one search (each value encoded only in a chunk that has some, where
    copy_table encodes every value of every row: most of its time), and COPY FREEZE
    (the table was emptied in this transaction: rows written visible to all, so VACUUM
    does not write each page again). Returns the rows copied."""
    from mailbase.pgconn import encode

    names = ", ".join(columns)
    cursor = source.execute(f"SELECT {names} FROM {table}")
    count = 0
    with target.raw.cursor() as pg, pg.copy(
            f"COPY {table} ({names}) FROM STDIN WITH (FREEZE)") as copy:
        while rows := cursor.fetchmany(10_000):
            text = "".join([v for row in rows for v in row if isinstance(v, str)])
            if encode(text) != text:
                rows = [tuple(encode(v) if isinstance(v, str) else v for v in row)
                        for row in rows]
            for row in rows:
                copy.write_row(row)
            count += len(rows)
    return count


def copy_to_postgres(source: Path, url: str, password: str) -> dict[str, int]:
    """Copy the SQLite store at ``source`` into the new, empty PostgreSQL database at
    ``url`` (the owner's login), fast and without the service: the schema by
    audit/pgschema.py's migrations, then every table both backends hold by COPY
    (:func:`_copy_table`, text encoded as the store encodes it) with the secondary
    indexes dropped before and built after (a sort each, not a B-tree insert a row), the
    words for ``--text`` split as the PostgreSQL store splits them, then VACUUM
    ANALYZE (the visibility map index-only scans need, and the planner's statistics).
    The rows, their hashes and the checkpoints are the source's, so the copy verifies as
    the source does. Returns the rows copied, by table."""
    import sqlite3

    from audit.pgschema import migrate
    from audit.pgstore import _words
    from mailbase.pgconn import connect

    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    conn = connect(url, password)
    try:
        migrate(conn)
        tables = [str(r[0]) for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT IN ('_migrations', 'search') ORDER BY tablename")]
        indexes = [(str(name), str(definition)) for name, definition in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)")]
        conn.raw.execute("BEGIN")  # a writer's (the shared SQL's BEGIN is a read snapshot)
        conn.execute(f"TRUNCATE {', '.join(tables)}")  # what the migrations put there
        for name, _ in indexes:
            conn.raw.execute(f"DROP INDEX {name}")
        counts = {}
        for table in tables:
            columns = [str(r[0]) for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", (table,))]
            counts[table] = _copy_table(lite, conn, table, columns)
        words = ((seq, _words(text)) for seq, text in lite.execute(
            "SELECT rowid, text FROM search"))
        conn.executemany("INSERT INTO search (seq, words) VALUES (?, ?)", words)
        conn.raw.execute("SET maintenance_work_mem = '256MB'")  # the sorts in memory
        for _, definition in indexes:
            conn.raw.execute(definition)  # DDL as PostgreSQL wrote it: nothing to translate
        conn.execute("COMMIT")
        conn.execute("VACUUM ANALYZE")
    finally:
        conn.close()
        lite.close()
    return counts


__all__ = ["T0", "BulkStore", "Violation", "bulk_fill", "copy_to_postgres", "make_record",
           "sha"]
