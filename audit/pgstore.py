"""The audit store in PostgreSQL: one chain that several mail servers append to.

:class:`PgAuditLog` is :class:`~audit.store.AuditLog` over a PostgreSQL database: the
same rows, hashes, checkpoints, key enrolments, retention, verification and reads (the
shared SQL, through mailbase/pgconn.py). What differs is how a write is serialised and
where the words for ``--text`` go.

Serialised appends: every write transaction takes the transaction-level advisory lock
:data:`~audit.pgschema.CHAIN_LOCK` first, then reads the chain head, appends, signs a
checkpoint when due and commits; the lock is released by the commit. Under READ
COMMITTED each statement after the lock sees every transaction committed before it, so
the head read is the newest and no two servers link to the same row: the chain cannot
fork. Each server still commits its sessions' writes in batches (audit/writer.py), so
the lock is taken once per batch. Durability is PostgreSQL's: a write returns once its
WAL is flushed (``synchronous_commit`` on, the default; keep it on), waited for as
described next.

The lock is held from the head read to the commit, and that time, summed over the
servers, bounds the records all of them commit per second. A batch is linked by the
database server: one statement (``congvu_append``, audit/pgschema.py) reads the rows
(each event's from the hashed text built here, so the row stored is the one hashed),
takes the lock, links them to the head with that text and inserts them, and goes with
the COMMIT in one round trip, so the lock is held for the server's inserts only. Its
hashes are :func:`~audit.chain.row_hash`'s byte for byte (the chain vectors and
tests/audit/test_shared_store.py hold it to that). What the batch changes in the
report's summary (completions, held messages released or deleted) is counted here
before the lock, from the store as it stood then (audit/summary.py's ``ahead``), and
the statement adds it; an event another server appended since that changes what was
read makes it write nothing, as a checkpoint falling due does, a record the summary
counts before its completion is counted under the lock, and so is a completion whose
record is not in the store before the batch. Those batches are appended the writer's
way, the writer linking them: the lock for two round trips and the work between them
(audit/pgwrite.py): the lock with the reads of the head, the latest checkpoint and which
records the batch's completions name are messages, then the rows with the commit.
Either way the commit does not wait for the disk; the wait for the WAL flush comes
after, with the lock given back, and before any session is answered.

A database that is down, unreachable, read-only (a standby, or
``default_transaction_read_only``) or refusing the login makes every write an
:class:`~audit.errors.AuditError`, which the filter answers with 451, as with SQLite.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlite_utils import Database

from audit import summary
from audit.chain import Checkpoint, CheckpointSigner, Schedule
from audit.config import AuditConfig
from audit.errors import AuditError
from audit.keys import KeyTrust
from audit.pending import Linked, Pending
from audit.pgschema import CHAIN_LOCK, INDEX_CHECKS, is_current, migrate
from audit.pgwrite import Answer, WriteSession, json_members, json_rows
from audit.query import Dialect
from audit.records import AdminEvent, Completion
from audit.reportsql import Written, written
from audit.rows import iso
from audit.schema import CHAIN_SPAN, EVENT_COLUMNS
from audit.store import _SIGNED_AT_ONCE, AuditLog, Item, mapped_errors
from audit.summaryschema import LIVE_HEAD, added
from audit.verify import VerifyReport
from mailbase.pgconn import ERRORS, PgConnection, PgDatabase, connect, pooled

log = logging.getLogger("congvu.audit")
_TOKEN = re.compile(r"[^\W_]+")


def _words(folded: str) -> list[str]:
    """The words FTS5's unicode61 tokenizer would index in already folded text."""
    return sorted(set(_TOKEN.findall(folded)))


