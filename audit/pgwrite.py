"""The audit writer's PostgreSQL session: a batch's rows sent with the statements that
need an answer, each table's rows as one JSON document, and the wait for the disk after
the chain's lock is given back.

Every server appends to one chain under one lock (audit/pgstore.py), so the time a
transaction holds that lock bounds how many records all the servers together commit per
second. Most of it was waiting, and on a loaded machine the rest was the client's
processor: a statement, then its answer, a COPY per table taking two round trips, and
each of a row's values adapted apart. :class:`WriteSession` sends what needs no answer
ahead: inside a write transaction the ``BEGIN``, the lock and the rows of every
``executemany`` wait and go, pipelined, with the next statement that does need one (the
head read, then the ``COMMIT``). A plain INSERT's rows become one JSON array (the C
encoder, one parameter) that ``json_populate_recordset`` turns back into rows of the
table's own types, so a batch costs the client a few encodings, not one per value.

The flush to disk is waited for after the lock, not under it. A write transaction
commits with ``synchronous_commit`` off for itself alone, so its COMMIT gives the lock
back as soon as the commit is in the WAL, and the next server links to it at once; then
:meth:`WriteSession.commit` commits a transaction of its own that writes one WAL
record (a transactional ``pg_logical_emit_message``, prefix ``congvu``) with the
session's own ``synchronous_commit`` (on: flushed; ``remote_apply``: applied on the
synchronous standby), which returns only once the WAL up to that record, so the batch's
commit before it, is as durable as that setting asks. Nobody is answered before it
returns. Both go in one round trip: the server runs them in order, so the lock is given
back at the batch's COMMIT, before the barrier waits. The WAL is one sequence, so a
crash loses at most an unflushed tail: a row that links to a lost row is lost with it,
and the chain never dangles.

Order and failure are those of sending each statement at once: the statements run in the
order they were given, in the same transaction, and a failing one fails the statement
that sent it and so the transaction, which the store rolls back. The values are exactly
those COPY stored: text through :func:`~mailbase.pgconn.encode` (JSON carries no NUL or
lone surrogate), floats in Python's shortest round-trip form, arrays as arrays.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from mailbase.pgconn import PgConnection, PgCursor, encode, translate

# An INSERT of one row of parameters and nothing else (as audit/store.py writes rows).
_PLAIN_INSERT = re.compile(r"^INSERT INTO (\w+) \(([\w, ]+)\) VALUES\s*\((?:%s, )*%s\)$",
                           re.I)
# The barrier of commit: a transaction that writes WAL (an xid and a record), so
# its COMMIT waits for the flush (PostgreSQL skips it for a transaction that wrote none).
_DURABLE = ("BEGIN", "SELECT pg_logical_emit_message(true, 'congvu', 'durable')", "COMMIT")


def _may_need_escape(text: str) -> bool:
    """Whether a JSON text may hold a character encode() rewrites: a NUL (which
    json.dumps escapes), U+FDD0 or a lone surrogate (which UTF-8 cannot encode); an
    escaped backslash before "u0000" is a false alarm, which only costs the slow way.
    Substring searches and an encoding, all in C: a regular expression for the same took
    a tenth of a millisecond for a record's row, several times a record."""
    if "\\u0000" in text or "\ufdd0" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _encoded(row: Sequence[Any]) -> list[Any]:
    return [encode(v) if isinstance(v, str) else v for v in row]


