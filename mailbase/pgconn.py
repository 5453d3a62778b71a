"""PostgreSQL for the shared stores: connections, the pool, the SQL both backends share.

The audit store's reads (audit/query.py, audit/report*.py, audit/verify.py) are written
once, in the SQL SQLite and PostgreSQL share, with ``?`` parameters and a few SQLite
spellings. :class:`PgConnection` gives them a connection with ``sqlite3``'s shape
(``execute`` returning a cursor, ``executemany``, ``in_transaction``) and rewrites those
spellings once per statement (cached): ``?`` parameters, ``group_concat``, ``instr``,
``char``, ``GLOB`` (as an anchored regular expression), ``INSERT OR IGNORE``, null-safe
``IS``, and SQLite's JSON functions (``json_each``, ``json_extract``,
``json_array_length``), which audit/pgschema.py defines over ``jsonb``.

Text PostgreSQL cannot hold: the chain keeps some values exactly as received, and those
may contain NUL or, from undecodable bytes, lone surrogates; PostgreSQL's text has
neither. Every string parameter and result passes through :func:`encode` and
:func:`decode`, which write those characters (and the escape character itself) as
U+FDD0 followed by one ASCII letter or code, so the stored text is valid, equality and
order of ordinary text are unchanged, and the value read back, hence its hash, is the
value written. Nothing ordinary mail carries is touched.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from mailbase.private_files import UnsafeFileError, read_secret

ESCAPE = "\ufdd0"
_NEEDS_ESCAPE = re.compile(f"[\x00\ud800-\udfff{ESCAPE}]")
_ESCAPED = re.compile(f"{ESCAPE}(e|0|u[0-9a-f]{{4}})")
#: Errors of the database, its connection or the pool: the store's failures.
ERRORS: tuple[type[Exception], ...] = (psycopg.Error, PoolTimeout)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == ESCAPE:
        return ESCAPE + "e"
    if char == "\x00":
        return ESCAPE + "0"
    return f"{ESCAPE}u{ord(char):04x}"


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code == "e":
        return ESCAPE
    if code == "0":
        return "\x00"
    return chr(int(code[1:], 16))


def encode(text: str) -> str:
    """``text`` as PostgreSQL can store it (unchanged unless it has NUL, a lone
    surrogate or U+FDD0)."""
    return _NEEDS_ESCAPE.sub(_escape, text) if _NEEDS_ESCAPE.search(text) else text


def decode(text: str) -> str:
    """The text :func:`encode` was given."""
    return _ESCAPED.sub(_unescape, text) if ESCAPE in text else text


def _params(params: Sequence[Any] | None) -> list[Any]:
    return [encode(p) if isinstance(p, str) else p for p in params or ()]


def _row(row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(decode(v) if isinstance(v, str) else v for v in row)


# -- the SQL both stores share ------------------------------------------------------------

_LITERAL = re.compile(r"'(?:[^']|'')*'")
_RENAMES = [
    (re.compile(r"\bgroup_concat\(", re.I), "string_agg("),
    (re.compile(r"\binstr\(", re.I), "strpos("),
    (re.compile(r"\bchar\(", re.I), "chr("),
    (re.compile(r"\bjson_each\(", re.I), "congvu_json_each("),
    (re.compile(r"\bjson_extract\(", re.I), "congvu_json_extract("),
    (re.compile(r"\bjson_array_length\(", re.I), "congvu_json_array_length("),
    # SQLite's IS compares anything null-safely; PostgreSQL's only with NULL and booleans
    (re.compile(r"\bIS\s+(?!NOT\b|NULL\b|TRUE\b|FALSE\b|DISTINCT\b)", re.I),
     "IS NOT DISTINCT FROM "),
]
_GLOB = re.compile(r"\s+GLOB\s+('(?:[^']|'')*')", re.I)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+", re.I)
# An INSERT of one row of parameters and nothing else: its table and columns.
#: a reader's snapshot: every statement sees one state of the log
SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_CHUNK = 5000  # rows a server-side cursor fetches at a time
_PLAIN_INSERT = re.compile(r"^INSERT INTO (\w+) \(([\w, ]+)\) VALUES\s*\((?:%s, )*%s\)$",
                           re.I)


def _glob_regex(pattern: str) -> str:
    """SQLite's GLOB pattern as an anchored PostgreSQL regular expression literal."""
    out, i = ["^"], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[" and "]" in pattern[i + 2:]:
            end = pattern.index("]", i + 2)
            inner = pattern[i + 1:end]
            if inner.startswith("^"):
                inner = "^" + inner[1:].replace("\\", "\\\\")
            else:
                inner = inner.replace("\\", "\\\\")
            out.append(f"[{inner}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    out.append("$")
    return "'" + "".join(out).replace("'", "''") + "'"


def _outside_literals(sql: str) -> str:
    pieces, last = [], 0
    for match in _LITERAL.finditer(sql):
        pieces.append(_code(sql[last:match.start()]))
        pieces.append(match.group().replace("%", "%%"))
        last = match.end()
    pieces.append(_code(sql[last:]))
    return "".join(pieces)


def _code(code: str) -> str:
    code = code.replace("%", "%%").replace("?", "%s")
    for pattern, replacement in _RENAMES:
        code = pattern.sub(replacement, code)
    return code


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> str:
    """A statement in the SQL the stores share, as PostgreSQL (and psycopg) read it."""
    sql = _GLOB.sub(lambda m: f" ~ {_glob_regex(m.group(1)[1:-1].replace(chr(39) * 2, chr(39)))}",
                    sql)
    ignore = bool(_INSERT_OR_IGNORE.match(sql))
    if ignore:
        sql = _INSERT_OR_IGNORE.sub("INSERT ", sql)
    stripped = sql.strip().rstrip(";")
    if stripped.upper() == "BEGIN":
        # a reader's snapshot (audit/report.py): every statement sees one state of the log
        return SNAPSHOT
    sql = _outside_literals(stripped)
    return sql + " ON CONFLICT DO NOTHING" if ignore else sql


class PgCursor:
    """The part of a ``sqlite3.Cursor`` the stores use, over a psycopg cursor."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Sequence[Any] | None:
        """The columns of the last result (their names first)."""
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        """Rows the last statement changed."""
        return self._cursor.rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        row = self._cursor.fetchone()
        return None if row is None else _row(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every row left."""
        return [_row(r) for r in self._cursor.fetchall()]

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        """Up to ``size`` rows."""
        return [_row(r) for r in self._cursor.fetchmany(size)]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for row in self._cursor:
            yield _row(row)


class PgConnection:
    """A psycopg connection with the part of ``sqlite3.Connection``'s shape the audit
    store's shared code uses. Autocommit: transactions are the statements ``BEGIN`` ...
    ``COMMIT`` the store sends, as with SQLite."""

    def __init__(self, conn: psycopg.Connection[Any], *, release: Any = None) -> None:
        self.raw = conn
        self._release = release
        self._cursors = itertools.count(1)
        self._snapshot = False

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        """Run one statement of the shared SQL. Inside a reader's snapshot a SELECT
        runs through a server-side cursor, fetched in chunks: verify walks every row
        of the chain and the report every message of a period, which a client-side
        result would hold in memory at once."""
        statement = translate(sql)
        if statement == SNAPSHOT:
            self._snapshot = True
        elif self.in_snapshot and statement.lstrip()[:6].upper() == "SELECT":
            named = self.raw.cursor(name=f"congvu_{next(self._cursors)}")
            named.itersize = _CHUNK
            named.execute(statement, _params(params))
            return PgCursor(named)
        cursor = self.raw.cursor()
        cursor.execute(statement, _params(params))
        return PgCursor(cursor)

    @property
    def in_snapshot(self) -> bool:
        """Whether a reader's snapshot (``BEGIN`` of the shared SQL) is open."""
        self._snapshot = self._snapshot and self.in_transaction
        return self._snapshot

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row: a plain INSERT as one COPY (a round trip per
        table and batch, not per row), anything else pipelined."""
        batch = [_params(row) for row in rows]
        if not batch:
            return
        statement = translate(sql)
        insert = _PLAIN_INSERT.match(statement)
        with self.raw.cursor() as cursor:
            if insert is None:
                cursor.executemany(statement, batch)
                return
            with cursor.copy(f"COPY {insert.group(1)} ({insert.group(2)}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def rollback(self) -> None:
        """End the open transaction, if any, keeping nothing."""
        if self.in_transaction:
            self.raw.execute("ROLLBACK")

    def commit(self) -> None:
        """Commit the open transaction, if any."""
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def create_function(self, *args: object, **kwargs: object) -> None:
        """SQLite's user functions: audit/pgschema.py defines them in the database."""

    def close(self) -> None:
        """Give the connection back (to its pool) or close it."""
        with contextlib.suppress(*ERRORS):
            self.rollback()
        if self._release is not None:
            self._release(self.raw)
        else:
            self.raw.close()


class PgDatabase:
    """The store's handle on its database: ``conn`` and a few of sqlite-utils' reads."""

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> PgCursor:
        """Run one statement."""
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[dict[str, Any]]:
        """Each row as a dict of column name to value."""
        cursor = self.conn.execute(sql, params)
        names = [c[0] for c in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(names, row, strict=True))

    def close(self) -> None:
        """Release the connection."""
        self.conn.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PgDatabase]:
        """One transaction, as sqlite-utils' ``atomic``: committed when the block ends,
        rolled back when it raises; inside an open one, a savepoint. READ COMMITTED, so a
        writer that takes an advisory lock first sees everything committed before."""
        conn = self.conn
        if conn.in_transaction:
            conn.raw.execute("SAVEPOINT congvu_atomic")
            try:
                yield self
            except BaseException:
                with contextlib.suppress(*ERRORS):
                    conn.raw.execute("ROLLBACK TO SAVEPOINT congvu_atomic")
                raise
            conn.raw.execute("RELEASE SAVEPOINT congvu_atomic")
            return
        conn.raw.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        try:
            yield self
            conn.raw.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(*ERRORS):
                conn.rollback()
            raise