class PgDialect(Dialect):
    """Full-text search over the ``search`` table's word arrays (GIN)."""

    #: PostgreSQL keeps statistics, and finds a lookup's few records by its index itself
    records_looked_up = "e.kind = 'message'"

    def text_search(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        """Records whose folded text has every word (each split as FTS5 splits it)."""
        wanted = sorted({t for w in words for t in _TOKEN.findall(w)})
        return "e.seq IN (SELECT seq FROM search WHERE words @> ?::text[])", [wanted]


_LOCK = f"SELECT pg_advisory_xact_lock({CHAIN_LOCK})"  # its id is a constant
# AuditLog._last_checkpoint's read, sent with the lock
_LAST_CHECKPOINT = ("SELECT seq, at, every_records, every_seconds FROM checkpoints "
                    "ORDER BY seq DESC LIMIT 1")
# AuditLog._is_message's read for every completion of a batch at once, sent with the lock
_MESSAGES = "SELECT seq FROM events WHERE seq = ANY(?) AND kind = 'message'"
# a batch linked by the server (audit/pgschema.py), sent with the lock and the COMMIT
_APPEND = ("SELECT seqs, due, stale FROM congvu_append(%s::bytea[], %s::bytea[], %s::json, "
           "%s::json, %s::json, %s::json, %s::json, %s::bigint, %s::bigint[], %s::boolean, "
           "%s, %s, %s)")


_RECIPIENT = ("record_id", "position", "address", "unit_id")
_ATTACHMENT = ("record_id", "position", "sha256", "filename", "filename_folded", "size",
               "document")
# the columns of each table _insert fills
_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": tuple(EVENT_COLUMNS), "memberships": ("record_id", "unit_id", "role", "at"),
    "recipients": _RECIPIENT, "attachments": _ATTACHMENT, "search": ("seq", "words"),
}


def _array(objects: Iterable[str]) -> str:
    """The JSON array of the JSON objects ``objects``."""
    return "[" + ",".join(objects) + "]"


# The rows of a batch's records not stored yet, as the report's SQL reads the tables
# (audit/reportsql.py's written): the events' read from their hashed text as the server
# will read them (their places, and the text before and after prev_hash), then the
# memberships' and recipients' JSON arrays.
_UNSTORED = ("memberships", "recipients")
_UNSTORED_ROWS = "WITH " + ", ".join([
    "events AS (SELECT * FROM congvu_events(?::bigint[], ?::bytea[], ?::bytea[]))",
    *(f"{table} AS (SELECT * FROM json_populate_recordset(NULL::{table}, ?::json))"
      for table in _UNSTORED)])
# the events given (one statement text whatever their number: prepared once a session)
_AMONG = "e.seq = ANY(?::bigint[])"


def _rows_doc(placed: Sequence[tuple[int, _Shipped]], table: str) -> str:
    """The JSON array of the rows of index ``table`` of the events ``placed``, each with
    its place in the batch (from 1) as its ``seq`` or the ``record_id`` it indexes."""
    if table == "search":
        return _array(f'{{"seq":{n}{each.words}}}' for n, each in placed
                      if each.words is not None)
    return _array(f'{{"record_id":{n}{row}}}' for n, each in placed
                  for row in getattr(each, table))


def _summary_doc(counted: summary.Counted) -> str | None:
    """The summary's rows to add, as one JSON object of each table's array of rows
    (None: none)."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    for table, row in counted.rows():
        tables.setdefault(table, []).append(row)
    if not tables:
        return None
    return "{" + ",".join(f'"{table}":{json_rows(added(table)[0], rows)}'
                          for table, rows in tables.items()) + "}"


def _where(config: AuditConfig) -> str:
    """The store as messages name it: its URL (which never holds a password)."""
    assert config.url is not None
    return config.url


@dataclass(slots=True)
class _Shipped(Pending):
    """A pending event with its rows as JSON (:func:`~audit.pgwrite.json_members`, built
    before the lock like the rest of it): under the lock each row only gets its place.
    The ``events`` row's JSON is built only when asked (:meth:`event_row`): the database
    server reads that row from the hashed text."""

    row: str | None = None
    memberships: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    words: str | None = None

    @classmethod
    def ship(cls, item: Item) -> _Shipped:
        pending = Pending.of(item)
        rows = pending.rows
        at = rows.event["at"]
        return cls(
            pending.item, rows, pending.before, pending.after, pending.prefix,
            memberships=[json_members({"unit_id": unit, "role": role, "at": at})
                         for unit, role in rows.memberships],
            recipients=[json_members(dict(zip(_RECIPIENT[1:], (i, *r), strict=True)))
                        for i, r in enumerate(rows.recipients)],
            attachments=[json_members(dict(zip(_ATTACHMENT[1:], (i, *a), strict=True)))
                         for i, a in enumerate(rows.attachments)],
            words=None if rows.search is None else json_members({"words": _words(rows.search)}),
        )

    def event_row(self) -> str:
        """The ``events`` row's members as JSON (built when first asked)."""
        if self.row is None:
            self.row = json_members(self.rows.event)
        return self.row


