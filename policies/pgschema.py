"""The quarantine's schema in PostgreSQL: the SQLite index's table (policies/quarantine.py's
``MIGRATIONS``), plus the held messages' bytes, in a schema of its own.

The schema ``quarantine`` keeps the table's SQLite name (``held``), so the reads written
once in the SQL both backends share find it, and no other store's tables can clash with
it. Each migration is named and remembered in ``quarantine._migrations``, applied in one
transaction under :data:`QUARANTINE_LOCK` (mailbase.pgconn.migrate_schema).

The message is stored gzip-compressed, as the file store keeps it, in ``held.message``;
its column is ``STORAGE EXTERNAL``: PostgreSQL would otherwise try to compress it again.
A message held twice is stored twice (the file store keeps one copy): one row holds
everything a release needs, so a deletion is one ``DELETE``, with no other row for a
concurrent hold on another server to race with.
"""

from __future__ import annotations

SCHEMA = "quarantine"
#: The advisory lock the quarantine's migrations take.
QUARANTINE_LOCK = 0x636F6E67_7171  # "cong" "qq"

_TEXT = 'text COLLATE "C"'

#: The migrations, oldest first; never edit one that has shipped, add a new one.
MIGRATIONS: list[tuple[str, list[str]]] = [
    ("0001-held", [
        f"""CREATE TABLE held (
            id {_TEXT} PRIMARY KEY, sha256 {_TEXT} NOT NULL, created {_TEXT} NOT NULL,
            expires {_TEXT} NOT NULL, envelope_from {_TEXT} NOT NULL,
            recipients {_TEXT} NOT NULL, direction {_TEXT} NOT NULL, unit_id {_TEXT},
            action {_TEXT} NOT NULL, decision {_TEXT} NOT NULL, size bigint NOT NULL,
            claimed_by {_TEXT}, claimed_at {_TEXT}, message bytea NOT NULL)""",
        "ALTER TABLE held ALTER COLUMN message SET STORAGE EXTERNAL",
        "CREATE INDEX held_expires ON held (expires)",
        "CREATE INDEX held_sha256 ON held (sha256)",
    ]),
]