# -- what a failure means ---------------------------------------------------------------------

_MEANINGS: list[tuple[tuple[str, ...], str]] = [
    (("read-only transaction", "25006"),
     "the database is read-only (a standby, or default_transaction_read_only is on); "
     "writes are refused until it takes them again"),
    (("password authentication failed", "28P01", "28000", "no password supplied",
      "no pg_hba.conf entry"),
     "the database refused the login: check the URL's user and its password "
     "([store] password_file, or libpq's passfile) and pg_hba.conf"),
    (("3D000", "does not exist"),
     "the database or user named in the URL does not exist (createdb -O USER DATABASE)"),
    (("42501", "permission denied"),
     "the database user lacks a privilege: it must own the database (or the store's schema)"),
    (("57P01", "57P02", "57P03", "terminating connection", "server closed the connection",
      "consuming input failed", "connection is lost", "the connection is closed",
      "the database system is"),
     "the connection to the database was lost or refused while it restarts (a restart, a "
     "failover, or an administrator ended the session); the next try connects again"),
    (("connection refused", "could not connect", "timeout expired", "couldn't get a connection",
      "could not translate host name", "no route to host", "network is unreachable",
      "connection failed"),
     "the database server cannot be reached: is PostgreSQL running, and are the URL's host "
     "and port right?"),
]


