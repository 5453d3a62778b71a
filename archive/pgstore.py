"""The archive in PostgreSQL: every mail server keeps its messages in one place.

:class:`PgArchive` is :class:`~archive.store.Archive` with its objects in rows instead
of files (archive/pgschema.py): each message's object is the bytes its file would hold
(zstd, sealed when encrypting, the parts' header when its large parts are stored
once), keyed by its SHA-256, and read back only when it still hashes to that name.
Compression, encryption, deduplication, ``get``, ``verify``, proofs, prune and holds
are the directory archive's; only where the bytes live differs.

Written once: a message or part already stored is never rewritten, only its
``touched_at`` moved (the time a prune compares, as a file's mtime on disk). Two
servers storing the same bytes at once both succeed: the second's ``INSERT ... ON
CONFLICT`` waits for the first's commit and then only touches the row. A message's
parts, its object and the rows saying which parts it names commit in one transaction,
with the rest of its batch (the filter's group commit hands :meth:`PgArchive.put_many`
what its sessions queued meanwhile: one commit, one WAL flush, for all of them), before
the stage returns, so before the record naming it commits; PostgreSQL's commit is
durable once its WAL is flushed (``synchronous_commit`` on, the default). Rows are
locked in one order (objects by name, then parts by name), so two servers' batches
never deadlock.

Prune needs no lock file: row locks give what ``<root>/lock`` gives on disk. A message
touching an object that a prune is deleting waits for that delete and then stores the
bytes anew; a prune deleting an object a message has just touched re-reads the row
under READ COMMITTED, finds it touched since the records were read, and leaves it.

A database that is down, unreachable, read-only or full makes :meth:`PgArchive.put` an
:class:`~archive.errors.ArchiveWriteError` (milter answers 451, nothing is relayed).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import psycopg

from archive.errors import IN_POSTGRESQL, ArchiveError, ArchiveReadError, ArchiveWriteError
from archive.index import TextReader
from archive.parts import DEDUPLICATED, header, split
from archive.pgindex import PgTextIndex, add_in_batch
from archive.pgschema import is_current, migrate
from archive.store import IN_FLIGHT, Archive, Prepared, Removal, Stored
from mailbase.pgconn import ERRORS, PgConnection, connect, explain

_T = TypeVar("_T")

log = logging.getLogger("congvu.archive")

#: connections kept open between uses, per process (the filter's threads store at once)
_IDLE = 8
#: names listed per statement
_PAGE = 1000
#: objects a prune removes per statement
_BATCH = 256
#: what a database refusing the archive's tables when the filter starts means
_AT_START = "the filter makes or migrates the archive's tables there when it starts"
#: a write transaction (the shared SQL's plain BEGIN is a reader's snapshot)
WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"


class _Connections:
    """This process's connections to one database: one per concurrent user, kept for
    the next (up to :data:`_IDLE`); one the database broke is dropped."""

    def __init__(self, url: str, password: str | None) -> None:
        self.url = url
        self._password = password
        self._idle: list[PgConnection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def run(self, work: Callable[[PgConnection], _T]) -> _T:
        """``work`` on a connection outside any transaction, given back when done. Every
        use of the archive is safe to repeat (content-addressed rows, written once), so
        when a kept connection turns out to be one the database ended meanwhile (it
        restarted, failed over, or an administrator ended the session), ``work`` runs
        once more on a new one instead of failing a message for nothing.

        :raises psycopg.Error: the database refused, or none could be reached.
        """
        conn = None
        with self._lock:
            if self._pid != os.getpid():
                # a forked child: these are the parent's sessions, never to be touched
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                conn = self._idle.pop()
        if conn is not None:
            try:
                return self._on(conn, work)
            except psycopg.OperationalError:
                if not conn.raw.broken:
                    raise
                log.info("archive %s: reconnecting (the database ended a kept session)",
                         self.url)
        return self._on(connect(self.url, self._password), work)

    def _on(self, conn: PgConnection, work: Callable[[PgConnection], _T]) -> _T:
        try:
            result = work(conn)
        except BaseException:
            with contextlib.suppress(*ERRORS):
                conn.rollback()
            self._give_back(conn)
            raise
        self._give_back(conn)
        return result

    def _give_back(self, conn: PgConnection) -> None:
        if conn.raw.closed or conn.raw.broken or conn.in_transaction:
            with contextlib.suppress(*ERRORS):
                conn.raw.close()
            return
        with self._lock:
            if len(self._idle) < _IDLE and self._pid == os.getpid():
                self._idle.append(conn)
                return
        conn.raw.close()

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            with contextlib.suppress(*ERRORS):
                conn.raw.close()


class PgArchive(Archive):
    """The archive in the PostgreSQL database ``url`` (see the module's docstring);
    safe to share between threads."""

    @classmethod
    def connect(cls, url: str, password: str | None, *, create: bool, level: int = 3,
                key: bytes | None = None, is_encrypting: bool | None = None,
                retired: Sequence[bytes] = (), is_indexed: bool = False,
                reader: TextReader | None = None) -> PgArchive:
        """The archive in ``url``; with ``create`` (the filter) its tables are made or
        migrated, without (the commands) they must be there already.

        :raises ArchiveWriteError: with ``create``, the database refused.
        :raises ArchiveError: without, it cannot be reached or holds no archive of this
            version.
        """
        archive = cls(url, password, level=level, key=key, is_encrypting=is_encrypting,
                      retired=retired)
        if is_indexed:
            archive.index = PgTextIndex(url, archive.connections)
            archive.reader = reader
        if create:
            # on a connection of its own, closed after: ``serve`` migrates in the parent,
            # which must hold no session its forked workers would inherit
            try:
                conn = connect(url, password)
                try:
                    migrate(conn)
                finally:
                    conn.raw.close()
            except ERRORS as exc:
                raise ArchiveWriteError(url, explain(exc), check=_AT_START) from exc
        elif not archive._run("read it", is_current):
            raise ArchiveError(f"archive {url}: holds no archive of this version (the filter "
                               "makes and migrates its tables when it starts)")
        return archive

    def __init__(self, url: str, password: str | None, *, level: int = 3,
                 key: bytes | None = None, is_encrypting: bool | None = None,
                 retired: Sequence[bytes] = ()) -> None:
        # the directory archive's paths stay unused: every file operation is overridden
        super().__init__(Path(os.devnull), level=level, key=key,
                         is_encrypting=is_encrypting, retired=retired)
        self.url = url
        self.connections = _Connections(url, password)

    @property
    def where(self) -> str:
        """The database's URL (never with a password)."""
        return self.url

    def location(self, sha256: str) -> str:
        """Where message ``sha256`` is: its row."""
        return f"{self.url}, archive.objects {sha256[:12]}"

    def part_location(self, sha256: str) -> str:
        """Where part ``sha256`` is: its row."""
        return f"{self.url}, archive.parts {sha256[:12]}"

    def close(self) -> None:
        """Close this process's idle connections."""
        self.connections.close()

    def index_later(self, *, batch: int = 0, delay: float = 0.0) -> None:
        """Nothing: a batch's words are indexed in the transaction that stores it."""

    def _run(self, doing: str, work: Callable[[PgConnection], _T]) -> _T:
        """``work`` on a connection; what the database refused, said as our error.

        :raises ArchiveError: the database refused or cannot be reached.
        """
        try:
            return self.connections.run(work)
        except ERRORS as exc:
            raise ArchiveError(f"archive {self.url}: could not {doing}: {explain(exc)}"
                               ) from exc

    # -- writing ----------------------------------------------------------------

    def put(self, data: bytes) -> Stored:
        """Store ``data`` in one transaction unless it is stored already (then touch
        it); return its name.

        :raises ArchiveWriteError: the database refused or cannot be reached.
        """
        [outcome] = self.put_many([data])
        if isinstance(outcome, ArchiveWriteError):
            raise outcome
        return outcome

    def put_many(self, messages: Sequence[bytes | Prepared]
                 ) -> list[Stored | ArchiveWriteError]:
        """Store a batch of messages (the filter's group commit) in one transaction, so
        one commit, one WAL flush, makes them all durable; one outcome a message, in
        order. Rows are locked in one order whatever the batch (objects by name, then
        parts by name), so two servers' batches never deadlock. What PostgreSQL refuses
        is refused for the whole batch (a read-only or unreachable database refuses
        every message alike): each outcome is then the same
        :class:`~archive.errors.ArchiveWriteError`.
        """
        batch = [m if isinstance(m, Prepared) else self.prepare(m) for m in messages]
        try:
            stored = self.connections.run(lambda conn: self._store(conn, batch))
        except ERRORS as exc:
            failed = ArchiveWriteError(self.url, explain(exc), check=IN_POSTGRESQL)
            failed.__cause__ = exc  # the filter tells the server's full disk by it (4.3.1)
            return [failed] * len(batch)
        return [stored[n] for n in range(len(batch))]

    def _store(self, conn: PgConnection, batch: list[Prepared]) -> dict[int, Stored]:
        """Each message of ``batch`` stored or touched, and its words indexed, in one
        transaction: its outcome by its place in the batch."""
        now = time.time()
        conn.execute(WRITE)
        found = {m.sha256: size for m in sorted(batch, key=lambda m: m.sha256)
                 if (size := _touch(conn, "archive.objects", m.sha256, now)) is not None}
        new = {m.sha256: m for m in batch if m.sha256 not in found}
        runs_by_name = {name: run for m in new.values()
                        for name, run in zip(m.names, m.runs, strict=True)}
        written: dict[str, int] = {}
        for name in sorted(runs_by_name):
            if _touch(conn, "archive.parts", name, now) is None:
                sealed = self._seal(runs_by_name[name].decoded, b"part:" + name.encode())
                written[name] = len(sealed) * _insert(conn, "archive.parts", name, sealed,
                                                      now)
        stored: set[str] = set()
        for sha256 in sorted(new):
            message = new[sha256]
            data = message.stored_form
            # a part written in this batch counts for the first message naming it
            found[sha256] = len(data) + sum(written.pop(n, 0) for n in message.names)
            if _insert(conn, "archive.objects", sha256, data, now):
                _name_parts(conn, sha256, message.names)
                stored.add(sha256)
            # else another server's transaction stored the same bytes first: touched
        if self.index is not None:
            add_in_batch(conn, [(m.sha256, m.words) for m in batch if m.words is not None],
                         self.url, now)
        conn.execute("COMMIT")
        outcomes: dict[int, Stored] = {}
        for number, message in enumerate(batch):
            is_new = message.sha256 in stored
            stored.discard(message.sha256)  # the same bytes again in the batch: found
            outcomes[number] = Stored(message.sha256, len(message.data),
                                      found[message.sha256], is_new=is_new)
        return outcomes

    def write_ledger(self, name: str, data: bytes) -> str:
        """Keep a prune's ledger in ``archive.ledgers``; say where.

        :raises ArchiveError: it cannot be written.
        """
        self._run(f"write the ledger of what retention removes ({name})",
                  lambda conn: conn.execute(
                      "INSERT INTO archive.ledgers (name, data, written_at) VALUES (?, ?, ?) "
                      "ON CONFLICT DO NOTHING", (name, data, time.time())))
        return f"{self.url}, archive.ledgers {name}"

    def remove_unused(self, names: Iterable[str], *, records_read_at: float,
                      on_wait: Callable[[], None] | None = None,
                      ) -> Iterator[tuple[str, Removal]]:
        """Delete the messages ``names``, a batch a statement, except those stored or
        touched since :data:`~archive.store.IN_FLIGHT` before ``records_read_at``. A
        message being stored holds its row, so no lock file is needed (``on_wait`` is
        never called). Yields what was done with each.

        :raises ArchiveError: the database refused.
        """
        cutoff = records_read_at - IN_FLIGHT
        batch: list[str] = []
        for name in names:
            batch.append(name)
            if len(batch) == _BATCH:
                yield from self._delete_batch(batch, cutoff)
                batch = []
        if batch:
            yield from self._delete_batch(batch, cutoff)

    def _delete_batch(self, names: list[str], cutoff: float) -> list[tuple[str, Removal]]:
        def delete(conn: PgConnection) -> tuple[set[str], set[str]]:
            removed = {row[0] for row in conn.execute(
                "DELETE FROM archive.objects WHERE sha256 = ANY(?) AND touched_at < ? "
                "RETURNING sha256", (names, cutoff))}
            kept = {row[0] for row in conn.execute(
                "SELECT sha256 FROM archive.objects WHERE sha256 = ANY(?)", (names,))}
            return removed, kept

        removed, kept = self._run("remove expired messages", delete)
        return [(name, Removal.REMOVED if name in removed else
                 Removal.IN_USE if name in kept else Removal.ABSENT) for name in names]

    def remove_unreferenced_parts(self, *, records_read_at: float) -> int:
        """Delete the parts no stored message names, except those stored or touched
        since :data:`~archive.store.IN_FLIGHT` before ``records_read_at``; return how
        many.

        :raises ArchiveError: the database refused.
        """
        return self._run("remove unused parts", lambda conn: conn.execute(
            "DELETE FROM archive.parts p WHERE p.touched_at < ? AND NOT EXISTS "
            "(SELECT 1 FROM archive.object_parts r WHERE r.part = p.sha256)",
            (records_read_at - IN_FLIGHT,)).rowcount)

    def reseal(self) -> tuple[int, int]:
        """Seal again with the current key every object and part another key sealed,
        and every plain one; return (resealed, rows seen). Each row is rewritten in a
        statement of its own: readers see the old bytes or the new.

        :raises ArchiveError: a row cannot be read or written.
        """
        if not self.is_encrypting:
            raise ArchiveError(f"archive {self.url}: encrypt is off; nothing to seal with")
        resealed = seen = 0
        for table, prefix in (("archive.objects", b""), ("archive.parts", b"part:")):
            for name in self._names(table):
                seen += 1
                raw = self._row(table, name)
                if raw is None:
                    continue  # removed by a prune meanwhile
                try:
                    head = b""
                    if raw.startswith(DEDUPLICATED):
                        names, raw = split(raw)
                        head = header(names)
                    if self._is_sealed_now(raw):
                        continue
                    label = prefix + name.encode()
                    sealed = head + self._encrypt(
                        self._decrypt(name, self.location(name), raw, label), label)
                except (ValueError, struct.error, ArchiveReadError) as exc:
                    raise ArchiveError(f"archive {self.url}: cannot seal {table} {name} "
                                       f"again: {exc}") from exc
                self._rewrite(table, name, sealed)
                resealed += 1
        return resealed, seen

    def _rewrite(self, table: str, name: str, data: bytes) -> None:
        self._run(f"seal {table} {name} again", lambda conn: conn.execute(
            f"UPDATE {table} SET data = ? WHERE sha256 = ?", (data, name)))

    # -- reading ----------------------------------------------------------------

    def has(self, sha256: str) -> bool:
        """Whether a row is stored under ``sha256``.

        :raises ArchiveError: the database cannot be read.
        """
        return self._run("read it", lambda conn: conn.execute(
            "SELECT 1 FROM archive.objects WHERE sha256 = ?", (sha256,)).fetchone()
            is not None)

    def _load(self, sha256: str) -> bytes:
        raw = self._row("archive.objects", sha256)
        if raw is None:
            raise ArchiveReadError(sha256, self.location(sha256), "missing")
        return raw

    def _load_part(self, name: str) -> bytes:
        raw = self._row("archive.parts", name)
        if raw is None:
            raise ArchiveReadError(name, self.part_location(name), "missing")
        return raw

    def _row(self, table: str, sha256: str) -> bytes | None:
        """The data of one row, None when there is none.

        :raises ArchiveError: the database cannot be read.
        """
        row = self._run(f"read {sha256}", lambda conn: conn.execute(
            f"SELECT data FROM {table} WHERE sha256 = ?", (sha256,)).fetchone())
        return None if row is None else bytes(row[0])

    def names(self) -> Iterator[str]:
        """The name of every object stored, in name order (read a page at a time)."""
        return self._names("archive.objects")

    def _names(self, table: str) -> Iterator[str]:
        after = ""
        while True:
            page = self._page(table, after)
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1]

    def _page(self, table: str, after: str) -> list[str]:
        return self._run(f"list {table}", lambda conn: [row[0] for row in conn.execute(
            f"SELECT sha256 FROM {table} WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
            (after, _PAGE))])

    def ledgers(self) -> Iterator[tuple[str, bytes | str]]:
        """Every prune ledger kept, by name."""
        rows = self._run("read the prune ledgers", lambda conn: conn.execute(
            "SELECT name, data FROM archive.ledgers ORDER BY name").fetchall())
        for name, data in rows:
            yield name, bytes(data)

    # -- what only a directory has ----------------------------------------------

    def files_of(self, sha256: str) -> list[Path]:
        """No files: the archive is in PostgreSQL (back it up with PostgreSQL's tools).

        :raises ArchiveError: always.
        """
        raise ArchiveError(f"archive {self.url}: kept in PostgreSQL, not in files: back "
                           "it up with pg_dump or pg_basebackup")

    @contextlib.contextmanager
    def locked(self, *, exclusive: bool = False,
               on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Nothing to hold: the rows' own locks order storing and pruning."""
        yield

    def remove_stale_tmp(self, *, now: float | None = None) -> int:
        """No temporary files: a transaction leaves nothing half written."""
        return 0


def _touch(conn: PgConnection, table: str, sha256: str, now: float) -> int | None:
    """Move a stored row's time to ``now``; its stored size, None when there is none."""
    row = conn.execute(f"UPDATE {table} SET touched_at = ? WHERE sha256 = ? "
                       "RETURNING octet_length(data)", (now, sha256)).fetchone()
    return None if row is None else int(row[0])


def _insert(conn: PgConnection, table: str, sha256: str, data: bytes, now: float) -> bool:
    """Store a row once; whether this call stored it (False: another server's
    transaction stored the same bytes first, and it was touched instead)."""
    row = conn.execute(
        f"INSERT INTO {table} (sha256, data, stored_at, touched_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (sha256) DO UPDATE SET touched_at = EXCLUDED.touched_at "
        "RETURNING xmax = 0", (sha256, data, now, now)).fetchone()
    return bool(row and row[0])


def _name_parts(conn: PgConnection, sha256: str, parts: Iterable[str]) -> None:
    conn.executemany("INSERT INTO archive.object_parts (object, part) VALUES (?, ?) "
                     "ON CONFLICT DO NOTHING", [(sha256, part) for part in sorted(parts)])


def insert_raw(conn: PgConnection, sha256: str, raw: bytes,
               parts: dict[str, bytes], at: float) -> bool:
    """Store an object's bytes as a directory archive holds them (and its parts'),
    unchanged, unless they are there; whether the object was new. For copying a
    directory archive (archive/migrate.py), inside the caller's transaction."""
    for name in sorted(parts):
        conn.execute("INSERT INTO archive.parts (sha256, data, stored_at, touched_at) "
                     "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                     (name, parts[name], at, at))
    is_new = conn.execute(
        "INSERT INTO archive.objects (sha256, data, stored_at, touched_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", (sha256, raw, at, at)).rowcount == 1
    _name_parts(conn, sha256, parts)
    return is_new

