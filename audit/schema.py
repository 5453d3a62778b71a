"""The audit store's schema: the only place tables are created.

Tables are created explicitly (``strict=True``, ``not_null``), never by inference, and
only through the ordered :data:`MIGRATIONS`, each applied once and remembered in the
``_migrations`` table, inside one ``BEGIN IMMEDIATE`` so that two worker processes
opening a new file do not race.

``events`` is the hash chain: every message record, completion and administrative
event, in commit order (``seq``). ``memberships``, ``recipients``, ``attachments`` and
``search`` are indexes derived from it for the auditors' queries; ``checkpoints``
holds the signed chain heads. ``chains`` and ``imported_checkpoints`` hold the logs
imported beside the live chain (audit/chains.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlite_utils import Database

# The columns of ``events`` covered by each row's hash, in table order (``seq`` and
# ``hash`` are not: see audit/chain.py).
EVENT_COLUMNS: dict[str, type] = {
    "seq": int,
    "kind": str,
    "at": str,
    "record_id": int,
    "decided_at": str,
    "listener": str,
    "role": str,
    "direction": str,
    "client_address": str,
    "client_helo": str,
    "queue_id": str,
    "message_id": str,
    "envelope_sender": str,
    "header_from": str,
    "subject": str,
    "size": int,
    "action": str,
    "dkim": str,
    "smime": str,
    "processing_ms": float,
    "sender_unit": str,
    "outcome": str,
    "reply": str,
    "admin_kind": str,
    "actor": str,
    "target": str,
    "detail": str,
    "prev_hash": str,
    "hash": str,
}
HASHED_COLUMNS: tuple[str, ...] = tuple(c for c in EVENT_COLUMNS if c not in ("seq", "hash"))

#: Each chain of a store has its own span of the store's event ids: the live chain
#: 1 .. CHAIN_SPAN - 1, the n-th imported chain n * CHAIN_SPAN + its own positions
#: (audit/chains.py). A row's ``seq`` and ``chain`` say where it sits, not what it
#: says: neither is hashed, so an imported row keeps its hash.
CHAIN_SPAN = 10**12
#: The columns of an imported checkpoint: a checkpoint's, as its chain signed it.
IMPORTED_CHECKPOINT_COLUMNS: dict[str, type] = {
    "chain": str, "seq": int, "hash": str, "at": str, "public_key": str, "signature": str,
    "every_records": int, "every_seconds": float, "batch_from": int, "link_from": int,
    "link": str, "link_signature": str,
}


def _v1_tables(db: Database) -> None:
    db.table("events").create(
        EVENT_COLUMNS,
        pk="seq",
        not_null=["kind", "at", "detail", "prev_hash", "hash"],
        strict=True,
    )
    db.table("events").create_index(["kind", "at"], index_name="events_kind_at")
    db.table("events").create_index(["record_id"], index_name="events_record")
    db.table("events").create_index(["message_id"], index_name="events_message_id")
    db.table("events").create_index(["queue_id"], index_name="events_queue_id")
    db.table("events").create_index(["envelope_sender"], index_name="events_sender")
    db.table("memberships").create(
        {"record_id": int, "unit_id": str, "role": str, "at": str},
        pk=("unit_id", "role", "record_id"),
        not_null=["record_id", "unit_id", "role", "at"],
        strict=True,
    )
    # The auditors' query: one unit, one period, newest first.
    db.table("memberships").create_index(
        ["unit_id", "at", "record_id"], index_name="memberships_unit_at"
    )
    db.table("memberships").create_index(["record_id"], index_name="memberships_record")
    db.table("recipients").create(
        {"record_id": int, "position": int, "address": str},
        pk=("record_id", "position"),
        not_null=["record_id", "position", "address"],
        strict=True,
    )
    db.table("recipients").create_index(["address", "record_id"], index_name="recipients_address")
    db.table("attachments").create(
        {"record_id": int, "position": int, "sha256": str, "filename": str,
         "filename_folded": str, "size": int},
        pk=("record_id", "position"),
        not_null=["record_id", "position", "sha256", "size"],
        strict=True,
    )
    db.table("attachments").create_index(["sha256"], index_name="attachments_sha256")
    db.table("attachments").create_index(["filename_folded"], index_name="attachments_filename")
    db.table("checkpoints").create(
        {"seq": int, "hash": str, "at": str, "public_key": str, "signature": str},
        pk="seq",
        not_null=["hash", "at", "public_key", "signature"],
        strict=True,
    )
    # Folded text (mailbase.fold) of subject, addresses and filenames; rowid = seq.
    db.execute("CREATE VIRTUAL TABLE search USING fts5(text, tokenize='unicode61')")


def _v2_recipient_units(db: Database) -> None:
    # Which unit each recipient address belongs to: the per-mailbox received counts.
    db.execute("ALTER TABLE recipients ADD COLUMN unit_id TEXT")
    db.table("recipients").create_index(["unit_id", "address"], index_name="recipients_unit")


def _v3_document_verdicts(db: Database) -> None:
    # Each attachment's document-signature verdict: the report's documents signed /
    # validly signed. NULL: not a PDF or Office document, or not verified.
    db.execute("ALTER TABLE attachments ADD COLUMN document TEXT")


def _v4_checkpoint_schedule(db: Database) -> None:
    # The schedule in force and the first record of the signing transaction, signed
    # into each new checkpoint; NULL in checkpoints written before (their signature
    # does not cover them, and verify applies the schedule rules only where signed).
    for column, kind in (("every_records", "INTEGER"), ("every_seconds", "REAL"),
                         ("batch_from", "INTEGER")):
        db.execute(f"ALTER TABLE checkpoints ADD COLUMN {column} {kind}")


def _v5_checkpoint_links(db: Database) -> None:
    # Each new checkpoint also signs the link of the row hashes since the previous one
    # (audit/links.py), so a proof can show the other rows as hashes only. NULL in
    # checkpoints written before; the first signature and the row hashes are unchanged.
    for column, kind in (("link_from", "INTEGER"), ("link", "TEXT"),
                         ("link_signature", "TEXT")):
        db.execute(f"ALTER TABLE checkpoints ADD COLUMN {column} {kind}")


def _v6_admin_kind_index(db: Database) -> None:
    # Administrative events by their kind (unit renames read on every query, enrolled
    # keys on every open): without it SQLite scans the whole log in seq order.
    db.execute("CREATE INDEX events_admin_kind ON events (admin_kind, seq) "
               "WHERE kind = 'admin'")


def _v7_chains(db: Database) -> None:
    # Several chains in one store: the live one and, read-only, each log imported into
    # it (audit/chains.py). ``events.chain`` names an imported row's chain (NULL: the
    # live chain); it is not hashed, like ``seq``. An imported chain's checkpoints keep
    # their own numbering, apart from the live chain's.
    db.execute("ALTER TABLE events ADD COLUMN chain TEXT")
    db.table("chains").create(
        {"id": str, "base": int, "source": str, "imported_at": str, "events": int,
         "first_seq": int, "last_seq": int, "head_hash": str},
        pk="id", not_null=["base", "source", "imported_at", "events", "head_hash"],
        strict=True,
    )
    db.table("chains").create_index(["base"], index_name="chains_base", unique=True)
    db.table("imported_checkpoints").create(
        IMPORTED_CHECKPOINT_COLUMNS, pk=("chain", "seq"),
        not_null=["chain", "seq", "hash", "at", "public_key", "signature"], strict=True,
    )


def _v8_report_summary(db: Database) -> None:
    # The report's summary (audit/summaryschema.py): derived, never hashed, rebuilt
    # from the records by `congvu audit summary rebuild`.
    from audit.summaryschema import sqlite_steps

    for statement in sqlite_steps():
        db.execute(statement)


#: The lookups' indexes of ``events`` (index, column): only the rows that have a value,
#: since migration 0009. A query by one of these columns finds its rows through the
#: index only when its condition implies ``IS NOT NULL`` (``=`` and ``IN`` do).
LOOKUP_INDEXES: tuple[tuple[str, str], ...] = (
    ("events_message_id", "message_id"), ("events_queue_id", "queue_id"),
    ("events_sender", "envelope_sender"))


def partial_lookup_indexes() -> list[str]:
    """The statements of migration 0009, the same on both backends: completions and
    administrative events leave the lookup columns NULL, yet each wrote an entry (an
    index page) into every lookup index; kept to the rows that have a value, a
    completion writes 6.7 pages to SQLite's WAL instead of 9.8."""
    return [statement for name, column in LOOKUP_INDEXES for statement in (
        f"DROP INDEX {name}",
        f"CREATE INDEX {name} ON events ({column}) WHERE {column} IS NOT NULL")]


