"""The archive's schema in PostgreSQL: its tables, and the migrations that make them.

The archive keeps a schema of its own, ``archive``, beside the audit log's tables when
both use ``[store] url``; its migrations are remembered in ``archive._migrations`` and
applied by mailbase's :func:`~mailbase.pgconn.migrate_schema` in one transaction under
:data:`ARCHIVE_LOCK`, so servers opening a new database do not race.

``archive.objects`` holds each message's object (the bytes its file holds on disk:
zstd, sealed when encrypting, the parts' header when deduplicated) under its SHA-256,
``archive.parts`` each large part stored once, ``archive.object_parts`` which object
names which part (a prune finds the parts no message names with one query), and
``archive.ledgers`` the ledger of what each prune removed, ``archive.texts`` the
words of each message for the search (archive/pgindex.py). Times are seconds since the
epoch (``time.time()`` of the server that stored or touched the row), compared with the
prune's reading of the records as a file's mtime is on disk. The objects are compressed
already: ``STORAGE EXTERNAL`` keeps PostgreSQL from trying to compress them again.
"""

from __future__ import annotations

from mailbase.pgconn import PgConnection, migrate_schema, schema_is_current

SCHEMA = "archive"
#: The advisory lock the archive's migrations run under ("cvarch").
ARCHIVE_LOCK = 0x6376_6172_6368

_TEXT = 'text COLLATE "C"'
_NAME = f"{_TEXT} PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{{64}}$')"

#: (name, statements), oldest first; never edited once released, only appended to.
MIGRATIONS: list[tuple[str, list[str]]] = [
    ("0001-objects", [
        f"""CREATE TABLE archive.objects (
            sha256 {_NAME}, data bytea NOT NULL,
            stored_at double precision NOT NULL, touched_at double precision NOT NULL)""",
        "ALTER TABLE archive.objects ALTER COLUMN data SET STORAGE EXTERNAL",
        f"""CREATE TABLE archive.parts (
            sha256 {_NAME}, data bytea NOT NULL,
            stored_at double precision NOT NULL, touched_at double precision NOT NULL)""",
        "ALTER TABLE archive.parts ALTER COLUMN data SET STORAGE EXTERNAL",
        f"""CREATE TABLE archive.object_parts (
            object {_TEXT} NOT NULL REFERENCES archive.objects ON DELETE CASCADE,
            part {_TEXT} NOT NULL,
            PRIMARY KEY (object, part))""",
        "CREATE INDEX object_parts_part ON archive.object_parts (part)",
        f"""CREATE TABLE archive.ledgers (
            name {_TEXT} PRIMARY KEY, data bytea NOT NULL,
            written_at double precision NOT NULL)""",
    ]),
    ("0002-texts", [
        f"""CREATE TABLE archive.texts (
            sha256 {_TEXT} PRIMARY KEY REFERENCES archive.objects ON DELETE CASCADE,
            words tsvector NOT NULL, indexed_at double precision NOT NULL)""",
        "CREATE INDEX texts_words ON archive.texts USING gin (words)",
    ]),
]


def migrate(conn: PgConnection) -> list[str]:
    """Make or migrate the archive's schema; return the migrations applied.

    :raises psycopg.Error: the database refused (read-only, no right to create).
    """
    return migrate_schema(conn, SCHEMA, ARCHIVE_LOCK, MIGRATIONS)


def is_current(conn: PgConnection) -> bool:
    """Whether every migration has been applied (nothing is created)."""
    return schema_is_current(conn, SCHEMA, MIGRATIONS)