def explain(exc: BaseException) -> str:
    """What a database failure means to an administrator, then the server's own words."""
    said = " ".join(str(exc).split()) or type(exc).__name__
    state = getattr(exc, "sqlstate", None) or ""
    text = f"{state} {said}".lower()
    for signs, meaning in _MEANINGS:
        if any(sign.lower() in text for sign in signs):
            return f"{meaning} ({said})"
    return f"database error ({said})"


# -- connecting -----------------------------------------------------------------------------

def _kwargs(password: str | None, *, readonly: bool, schema: str | None = None
            ) -> dict[str, Any]:
    settings = ["-c default_transaction_read_only=on"] if readonly else []
    if schema is not None:
        # a store with a schema of its own: its tables are found without naming it, and
        # no other store's tables of the same name can be (its own SQL is the SQLite one)
        settings.append(f"-c search_path={schema}")
    options = " ".join(settings)
    kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": 10,
                              "application_name": "congvu"}
    if options:
        kwargs["options"] = options
    if password is not None:
        kwargs["password"] = password
    return kwargs


def connect(url: str, password: str | None, *, readonly: bool = False,
            schema: str | None = None) -> PgConnection:
    """A connection of its own (a writer keeps it for its life); ``schema``: the one
    its statements' tables are in (default: the database's ``public``).

    :raises psycopg.Error: the database cannot be reached or refuses the login.
    """
    return PgConnection(psycopg.connect(url, **_kwargs(password, readonly=readonly,
                                                       schema=schema)))


_POOLS: dict[tuple[int, str, str | None, bool, str | None], ConnectionPool[Any]] = {}
_POOLS_LOCK = threading.Lock()
# Pools a forked child inherited: their connections are the parent's sockets, so the
# child keeps them referenced and untouched (closing one would end the parent's session).
_INHERITED: list[ConnectionPool[Any]] = []