def _v9_partial_lookup_indexes(db: Database) -> None:
    for statement in partial_lookup_indexes():
        db.execute(statement)


Migration = tuple[str, Callable[[Database], None]]
MIGRATIONS: list[Migration] = [
    ("0001-events-indexes-checkpoints", _v1_tables),
    ("0002-recipient-units", _v2_recipient_units),
    ("0003-document-verdicts", _v3_document_verdicts),
    ("0004-checkpoint-schedule", _v4_checkpoint_schedule),
    ("0005-checkpoint-links", _v5_checkpoint_links),
    ("0006-admin-kind-index", _v6_admin_kind_index),
    ("0007-chains", _v7_chains),
    ("0008-report-summary", _v8_report_summary),
    ("0009-partial-lookup-indexes", _v9_partial_lookup_indexes),
]


def migrate(db: Database, migrations: Sequence[Migration] | None = None) -> list[str]:
    """Apply the migrations this file lacks, in order, atomically; return their names."""
    migrations = MIGRATIONS if migrations is None else migrations
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        applied = []
        for name, step in migrations:
            if name in done:
                continue
            step(db)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat()),
            )
            applied.append(name)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether every migration has been applied to this (possibly read-only) file."""
    try:
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:
        return False
    return all(name in done for name, _ in MIGRATIONS)
