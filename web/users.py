"""The console's users: auditors (granted units) and administrators, in SQLite.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second
recommended set); the store never holds a password. A grant of a unit covers its
descendants (units form a tree), which :mod:`web.access` resolves.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from web.errors import UserError

_SCHEMA = """
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
"""
MIN_PASSWORD = 10
_HASHER = PasswordHasher()
# verifying against this keeps an unknown name as slow as a wrong password
_DUMMY = _HASHER.hash("congvu-no-such-user")


@dataclass(frozen=True, slots=True)
class User:
    """One console user and the units granted to them (administrators see all)."""

    name: str
    is_admin: bool
    is_active: bool
    units: tuple[str, ...]
    created: datetime


def check_name(name: str) -> str:
    """A user name: 1-64 printable characters without spaces.

    :raises UserError: it is not.
    """
    value = name.strip()
    if not value or len(value) > 64 or not value.isprintable() or " " in value:
        raise UserError(f"user name {name!r}: 1-64 printable characters, no spaces")
    return value


class UserStore:
    """The users file (``<data dir>/web/users.sqlite3``); safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"users store {path}: cannot open it: {exc}") from exc

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.IntegrityError as exc:
            raise UserError(f"users store {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise UserError(f"users store {self.path}: {exc}") from exc

    def add(self, name: str, password: str, *, is_admin: bool = False) -> User:
        """Create a user.

        :raises UserError: bad name, short password, or the name is taken.
        """
        name = check_name(name)
        if len(password) < MIN_PASSWORD:
            raise UserError(f"user {name}: the password needs at least {MIN_PASSWORD} characters")
        if self.find(name) is not None:
            raise UserError(f"user {name} exists already")
        self._run("INSERT INTO users VALUES (?, ?, ?, 1, ?)",
                  (name, _HASHER.hash(password), int(is_admin),
                   datetime.now(UTC).isoformat(timespec="seconds")))
        return self.get(name)

    def find(self, name: str) -> User | None:
        """The user called ``name``, or None."""
        rows = self._run("SELECT name, is_admin, is_active, created FROM users WHERE name = ?",
                         (name,))
        if not rows:
            return None
        units = self._run("SELECT unit_id FROM grants WHERE user_name = ? ORDER BY unit_id",
                          (name,))
        row = rows[0]
        return User(str(row[0]), bool(row[1]), bool(row[2]), tuple(str(u[0]) for u in units),
                    datetime.fromisoformat(str(row[3])))

    def get(self, name: str) -> User:
        """The user called ``name``. :raises UserError: no such user."""
        user = self.find(name)
        if user is None:
            raise UserError(f"no user {name!r}")
        return user

    def users(self) -> list[User]:
        """Every user, by name."""
        return [self.get(str(r[0])) for r in self._run("SELECT name FROM users ORDER BY name")]

    def has_admin(self) -> bool:
        """Whether an active administrator exists."""
        return bool(self._run("SELECT 1 FROM users WHERE is_admin = 1 AND is_active = 1"))

    def grant(self, name: str, unit_id: str) -> User:
        """Let ``name`` read the log of ``unit_id`` and its descendants."""
        self.get(name)
        if not unit_id.strip():
            raise UserError("a unit id cannot be empty")
        self._run("INSERT OR IGNORE INTO grants VALUES (?, ?)", (name, unit_id.strip()))
        return self.get(name)

    def revoke(self, name: str, unit_id: str) -> User:
        """Take a grant back."""
        self.get(name)
        self._run("DELETE FROM grants WHERE user_name = ? AND unit_id = ?", (name, unit_id))
        return self.get(name)

    def set_active(self, name: str, is_active: bool) -> User:
        """Disable (or enable again) a user; a disabled user's session stops at once."""
        self.get(name)
        self._run("UPDATE users SET is_active = ? WHERE name = ?", (int(is_active), name))
        return self.get(name)

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password."""
        self.get(name)
        if len(password) < MIN_PASSWORD:
            raise UserError(f"user {name}: the password needs at least {MIN_PASSWORD} characters")
        self._run("UPDATE users SET password_hash = ? WHERE name = ?",
                  (_HASHER.hash(password), name))

    def authenticate(self, name: str, password: str) -> User | None:
        """The active user whose name and password these are, or None."""
        rows = self._run("SELECT password_hash FROM users WHERE name = ?", (name,))
        stored = str(rows[0][0]) if rows else _DUMMY
        try:
            _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        user = self.get(name)
        if _HASHER.check_needs_rehash(stored):
            self._run("UPDATE users SET password_hash = ? WHERE name = ?",
                      (_HASHER.hash(password), name))
        return user if user.is_active else None