def json_rows(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The rows as one JSON array of objects, their text as :func:`encode` stores it:
    encoded value by value only when the document shows it may be needed."""
    def document(rows: Iterable[Sequence[Any]]) -> str:
        return json.dumps([dict(zip(names, row, strict=True)) for row in rows],
                          ensure_ascii=False, separators=(",", ":"))

    text = document(rows)
    if _may_need_escape(text):
        text = document(_encoded(row) for row in rows)
    return text


def json_members(values: Mapping[str, Any]) -> str:
    """The members of a JSON object holding ``values`` but their NULLs (which
    ``json_populate_recordset`` reads back as NULL), each preceded by a comma, their text
    as :func:`encode` stores it: a row's part that does not depend on the chain's head,
    built before the lock, to which the row's place is prepended under it."""
    present = {name: value for name, value in values.items() if value is not None}
    text = json.dumps(present, ensure_ascii=False, separators=(",", ":"))
    if _may_need_escape(text):
        text = json.dumps(dict(zip(present, _encoded(list(present.values())), strict=True)),
                          ensure_ascii=False, separators=(",", ":"))
    return "," + text[1:-1] if present else ""


def _as_json(table: str, columns: str) -> str:
    """The INSERT of ``columns`` of ``table`` from one JSON array of objects."""
    return (f"INSERT INTO {table} ({columns}) SELECT {columns} "
            f"FROM json_populate_recordset(NULL::{table}, %s::json)")


@dataclass(slots=True)
class Answer:
    """What a statement sent ahead returned: ``rows`` once it has gone (None before)."""

    rows: list[tuple[Any, ...]] | None = None


@dataclass(slots=True)
class _Waiting:
    statement: str
    batch: list[list[Any]] = field(default_factory=lambda: [[]])
    answer: Answer | None = None


class WriteSession(PgConnection):
    """The writer's own connection (see the module's docstring)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        super().__init__(conn)
        self._waiting: list[_Waiting] = []
        self._holding = False

    def begin_locked(self, lock_sql: str | None,
                     ahead: Sequence[tuple[str, Sequence[Any]]] = ()) -> list[Answer]:
        """Open a write transaction whose first statement is ``lock_sql`` (which waits
        for the lock; None: a statement sent later takes it), followed by the reads
        ``ahead``; they go with the next statement that needs an answer, each of them
        seeing every transaction committed before the lock was granted (READ COMMITTED).
        Until :meth:`commit` or :meth:`rollback` the rows of ``executemany`` wait too.
        Returns the reads' answers, filled once sent. Its commit waits for the disk only
        after giving the lock back (:meth:`commit`).
        """
        answers = [Answer() for _ in ahead]
        self._waiting = [_Waiting("BEGIN ISOLATION LEVEL READ COMMITTED"),
                         _Waiting("SET LOCAL synchronous_commit = off"),
                         *([] if lock_sql is None else [_Waiting(lock_sql)]),
                         *(_Waiting(translate(sql), [_encoded(params)], answer=a)
                           for (sql, params), a in zip(ahead, answers, strict=True))]
        self._holding = True
        return answers

    def ask_ahead(self, sql: str, params: Sequence[Any]) -> Answer:
        """Inside a write transaction, send ``sql`` (PostgreSQL's, its parameters as
        given: text already as :func:`encode` stores it) with the next statement that
        needs an answer, as the reads of :meth:`begin_locked` are; its answer once sent."""
        answer = Answer()
        self._waiting.append(_Waiting(sql, [list(params)], answer=answer))
        return answer

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Inside a write transaction, keep the rows for the next statement's round
        trip (a plain INSERT's as one JSON array); otherwise run them at once."""
        if not self._holding:
            super().executemany(sql, rows)
            return
        batch = list(rows)
        if not batch:
            return
        statement = translate(sql)
        insert = _PLAIN_INSERT.match(statement)
        if insert is None:
            self._waiting.append(_Waiting(statement, [_encoded(row) for row in batch]))
            return
        names = [name.strip() for name in insert.group(2).split(",")]
        self._waiting.append(_Waiting(_as_json(insert.group(1), insert.group(2)),
                                      [[json_rows(names, batch)]]))

    def insert_objects(self, table: str, columns: Sequence[str], objects: Sequence[str]
                       ) -> None:
        """Insert rows of ``table`` given as the texts of JSON objects (named by their
        ``columns``; a column an object lacks is NULL), as one JSON array: inside a write
        transaction with the next statement's round trip, otherwise at once."""
        if not objects:
            return
        names = ", ".join(columns)
        statement, document = _as_json(table, names), "[" + ",".join(objects) + "]"
        if self._holding:
            self._waiting.append(_Waiting(statement, [[document]]))
        else:
            self.raw.execute(statement, [document])

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        """Run one statement, after the statements waiting for it, in one round trip."""
        if not self._waiting:
            return super().execute(sql, params)
        waiting, self._waiting = self._waiting, []
        read: list[tuple[Answer, psycopg.Cursor[Any]]] = []
        with self.raw.pipeline():
            for each in waiting:
                rows = self.raw.cursor()
                if len(each.batch) == 1:
                    rows.execute(each.statement, each.batch[0])
                else:
                    rows.executemany(each.statement, each.batch)
                if each.answer is not None:
                    read.append((each.answer, rows))
            cursor = self.raw.cursor()
            cursor.execute(translate(sql), _encoded(params or ()))
        for answer, rows in read:
            answer.rows = PgCursor(rows).fetchall()
        return PgCursor(cursor)

    def commit(self) -> None:
        """Send what waits and commit it, then wait until it is durable, in one round
        trip. The server runs the statements in order: the COMMIT gives the lock back
        (its WAL written, not flushed) before the barrier's transaction waits for the
        flush (see the module's docstring), so the next server links to this batch
        while this one waits, and nobody is answered before the batch is durable."""
        try:
            self._waiting.extend(_Waiting(statement) for statement in ("COMMIT", *_DURABLE[:-1]))
            self.execute(_DURABLE[-1])
        finally:
            self._holding = False

    def rollback(self) -> None:
        """Forget what waits and end the transaction, keeping nothing."""
        self._waiting = []
        self._holding = False
        super().rollback()