class PgAuditLog(AuditLog):
    """The append-only audit log in a PostgreSQL database (see the module's docstring)."""

    @classmethod
    def open_url(cls, config: AuditConfig) -> PgAuditLog:
        """Connect to ``config.url`` for writing, migrating the schema if needed.

        :raises AuditError: the database cannot be reached, migrated or written, or the
            password file is unusable.
        :raises KeyFileError: the checkpoint key is unusable.
        """
        signer = CheckpointSigner.load_or_create(config.keys_dir)
        where, password = _where(config), config.password()
        with mapped_errors(where, "open for writing", ERRORS):
            conn = WriteSession(connect(where, password).raw)
            try:
                migrate(conn)
            except BaseException:
                conn.close()
                raise
        log = cls(
            cast(Database, PgDatabase(conn)), path=where, signer=signer,
            password=password,
            checkpoint_every_records=config.checkpoint_every_records,
            checkpoint_every_seconds=config.checkpoint_every_seconds,
            trust=(KeyTrust.pinned(config.checkpoint_public_keys)
                   if config.checkpoint_public_keys else None),
        )
        log._enrol_if_new()
        return log

    @classmethod
    def open_url_readonly(cls, config: AuditConfig, *,
                          trust: KeyTrust | None = None) -> PgAuditLog:
        """A read-only session on ``config.url`` from this process's pool.

        :raises AuditError: the database cannot be reached, or holds no audit store of
            this version.
        """
        where = _where(config)
        with mapped_errors(where, "open read-only", ERRORS):
            conn = pooled(where, config.password())
            try:
                current = is_current(conn)
            except BaseException:
                conn.close()
                raise
            if not current:
                conn.close()
                raise AuditError(f"audit store {where}: not an audit store of this version "
                                 "(run the filter once to migrate it)")
        return cls(cast(Database, PgDatabase(conn)), path=where, trust=trust)

    def __init__(self, db: Database, *, password: str | None = None, **kwargs: Any) -> None:
        super().__init__(db, **kwargs)
        self._password = password
        self.dialect = PgDialect()
        self.errors = ERRORS
        self.index_checks = INDEX_CHECKS
        self._checkpoint_ahead: Answer | None = None
        self._asked: frozenset[int] = frozenset()
        self._messages_ahead: Answer | None = None
        #: the batches the server linked (the others were linked here)
        self.linked_in_server = 0

    @property
    def _conn(self) -> PgConnection:
        return cast(PgConnection, self.db.conn)

    @contextlib.contextmanager
    def _immediate(self, doing: str) -> Iterator[None]:
        """One write transaction holding the chain's lock (see the module's docstring)."""
        with mapped_errors(self.path, doing, self.errors):
            conn = self._reconnected()
            ahead: list[tuple[str, Sequence[Any]]] = [(_LAST_CHECKPOINT, ())]
            if self._asked:
                ahead.append((_MESSAGES, (sorted(self._asked),)))
            answers = conn.begin_locked(_LOCK, ahead)
            self._checkpoint_ahead = answers[0]
            self._messages_ahead = answers[1] if self._asked else None
            try:
                yield
                conn.commit()  # the lock given back, then the wait for the disk
            except BaseException:
                with contextlib.suppress(*ERRORS):
                    conn.rollback()
                raise
            finally:
                self._checkpoint_ahead = self._messages_ahead = None

    def _last_checkpoint(self) -> tuple[int, datetime | None, Schedule | None]:
        """The latest checkpoint as read with the lock, until this transaction signs one
        (under the lock nobody else can)."""
        ahead = self._checkpoint_ahead
        if ahead is None or ahead.rows is None:
            return super()._last_checkpoint()
        if not ahead.rows:
            return 0, None, None
        seq, at, every_records, every_seconds = ahead.rows[0]
        return (int(seq), datetime.fromisoformat(at),
                None if every_records is None else Schedule(int(every_records),
                                                            float(every_seconds)))

    def _insert_checkpoint(self, cp: Checkpoint) -> None:
        self._checkpoint_ahead = None
        super()._insert_checkpoint(cp)

    def write_each(self, items: Sequence[Item]) -> list[int | AuditError]:
        """:meth:`AuditLog.write_each`, linked by the server when the batch allows it
        (:meth:`_links_in_server`); otherwise asking with the lock, in its round trip,
        which of the records the batch's completions name are messages of the live chain
        (rather than one round trip per completion, under the lock)."""
        if self._links_in_server(items):
            shipped = [_Shipped.ship(item) for item in items]
            counted = self._count_ahead(shipped)
            seqs = None if counted is None else self._append_in_server(shipped, counted)
            if seqs is not None:
                self.linked_in_server += 1
                return list(seqs)
        self._asked = frozenset(item.record_id for item in items
                                if isinstance(item, Completion) and item.record_id < CHAIN_SPAN)
        try:
            return super().write_each(items)
        finally:
            self._asked = frozenset()

    def _links_in_server(self, items: Sequence[Item]) -> bool:
        """Whether the server may append the batch alone: no event in it is signed at
        once, and this key is known to be enrolled (either needs a checkpoint or an
        enrolment in the transaction). The report's summary may still need counting
        under the lock (audit/summary.py's ``ahead`` says)."""
        if not items or self.signer is None or not self._key_known:
            return False
        return not any(isinstance(item, AdminEvent) and item.kind in _SIGNED_AT_ONCE
                       for item in items)

    def _count_ahead(self, shipped: Sequence[_Shipped]) -> summary.Ahead | None:
        """What the batch changes in the report's summary, counted before the lock
        (audit/summary.py's ``ahead``); None: it is counted under the lock.

        :raises AuditError: the store cannot be read.
        """
        items = [each.item for each in shipped]
        completed = sorted({i.record_id for i in items if isinstance(i, Completion)})
        read_head: int | None = None
        prefetched: list[Written] = []

        def stored(seqs: Sequence[int]) -> list[Written]:
            rest = sorted(set(seqs) - set(completed))
            return [w for w in prefetched if w.seq in seqs] + (
                written(self.db.conn, _AMONG, [rest]) if rest else [])

        def fresh(places: Sequence[int]) -> list[Written]:
            chosen = [(n, shipped[n - 1]) for n in places]
            return written(self.db.conn, _AMONG, [
                list(places), [each.prefix for _, each in chosen],
                [each.after for _, each in chosen],
                *(_rows_doc(chosen, table) for table in _UNSTORED), list(places)],
                rows=_UNSTORED_ROWS)

        with mapped_errors(self.path, "count audit events in the report summary",
                           self.errors):
            raw = self._reconnected().raw
            if completed:  # the head, then the messages completed: one round trip
                with raw.pipeline():
                    head = raw.execute(LIVE_HEAD)
                    prefetched.extend(written(self.db.conn, _AMONG, [completed]))
                    row = head.fetchone()
                read_head = int(row[0]) if row and row[0] is not None else 0
            return summary.ahead(self.db.conn, items, stored=stored, fresh=fresh,
                                 read_head=read_head)

    def _append_in_server(self, shipped: Sequence[_Shipped], counted: summary.Ahead
                          ) -> list[int] | None:
        """Append the batch with one statement that links it in the server
        (``congvu_append``, audit/pgschema.py), sent with the lock before it and the
        COMMIT and the wait for the disk after it, in one round trip: the lock is held
        for the server's own work only. Returns the events' ids, or None when a
        checkpoint fell due or an event after the summary's read made ``counted`` out
        of date, having written nothing (the caller appends as before: it signs the
        checkpoint, and counts the summary under the lock).

        :raises AuditError: the transaction could not be committed.
        """
        placed = list(enumerate(shipped, 1))  # a row's place: its position in the batch
        with mapped_errors(self.path, "append audit events", self.errors):
            conn = self._reconnected()
            conn.begin_locked(None)  # congvu_append takes the lock once its rows are read
            answer = conn.ask_ahead(_APPEND, [
                [each.prefix for each in shipped], [each.after for each in shipped],
                *(_rows_doc(placed, table)
                  for table in ("memberships", "recipients", "attachments", "search")),
                _summary_doc(counted.counted), counted.read_head, counted.watched,
                counted.decides_held, self.checkpoint_every_records,
                float(self.checkpoint_every_seconds), iso(datetime.now(UTC)),
            ])
            try:
                conn.commit()
            except BaseException:
                with contextlib.suppress(*ERRORS):
                    conn.rollback()
                raise
        assert answer.rows is not None
        seqs, due, stale = answer.rows[0]
        return None if due or stale else [int(seq) for seq in seqs]

    def _is_message(self, record_id: int) -> bool:
        """As asked with the lock (a record that is a message stays one: only retention
        removes records, and it asks nothing ahead); else as :class:`AuditLog` asks."""
        ahead = self._messages_ahead
        if ahead is None or ahead.rows is None or record_id not in self._asked:
            return super()._is_message(record_id)
        return any(int(seq) == record_id for (seq,) in ahead.rows)

    def verify(self, *, exported: Checkpoint | None = None,
               trust: KeyTrust | None = None) -> VerifyReport:
        """:meth:`AuditLog.verify` in one snapshot: other servers append while it walks,
        and the rows, checkpoints and indexes it compares must be of one state."""
        conn = self._conn
        with mapped_errors(self.path, "verify the chain", self.errors):
            conn.execute("BEGIN")
        try:
            return super().verify(exported=exported, trust=trust)
        finally:
            with contextlib.suppress(*ERRORS):
                conn.rollback()

    def _reconnected(self) -> WriteSession:
        """The writer's connection, made anew when the last one was lost (the database
        restarted, a failover, an administrator ended the session): the write that found
        it lost was answered 451, the next one goes through once the database is back.

        :raises AuditError: the store was opened read-only.
        """
        conn = self._conn
        if not isinstance(conn, WriteSession):
            raise AuditError(f"audit store {self.path}: opened read-only, it takes no writes")
        if conn.raw.closed or conn.raw.broken:
            with contextlib.suppress(*ERRORS):
                conn.close()
            conn = WriteSession(connect(str(self.path), self._password).raw)
            cast(PgDatabase, self.db).conn = conn
            log.info("audit store %s: reconnected", self.path)
        return conn

    def _prepare(self, items: Sequence[Item]) -> list[Pending]:
        """:meth:`AuditLog._prepare`, with each row's JSON too (the writer inserts the
        ``events`` row it links)."""
        prepared: list[Pending] = []
        for item in items:
            shipped = _Shipped.ship(item)
            shipped.event_row()
            prepared.append(shipped)
        return prepared

    def _insert(self, linked: Sequence[Linked]) -> None:
        """Each table's rows as one JSON array, sent with the next statement that needs
        an answer (the COMMIT): under the lock a row only gets its place (its ``seq``, or
        the ``record_id`` it indexes)."""
        if not all(isinstance(each.pending, _Shipped) for each in linked):
            super()._insert(linked)
            return
        tables: dict[str, list[str]] = {"events": [], "memberships": [], "recipients": [],
                                        "attachments": [], "search": []}
        for seq, prev, hashed, each in linked:
            assert isinstance(each, _Shipped)
            tables["events"].append(
                f'{{"seq":{seq},"prev_hash":"{prev}","hash":"{hashed}"{each.event_row()}}}')
            place = f'{{"record_id":{seq}'
            tables["memberships"].extend(f"{place}{m}}}" for m in each.memberships)
            tables["recipients"].extend(f"{place}{r}}}" for r in each.recipients)
            tables["attachments"].extend(f"{place}{a}}}" for a in each.attachments)
            if each.words is not None:
                tables["search"].append(f'{{"seq":{seq}{each.words}}}')
        conn = self._reconnected()
        for table, objects in tables.items():
            conn.insert_objects(table, _COLUMNS[table], objects)

    def _index_text(self, search: list[tuple[int, str]]) -> None:
        self._conn.executemany("INSERT INTO search (seq, words) VALUES (?, ?)",
                               [(seq, _words(text)) for seq, text in search])

    def _unindex_text(self, through: int) -> None:
        self._conn.execute("DELETE FROM search WHERE seq <= ?", (through,))

    def close(self) -> None:
        """Give the connection back (to the pool, for a reader) or close it."""
        with contextlib.suppress(*ERRORS):
            self._conn.close()