def _forget_inherited_pools() -> None:
    _INHERITED.extend(_POOLS.values())
    _POOLS.clear()


os.register_at_fork(after_in_child=_forget_inherited_pools)


def pooled(url: str, password: str | None, *, readonly: bool = True,
           schema: str | None = None) -> PgConnection:
    """A connection borrowed from this process's pool for ``url`` (and ``schema``, as
    :func:`connect`; the console's readers open a store per request);
    :meth:`PgConnection.close` gives it back.

    :raises psycopg.Error, PoolTimeout: no connection could be had.
    """
    key = (os.getpid(), url, password, readonly, schema)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = ConnectionPool(url, kwargs=_kwargs(password, readonly=readonly,
                                                      schema=schema),
                                  min_size=0, max_size=8, timeout=10, open=True,
                                  name="congvu-audit", check=ConnectionPool.check_connection)
            _POOLS[key] = pool
    conn = pool.getconn()
    return PgConnection(conn, release=pool.putconn)


def read_password(path: Path | None) -> str | None:
    """The store password alone in ``path`` (None: no file, libpq's passfile decides).

    :raises ValueError: the file is open to group or others, owned by another user,
        unreadable, not UTF-8 or empty; the message names it.
    """
    if path is None:
        return None
    where = f"store password file {path}"
    try:
        text = read_secret(path).decode("utf-8").strip("\r\n")
    except UnsafeFileError as exc:
        raise ValueError(f"{where}: {exc.reason}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text") from exc
    if not text:
        raise ValueError(f"{where}: empty")
    return text


# -- schema migrations of the stores with a schema of their own ------------------------------

def schema_is_current(conn: PgConnection, schema: str,
                      migrations: Sequence[tuple[str, Sequence[str]]]) -> bool:
    """Whether ``schema``'s ledger of applied migrations (its ``_migrations`` table)
    names every one of ``migrations``; read-only, so it also answers on a standby."""
    found = conn.execute("SELECT to_regclass(?) IS NOT NULL", (f"{schema}._migrations",)
                         ).fetchone()
    if not found or not found[0]:
        return False
    done = {row[0] for row in conn.execute(f"SELECT name FROM {schema}._migrations")}
    return all(name in done for name, _ in migrations)


def migrate_schema(conn: PgConnection, schema: str, lock: int,
                   migrations: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Create ``schema`` if missing and apply the migrations its ledger does not name, in
    order, in one transaction under the advisory lock ``lock`` (servers starting together
    on a new database do not race); return their names. ``conn`` searches ``schema``
    (:func:`connect`'s ``schema``), so the steps name their tables unqualified."""
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (lock,))
        conn.raw.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.raw.execute(f"CREATE TABLE IF NOT EXISTS {schema}._migrations "
                         '(name text COLLATE "C" PRIMARY KEY, applied_at text NOT NULL)')
        done = {row[0] for row in conn.execute(f"SELECT name FROM {schema}._migrations")}
        applied = []
        for name, steps in migrations:
            if name in done:
                continue
            for statement in steps:
                conn.raw.execute(statement)  # DDL as written: no parameters to translate
            conn.execute(f"INSERT INTO {schema}._migrations (name, applied_at) VALUES (?, ?)",
                         (name, datetime.now(UTC).isoformat()))
            applied.append(name)
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()
        raise
    return applied


# -- copying a SQLite store into PostgreSQL ---------------------------------------------------

def copy_table(source: sqlite3.Connection, target: PgConnection, table: str,
               columns: Sequence[str], *, identity: str | None = None) -> int:
    """Copy ``columns`` of every row of ``table`` from a SQLite store into the same table
    of a PostgreSQL one, inside ``target``'s open transaction (COPY, a chunk at a time);
    ``identity``: a column generated as an identity, whose sequence then continues after
    the largest value copied. Return how many rows were copied. The names are the
    stores' own, never input."""
    names = ", ".join(columns)
    statement = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    cursor = source.execute(f"SELECT {names} FROM {table}")
    count = 0
    while rows := cursor.fetchmany(_CHUNK):
        target.executemany(statement, rows)
        count += len(rows)
    if identity is not None and count:
        target.execute(f"SELECT setval(pg_get_serial_sequence(?, ?), "
                       f"(SELECT max({identity}) FROM {table}))", (table, identity))
    return count
