"""The console's users: auditors (granted units) and administrators, in SQLite or, for
the consoles of several mail servers, in PostgreSQL (``[web] url`` or ``[store] url``).

Passwords are hashed with Argon2id (by default argon2-cffi's defaults, RFC 9106's
second recommended set: :data:`PASSWORD_HASHING`); the store never holds a password.
A grant of a unit covers its descendants (units form a tree), which :mod:`web.access`
resolves. The console's sessions live here too (only their ids' hashes), so that
ending one (logging out, a password change, a disabled user) holds on every server
that shares the store.

In PostgreSQL the tables are the same, in the database's schema ``console``
(:data:`PG_MIGRATIONS`); each call borrows a session from the process's pool, which
checks it first, so a restarted database is used again without a restart of the
console. Every write is one statement: a name taken meanwhile by another server is
the primary key's refusal, and the sessions' updates are idempotent, so no lock is
needed. A database that is down, unreachable, read-only or refusing the login is a
:class:`~web.errors.UserError` that says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

from mailbase import private_database, private_dir, use_wal
from web import refusals
from web.errors import UserError
from web.settings import WebConfig

if TYPE_CHECKING:
    from mailbase.pgconn import PgConnection

#: The store's schema, one step per release that changed it; ``PRAGMA user_version``
#: is the number of steps applied. Steps are additive only (the previous release
#: still opens a store the next one migrated) and idempotent (two processes may race
#: to the same step: the second finds the tables there).
_MIGRATIONS: tuple[str, ...] = (
    # 1. the first release's tables (its stores are at user_version 0 with these)
    """
    CREATE TABLE IF NOT EXISTS users (
        name          TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        is_admin      INTEGER NOT NULL,
        is_active     INTEGER NOT NULL,
        created       TEXT NOT NULL
    ) STRICT;
    CREATE TABLE IF NOT EXISTS grants (
        user_name TEXT NOT NULL REFERENCES users(name),
        unit_id   TEXT NOT NULL,
        PRIMARY KEY (user_name, unit_id)
    ) STRICT;
    """,
    # 2. console sessions, kept here so that logging out, a password change or a
    # disabled user ends them on every server sharing this store. The cookie holds
    # the session id; the store only its SHA-256. Times are UTC ISO 8601 to the second.
    """
    CREATE TABLE IF NOT EXISTS sessions (
        id_hash   TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users(name),
        created   TEXT NOT NULL,
        expires   TEXT NOT NULL,
        revoked   TEXT
    ) STRICT;
    CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_name);
    """,
    # 3. grants of message content: reading or downloading archived messages of a unit
    # (and searching their text) needs one besides the unit's grant. A table of its
    # own, so the previous release reads its grants as they were.
    """
    CREATE TABLE IF NOT EXISTS content_grants (
        user_name TEXT NOT NULL REFERENCES users(name),
        unit_id   TEXT NOT NULL,
        PRIMARY KEY (user_name, unit_id)
    ) STRICT;
    """,
)
#: The PostgreSQL schema of the users store, and the advisory lock of its migrations.
PG_SCHEMA = "console"
PG_LOCK = 0x636F6E67_7765  # "congwe"
_TEXT = 'text COLLATE "C"'
#: The same steps in PostgreSQL, by name (a test holds the two lists to one length).
PG_MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0001-users-grants", (
        f"""CREATE TABLE users (
            name {_TEXT} PRIMARY KEY, password_hash {_TEXT} NOT NULL,
            is_admin integer NOT NULL, is_active integer NOT NULL, created {_TEXT} NOT NULL)""",
        f"""CREATE TABLE grants (
            user_name {_TEXT} NOT NULL REFERENCES users(name), unit_id {_TEXT} NOT NULL,
            PRIMARY KEY (user_name, unit_id))""",
    )),
    ("0002-sessions", (
        f"""CREATE TABLE sessions (
            id_hash {_TEXT} PRIMARY KEY, user_name {_TEXT} NOT NULL REFERENCES users(name),
            created {_TEXT} NOT NULL, expires {_TEXT} NOT NULL, revoked {_TEXT})""",
        "CREATE INDEX sessions_user ON sessions (user_name)",
    )),
    ("0003-content-grants", (
        f"""CREATE TABLE content_grants (
            user_name {_TEXT} NOT NULL REFERENCES users(name), unit_id {_TEXT} NOT NULL,
            PRIMARY KEY (user_name, unit_id))""",
    )),
)
#: The tables and their columns, in the order a copy fills them.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("users", ("name", "password_hash", "is_admin", "is_active", "created")),
    ("grants", ("user_name", "unit_id")),
    ("sessions", ("id_hash", "user_name", "created", "expires", "revoked")),
    ("content_grants", ("user_name", "unit_id")),
)
MIN_PASSWORD = 10
#: The Argon2id cost of new hashes: 3 passes over 64 MiB in 4 lanes (RFC 9106 4,
#: second recommended option, argon2-cffi's default). A hash made with other
#: parameters is made again with the store's on the next successful login.
PASSWORD_HASHING = RFC_9106_LOW_MEMORY


@dataclass(frozen=True, slots=True)
class User:
    """One console user and the units granted to them (administrators see all)."""

    name: str
    is_admin: bool
    is_active: bool
    units: tuple[str, ...]
    created: datetime
    #: the units whose archived messages the user may read, download and search (with
    #: the units below them; only where ``units`` reach too)
    content_units: tuple[str, ...] = ()


def check_name(name: str) -> str:
    """A user name: 1-64 printable characters without spaces.

    :raises UserError: it is not.
    """
    value = name.strip()
    if not value or len(value) > 64 or not value.isprintable() or " " in value:
        raise UserError(refusals.NAME_INVALID(name=repr(name)))
    return value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _session_hash(session_id: str) -> str:
    # the id is 256 random bits: a plain hash is enough to make a stolen copy of the
    # store useless for logging in, no slow hash needed
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


#: a user and its grants in one row, each list of unit ids joined by U+001F (the
#: information separator: no unit id holds a control character)
_USER_COLUMNS = (
    "u.name, u.is_admin, u.is_active, u.created, "
    "(SELECT group_concat(unit_id, char(31)) FROM grants WHERE user_name = u.name), "
    "(SELECT group_concat(unit_id, char(31)) FROM content_grants WHERE user_name = u.name)")


def _user(row: tuple[object, ...]) -> User:
    def units(joined: object) -> tuple[str, ...]:
        return tuple(sorted(str(joined).split("\x1f"))) if joined else ()

    return User(str(row[0]), bool(row[1]), bool(row[2]), units(row[4]),
                datetime.fromisoformat(str(row[3])), units(row[5]))


class UserStore:
    """The users store: a file (``<data dir>/web/users.sqlite3`` by default), or the
    PostgreSQL database a ``[web]`` table with a url names; safe to share between threads.

    The file and its directory are private (0600, 0700, whatever the umask): they hold
    the password hashes and the session ids' hashes. New hashes cost ``hashing``
    (:data:`PASSWORD_HASHING` unless a test asks for less).
    """

    #: the schema this release writes, as ``congvu doctor`` checks it: the SQLite file's
    #: ``PRAGMA user_version``, and in PostgreSQL the schema and its migrations by name
    schema_version: ClassVar[int] = len(_MIGRATIONS)
    pg_schema: ClassVar[str] = PG_SCHEMA
    pg_migrations: ClassVar[tuple[str, ...]] = tuple(name for name, _ in PG_MIGRATIONS)

    def __init__(self, path: Path | WebConfig, *,
                 hashing: Parameters = PASSWORD_HASHING) -> None:
        self._hasher = PasswordHasher.from_parameters(hashing)
        self._dummy_hash: str | None = None
        self._lock = threading.Lock()
        self._borrow: Callable[[], contextlib.AbstractContextManager[Any]] = self._sqlite
        self._is_shared = False
        self._errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        self._explain: Callable[[BaseException], str] = str
        if isinstance(path, WebConfig):
            if path.url is not None:
                self.path: Path | str = path.url
                self._open_url(path)
                return
            path = path.path
        self.path = path
        try:
            private_dir(path.parent)
            private_database(path)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=5000")
            use_wal(self._db, wait_seconds=5.0)
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise UserError(refusals.STORE_CANNOT_OPEN(store=str(path), detail=str(exc))
                            ) from exc

    def _open_url(self, config: WebConfig) -> None:
        """Use the PostgreSQL store ``config.url`` names, migrating its schema first."""
        from mailbase.pgconn import (  # psycopg only where it is used
            ERRORS,
            connect,
            explain,
            migrate_schema,
            pooled,
            read_password,
        )

        assert config.url is not None
        url = config.url
        self._errors, self._explain = ERRORS, explain
        try:
            password = read_password(config.password_file)
        except ValueError as exc:
            raise UserError(refusals.STORE_REFUSED(store=url, detail=str(exc))) from exc
        try:
            conn = connect(url, password, schema=PG_SCHEMA)
            try:
                migrate_schema(conn, PG_SCHEMA, PG_LOCK, PG_MIGRATIONS)
            finally:
                conn.close()
        except ERRORS as exc:
            raise UserError(refusals.STORE_CANNOT_OPEN(store=url, detail=explain(exc))
                            ) from exc

        @contextlib.contextmanager
        def borrowed() -> Iterator[PgConnection]:
            conn = pooled(url, password, readonly=False, schema=PG_SCHEMA)
            try:
                yield conn
            finally:
                conn.close()

        self._borrow = borrowed
        self._is_shared = True

    @contextlib.contextmanager
    def _sqlite(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def _migrate(self) -> None:
        """Apply the steps of :data:`_MIGRATIONS` this file has not had yet."""
        done = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        for number, step in enumerate(_MIGRATIONS[done:], start=done + 1):
            try:
                self._db.executescript(f"BEGIN IMMEDIATE;{step};"
                                       f"PRAGMA user_version = {number}; COMMIT;")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the file (a PostgreSQL store's sessions stay in the process's pool)."""
        if not self._is_shared:
            with self._lock:
                self._db.close()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _execute(self, sql: str, params: tuple[object, ...]) -> tuple[list[Any], int]:
        """One statement's rows (none for a write) and how many rows it changed."""
        try:
            with self._borrow() as db:
                cursor = db.execute(sql, params)
                rows = cursor.fetchall() if cursor.description is not None else []
                return rows, cursor.rowcount
        except self._errors as exc:
            raise UserError(refusals.STORE_REFUSED(store=str(self.path),
                                                   detail=self._explain(exc))) from exc

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return self._execute(sql, params)[0]

    def add(self, name: str, password: str, *, is_admin: bool = False) -> User:
        """Create a user.

        :raises UserError: bad name, short password, or the name is taken.
        """
        name = check_name(name)
        if len(password) < MIN_PASSWORD:
            raise UserError(refusals.PASSWORD_SHORT(name=name, minimum=MIN_PASSWORD))
        if self.find(name) is not None:
            raise UserError(refusals.NAME_TAKEN(name=name))
        self._run("INSERT INTO users VALUES (?, ?, ?, 1, ?)",
                  (name, self._hasher.hash(password), int(is_admin),
                   datetime.now(UTC).isoformat(timespec="seconds")))
        return self.get(name)

    def find(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        rows = self._run(f"SELECT {_USER_COLUMNS} FROM users AS u WHERE u.name = ?", (name,))
        return _user(rows[0]) if rows else None

    def get(self, name: str) -> User:
        """The user called ``name``. :raises UserError: no such user."""
        user = self.find(name)
        if user is None:
            raise UserError(refusals.NO_USER(name=name))
        return user

    def users(self) -> list[User]:
        """Every user, by name."""
        return [self.get(str(r[0])) for r in self._run("SELECT name FROM users ORDER BY name")]

    def has_admin(self) -> bool:
        """Whether an active administrator exists."""
        return bool(self._run("SELECT 1 FROM users WHERE is_admin = 1 AND is_active = 1"))

    def grant(self, name: str, unit_id: str, *, content: bool = False) -> User:
        """Let ``name`` read the log of ``unit_id`` and its descendants; with
        ``content``, their archived messages too."""
        self.get(name)
        if not unit_id.strip():
            raise UserError(refusals.UNIT_EMPTY())
        self._run("INSERT OR IGNORE INTO grants VALUES (?, ?)", (name, unit_id.strip()))
        if content:
            self._run("INSERT INTO content_grants VALUES (?, ?) ON CONFLICT DO NOTHING",
                      (name, unit_id.strip()))
        return self.get(name)

    def revoke(self, name: str, unit_id: str, *, content_only: bool = False) -> User:
        """Take a grant back (its grant of content with it); with ``content_only``, only
        the grant of content."""
        self.get(name)
        self._run("DELETE FROM content_grants WHERE user_name = ? AND unit_id = ?",
                  (name, unit_id))
        if not content_only:
            self._run("DELETE FROM grants WHERE user_name = ? AND unit_id = ?",
                      (name, unit_id))
        return self.get(name)

    def set_active(self, name: str, is_active: bool) -> User:
        """Disable (or enable again) a user; disabling ends every session of theirs."""
        self.get(name)
        self._run("UPDATE users SET is_active = ? WHERE name = ?", (int(is_active), name))
        if not is_active:
            self.end_sessions(name)
        return self.get(name)

    def set_password(self, name: str, password: str) -> int:
        """Replace a user's password and end every session of theirs.

        :returns: how many sessions were ended.
        :raises UserError: no such user, or the password is too short.
        """
        self.get(name)
        if len(password) < MIN_PASSWORD:
            raise UserError(refusals.PASSWORD_SHORT(name=name, minimum=MIN_PASSWORD))
        self._run("UPDATE users SET password_hash = ? WHERE name = ?",
                  (self._hasher.hash(password), name))
        return self.end_sessions(name)

    # -- sessions -------------------------------------------------------------

    def start_session(self, name: str, lifetime: timedelta) -> str:
        """A new session of user ``name``, valid for ``lifetime``: its id, for the cookie.

        Sessions past their end are dropped here, so the table holds only live ones
        and the revoked ones that would still be live.
        """
        session_id = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        self._run("DELETE FROM sessions WHERE expires <= ?", (now.isoformat(timespec="seconds"),))
        self._run("INSERT INTO sessions VALUES (?, ?, ?, ?, NULL)",
                  (_session_hash(session_id), name, now.isoformat(timespec="seconds"),
                   (now + lifetime).isoformat(timespec="seconds")))
        return session_id

    def session_user(self, session_id: str) -> User | None:
        """The active user of a session that is neither ended nor expired, or None."""
        # one round trip: a PostgreSQL console asks this on every page
        rows = self._run(
            f"SELECT {_USER_COLUMNS} FROM sessions AS s JOIN users AS u "
            "ON u.name = s.user_name "
            "WHERE s.id_hash = ? AND s.revoked IS NULL AND s.expires > ? AND u.is_active = 1",
            (_session_hash(session_id), _now()))
        return _user(rows[0]) if rows else None

    def end_session(self, session_id: str) -> None:
        """End one session (logging out); an unknown or ended one is left as it is."""
        self._run("UPDATE sessions SET revoked = ? WHERE id_hash = ? AND revoked IS NULL",
                  (_now(), _session_hash(session_id)))

    def end_sessions(self, name: str) -> int:
        """End every live session of user ``name``; how many there were."""
        now = _now()
        return self._execute("UPDATE sessions SET revoked = ? "
                             "WHERE user_name = ? AND revoked IS NULL AND expires > ?",
                             (now, name, now))[1]

    def _no_ones_hash(self) -> str:
        # verifying against this keeps an unknown name as slow as a wrong password; made
        # on the first unknown name, not at import (most processes that import this
        # module log nobody in); two threads racing make it twice, harmlessly
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("congvu-no-such-user")
        return self._dummy_hash

    def authenticate(self, name: str, password: str) -> User | None:
        """The active user whose name and password these are, or None."""
        rows = self._run("SELECT password_hash FROM users WHERE name = ?", (name,))
        stored = str(rows[0][0]) if rows else self._no_ones_hash()
        try:
            self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        user = self.get(name)
        if self._hasher.check_needs_rehash(stored):
            self._run("UPDATE users SET password_hash = ? WHERE name = ?",
                      (self._hasher.hash(password), name))
        return user if user.is_active else None


def copy_users_to_postgresql(source: Path, target: WebConfig) -> dict[str, int]:
    """Copy the SQLite users store at ``source`` (users, grants, sessions) into the empty
    PostgreSQL one ``target.url`` names, in one transaction (all or nothing), read from
    one snapshot of the file. The file must be of this release's schema (any ``congvu
    user`` command of this release migrates it). Return the rows copied per table.

    :raises UserError: the file cannot be read or is of another schema version, the
        database cannot be reached, or it already holds users.
    :raises ValueError: ``target`` names no url.
    """
    from mailbase.pgconn import ERRORS, connect, copy_table, explain, read_password

    if target.url is None:
        raise ValueError("the target of a copy is a PostgreSQL store: its url is not set")
    UserStore(target).close()  # creates the schema, or says why it cannot
    try:
        origin = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UserError(refusals.STORE_CANNOT_OPEN(store=str(source), detail=str(exc))
                        ) from exc
    try:
        version = origin.execute("PRAGMA user_version").fetchone()[0]
        if version != len(_MIGRATIONS):
            raise UserError(refusals.STORE_SCHEMA_VERSION(store=str(source), version=version,
                                                          current=len(_MIGRATIONS)))
        origin.execute("BEGIN")  # one snapshot of the file, whatever writes it meanwhile
        conn = connect(target.url, read_password(target.password_file), schema=PG_SCHEMA)
        try:
            conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            conn.execute("SELECT pg_advisory_xact_lock(?)", (PG_LOCK,))
            if conn.execute("SELECT 1 FROM users LIMIT 1").fetchone():
                raise UserError(refusals.STORE_NOT_EMPTY(store=target.url))
            counts = {table: copy_table(origin, conn, table, columns)
                      for table, columns in TABLES}
            conn.execute("COMMIT")
            return counts
        finally:
            conn.close()  # rolls back what was not committed
    except sqlite3.Error as exc:
        raise UserError(refusals.STORE_CANNOT_READ(store=str(source), detail=str(exc))
                        ) from exc
    except ERRORS as exc:
        raise UserError(refusals.STORE_COPY_FAILED(store=target.url, detail=explain(exc))
                        ) from exc
    finally:
        origin.close()
