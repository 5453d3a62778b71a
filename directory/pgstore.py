"""The directory store in PostgreSQL: one directory that several mail servers share.

:class:`PgDirectory` is :class:`~directory.store.Directory` over the schema
``directory`` of a PostgreSQL database (directory/pgschema.py): the same units,
addresses, history and roster, read and written by the same code and SQL
(mailbase/pgconn.py translates it). What differs:

- Writes are serialised across servers: an import reads what is stored, compares the
  file with it and writes the difference and its history in one READ COMMITTED
  transaction that takes the advisory lock :data:`~directory.pgschema.DIRECTORY_LOCK`
  first, so it sees every import committed before it and none commits in between.
- :meth:`PgDirectory.data_version` is the revision (the last ids of the two
  histories): PostgreSQL has no ``data_version``, and the revision changes with every
  commit that matters to the filter's index.
- A lost connection (the server restarted, a failover) is made anew on the next read
  or write; the one that found it lost fails with :class:`~directory.errors.StoreError`.

Every database failure is a :class:`~directory.errors.StoreError` whose message says
what it means (down, unreachable, read-only, login refused) and what the server said.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from sqlite_utils import Database

from directory import problems
from directory.config import DirectoryConfig
from directory.errors import StoreError
from directory.pgschema import DIRECTORY_LOCK, MIGRATIONS, SCHEMA, TABLES, missing_steps
from directory.store import Directory
from mailbase.pgconn import (
    ERRORS,
    PgConnection,
    PgDatabase,
    connect,
    copy_table,
    explain,
    migrate_schema,
    pooled,
    schema_is_current,
)

log = logging.getLogger("congvu.directory")


class PgDirectory(Directory):
    """The directory in a PostgreSQL database (see the module's docstring)."""

    def __init__(self, db: Database, path: str, *, password: str | None = None,
                 read_only: bool = False) -> None:
        super().__init__(db, path)
        self._password = password
        self._read_only = read_only
        self._depth = 0  # of _mapped blocks: a connection is made anew only outside all

    @classmethod
    def open_url(cls, config: DirectoryConfig, *, read_only: bool = False) -> PgDirectory:
        """Connect to ``config.url``: a writer migrates the schema first; a reader
        borrows a read-only session from this process's pool and needs a current store.

        :raises StoreError: the database cannot be reached, refuses the login, cannot be
            migrated (read-only, no privilege), holds no directory store of this
            version (a reader), or the password file is unusable.
        """
        assert config.url is not None
        url, password = config.url, config.password()
        missing = missing_steps()
        if missing:
            raise StoreError(url, problems.STORE_NO_STEPS(migrations=", ".join(missing)))
        try:
            if read_only:
                conn = pooled(url, password, schema=SCHEMA)
                try:
                    current = schema_is_current(conn, SCHEMA, MIGRATIONS)
                except BaseException:
                    conn.close()
                    raise
                if not current:
                    conn.close()
                    raise StoreError(url, problems.STORE_NOT_CREATED())
            else:
                conn = connect(url, password, schema=SCHEMA)
                try:
                    migrate_schema(conn, SCHEMA, DIRECTORY_LOCK, MIGRATIONS)
                except BaseException:
                    conn.close()
                    raise
        except ERRORS as exc:
            cannot = (problems.STORE_CANNOT_OPEN_READ_ONLY if read_only
                      else problems.STORE_CANNOT_OPEN_WRITING)
            raise StoreError(url, cannot(detail=explain(exc))) from exc
        return cls(cast(Database, PgDatabase(conn)), url, password=password,
                   read_only=read_only)

    @property
    def _conn(self) -> PgConnection:
        return cast(PgDatabase, self.db).conn

    def close(self) -> None:
        """Give the connection back (to the pool, for a reader) or close it."""
        with contextlib.suppress(*ERRORS):
            self._conn.close()

    def _reconnect_if_lost(self) -> None:
        # never inside a block: the statements after it would run outside its transaction
        conn = self._conn
        if self._depth or not (conn.raw.closed or conn.raw.broken):
            return
        with contextlib.suppress(*ERRORS):
            conn.close()
        if self._read_only:
            fresh = pooled(self.path, self._password, schema=SCHEMA)
        else:
            fresh = connect(self.path, self._password, schema=SCHEMA)
        cast(PgDatabase, self.db).conn = fresh
        log.info("directory store %s: reconnected", self.path)

    @contextlib.contextmanager
    def _mapped(self, doing: str) -> Iterator[None]:
        try:
            self._reconnect_if_lost()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
        except ERRORS as exc:
            raise StoreError(self.path, problems.STORE_FAILED(doing=doing, detail=explain(exc))
                             ) from exc

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """One READ COMMITTED transaction under the directory's advisory lock (see the
        module's docstring)."""
        with self._mapped(doing), cast(PgDatabase, self.db).atomic():
            self.db.execute("SELECT pg_advisory_xact_lock(?)", [DIRECTORY_LOCK])
            yield

    def data_version(self) -> int:
        """The revision: it changes whenever a server commits a change of a unit or of
        the roster (PostgreSQL has no ``data_version``)."""
        return self.revision()

    def revision(self) -> int:
        """:meth:`Directory.revision` in one round trip (the filter asks it every few
        seconds, and the roster's tables are always there)."""
        with self._mapped("reading the revision"):
            row = self.db.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM history)"
                " + (SELECT coalesce(max(id), 0) FROM mailbox_history)").fetchone()
        return int(row[0])


def copy_directory_to_postgresql(source: Path, target: DirectoryConfig) -> dict[str, int]:
    """Copy the SQLite directory store at ``source`` into the empty PostgreSQL one
    ``target.url`` names: every table, the history with its ids, in one transaction
    (all or nothing), read from one snapshot of the file; the ids then continue after
    the copied ones. The file must be of this release's schema (any directory command
    of this release, or ``congvu serve``, migrates it). Return the rows copied per table.

    :raises StoreError: the file cannot be read or is of another schema version, the
        database cannot be reached, or it already holds units, history or a roster.
    :raises ValueError: ``target`` names no url.
    """
    if target.url is None:
        raise ValueError("the target of a copy is a PostgreSQL store: its url is not set")
    with Directory.open(source, read_only=True) as origin:
        conn = origin.db.conn
        with origin._mapped("reading the store to copy"):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != len(MIGRATIONS):
                raise StoreError(str(source), problems.STORE_SCHEMA_VERSION(
                    version=version, current=len(MIGRATIONS)))
            conn.execute("BEGIN")  # one snapshot of the file, whatever writes it meanwhile
        copy = PgDirectory.open_url(target)
        with copy, copy._mapped("copying the store"):
            counts: dict[str, int] = {}
            with cast(PgDatabase, copy.db).atomic():
                copy.db.execute("SELECT pg_advisory_xact_lock(?)", [DIRECTORY_LOCK])
                for table, _ in TABLES:
                    if copy.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                        raise StoreError(target.url, problems.STORE_NOT_EMPTY(table=table))
                with origin._mapped("reading the store to copy"):
                    for table, columns in TABLES:
                        identity = "id" if table in _IDENTITIES else None
                        counts[table] = copy_table(conn, copy._conn, table, columns,
                                                   identity=identity)
            return counts


_IDENTITIES = ("history", "imports", "mailbox_history")
