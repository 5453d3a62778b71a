"""The quarantine in PostgreSQL, which several mail servers share, and the choice of store.

:class:`PgQuarantine` is :class:`~policies.quarantine.Quarantine` over a PostgreSQL
database (``[store] url`` or ``[policies.quarantine] url``): the same entries, ids and
answers, with the held message's bytes in the row itself (policies/pgschema.py), so any
server sharing the database, or its console, reads and releases what another held.

A handle keeps one connection, made on its first call, and its calls take turns on it,
as on the SQLite index (held messages are few; a console request opens a handle of its
own). A connection found lost (a restart, a failover, an administrator ending the
session) fails that call and is made anew on the next one. Its first call also checks the
schema, and creates or migrates it (``serve``'s parent does, before the workers fork).
``put`` returns once its ``INSERT`` committed, that is once PostgreSQL flushed it
(``synchronous_commit`` on, the default; keep it on): a 250 for a held message still
means "in quarantine".

A database that is down, unreachable, read-only or refusing the login makes the call a
:class:`~policies.errors.QuarantineError` saying so in an administrator's words, which
the filter answers with 451: nothing is relayed and nothing is lost, Postfix retries.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import threading
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta

from mailbase.pgconn import (
    ERRORS,
    PgConnection,
    connect,
    explain,
    migrate_schema,
    read_password,
    schema_is_current,
)
from policies.config import QuarantineConfig
from policies.errors import QuarantineError, QuarantineNotFound
from policies.pgschema import MIGRATIONS, QUARANTINE_LOCK, SCHEMA
from policies.quarantine import (
    CLAIM_TIMEOUT,
    COLUMNS,
    Quarantine,
    QuarantineEntry,
    QuarantineId,
    _Entries,
    _Ids,
    _Rows,
    _utc,
)

#: compressed bytes beyond ``limit`` that :meth:`PgQuarantine.read_head` fetches: the
#: gzip header and what stored blocks add (5 bytes per 64 KiB)
_GZIP_MARGIN = 4096

# Which rows a deletion may remove: unclaimed, claimed by this token, or claimed long ago.
_REMOVABLE = "(claimed_by IS NULL OR claimed_by = ? OR claimed_at <= ?)"


class PgQuarantine(Quarantine):
    """The quarantine in the PostgreSQL database ``url`` (see the module's docstring)."""

    def __init__(self, url: str, *, password: str | None = None,
                 retention_days: int = 30) -> None:
        # not the base's constructor: there is no directory to make
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.url = url
        self.where = url
        self.retention = timedelta(days=retention_days)
        self._password = password
        self._conn: PgConnection | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: QuarantineConfig) -> PgQuarantine:
        """The store ``config.url`` names, its password read from ``password_file``.

        :raises QuarantineError: the password file is unusable.
        """
        assert config.url is not None, "a PostgreSQL quarantine needs url"
        try:
            password = read_password(config.password_file)
        except ValueError as exc:
            raise QuarantineError(f"quarantine store {config.url}: {exc}") from exc
        return cls(config.url, password=password, retention_days=config.retention_days)

    def close(self) -> None:
        """Close the connection, if one was made."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(*ERRORS):
                    self._conn.close()
                self._conn = None

    @contextlib.contextmanager
    def _connection(self, doing: str) -> Iterator[PgConnection]:
        """This handle's connection to a store of this version, for one call; database
        errors become :class:`QuarantineError` naming the store and what was being done."""
        with self._lock:
            try:
                conn = self._connected()
                try:
                    yield conn
                finally:
                    conn.rollback()  # nothing is left open between calls
            except ERRORS as exc:
                if self._conn is not None and (self._conn.raw.closed or self._conn.raw.broken):
                    self._conn = None  # the next call connects again
                raise QuarantineError(
                    f"quarantine store {self.url}: cannot {doing}: {explain(exc)}") from exc

    def _connected(self) -> PgConnection:
        """The connection, made (and the schema checked, created or migrated) if there is
        none; the check is read-only when the schema is current, so a read-only database
        still answers reads."""
        if self._conn is None:
            conn = connect(self.url, self._password, schema=SCHEMA)
            try:
                if not schema_is_current(conn, SCHEMA, MIGRATIONS):
                    migrate_schema(conn, SCHEMA, QUARANTINE_LOCK, MIGRATIONS)
            except BaseException:
                with contextlib.suppress(*ERRORS):
                    conn.close()
                raise
            self._conn = conn
        return self._conn

    def prepare(self) -> None:
        """Create or migrate the store now (``serve``'s parent, before it forks).

        :raises QuarantineError: the database cannot be reached or migrated.
        """
        with self._connection("create or migrate its tables"):
            pass

    def _hold(self, raw: bytes, row: tuple[object, ...]) -> None:
        message = gzip.compress(raw, compresslevel=6, mtime=0)
        with self._connection("hold the message") as conn:
            conn.execute(f"INSERT INTO held ({COLUMNS}, message) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", (*row, message))

    def _message(self, qid: str) -> tuple[QuarantineEntry, bytes]:
        with self._connection(f"read held message {qid}") as conn:
            found = conn.execute(f"SELECT {COLUMNS}, message FROM held WHERE id = ?",
                                 (qid,)).fetchone()
        if found is None:
            raise QuarantineNotFound(qid)
        return self._entry(found[:-1]), bytes(found[-1])

    def read(self, qid: str) -> bytes:
        """The held message's bytes, exactly as they were put."""
        entry, message = self._message(qid)
        try:
            raw = gzip.decompress(message)
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            raise QuarantineError(f"held message {qid} in {self.url} is corrupt: {exc}") from exc
        if hashlib.sha256(raw).hexdigest() != entry.sha256:
            raise QuarantineError(f"held message {qid} in {self.url} is corrupt "
                                  "(hash mismatch)")
        return raw

    def read_head(self, qid: str, limit: int) -> bytes:
        """The first ``limit`` bytes of the held message, decompressed no further; not
        checked against its hash (:meth:`read` is). Only the start of the stored bytes
        is fetched (the column is stored uncompressed, so PostgreSQL reads only the
        chunks it needs): a list of large held messages costs their headers, not their
        attachments. gzip never grows data by more than a few bytes per block, so
        ``limit`` and a margin of compressed bytes hold at least ``limit`` of the message.
        """
        with self._connection(f"read held message {qid}") as conn:
            found = conn.execute("SELECT substring(message FROM 1 FOR ?) FROM held "
                                 "WHERE id = ?", (limit + _GZIP_MARGIN, qid)).fetchone()
        if found is None:
            raise QuarantineNotFound(qid)
        try:
            return zlib.decompressobj(wbits=31).decompress(bytes(found[0]), limit)
        except zlib.error as exc:
            raise QuarantineError(f"cannot read held message {qid} in {self.url}: {exc}") \
                from exc

    def _remove(self, entries: _Entries, claim: str | None, now: datetime) -> _Ids:
        if not entries:
            return []
        stale = (_utc(now) - CLAIM_TIMEOUT).isoformat()
        with self._connection("delete from the quarantine") as conn:
            gone = {row[0] for row in conn.execute(
                f"DELETE FROM held WHERE id = ANY(?) AND {_REMOVABLE} RETURNING id",
                ([e.id for e in entries], claim, stale)).fetchall()}
        return [QuarantineId(e.id) for e in entries if e.id in gone]

    # -- the claims, as columns of the row (one UPDATE takes it: the row's lock
    # serialises two servers' claims and a deletion) ------------------------------------

    def _take(self, qid: str, token: str, at: datetime) -> bool:
        with self._connection("claim a held message") as conn:
            return conn.execute(
                "UPDATE held SET claimed_by = ?, claimed_at = ? WHERE id = ? "
                "AND (claimed_by IS NULL OR claimed_at <= ?)",
                (token, at.isoformat(), qid, (at - CLAIM_TIMEOUT).isoformat())).rowcount == 1

    def unclaim(self, qid: str, token: str) -> None:
        """Give ``qid`` back (its release failed; it stays held for the next try)."""
        with self._connection("give back a held message") as conn:
            conn.execute("UPDATE held SET claimed_by = NULL, claimed_at = NULL "
                         "WHERE id = ? AND claimed_by = ?", (qid, token))

    def _claimant(self, qid: str) -> tuple[str, str] | None:
        rows = self._query("SELECT claimed_by, claimed_at FROM held WHERE id = ?", (qid,))
        if not rows:
            raise QuarantineNotFound(qid)
        by, since = rows[0]
        return None if by is None else (by, since)

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> _Rows:
        with self._connection("read the quarantine index") as conn:
            return conn.execute(sql, params).fetchall()


def open_quarantine(config: QuarantineConfig) -> Quarantine:
    """The quarantine ``config`` names: PostgreSQL with ``url``, else the directory
    ``path``.

    :raises QuarantineError: the store cannot be opened (or its password file read).
    """
    if config.url is not None:
        return PgQuarantine.from_config(config)
    return Quarantine(config.path, retention_days=config.retention_days)


def copy_quarantine(source: Quarantine, target: Quarantine) -> int:
    """Copy every held message of ``source`` (a directory, as a single server kept it)
    into the empty ``target`` (PostgreSQL), ids, times and decisions kept; how many.
    Claims are not copied: a release in flight on the source is not one on the target.

    :raises QuarantineError: ``target`` already holds messages (copying is for a new
        store; a second run would hold each message twice), or either store fails.
    """
    if target.list():
        raise QuarantineError(f"the quarantine {target.where} already holds messages: "
                              "a copy goes into an empty store only")
    entries = source.list()
    for entry in entries:
        target.adopt(entry, source.read(entry.id))
    return len(entries)
