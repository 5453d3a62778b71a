"""The quarantine: held messages, stored whole, compressed and content-addressed.

    <root>/objects/ab/abcdef....eml.gz    the message bytes (gzip), named by SHA-256
    <root>/index.sqlite3                   one row per held message (a message held
                                           twice is stored once, indexed twice)

`put` returns only when both the file (fsync'd, with its directory) and the index
row (SQLite, synchronous=FULL) are on disk: a 250 for a held message means "in quarantine".
Held mail is private: the directories are 0700 and the files (index, its -wal and
-shm, messages) 0600 whatever the umask (mailbase's private files).
Releasing is milter's job (it puts the bytes back into the pipeline after the
policy stage); this store only holds, lists, reads, claims, deletes and expires.

A release happens once: it first claims the message (:meth:`~Quarantine.claim`: one
``BEGIN IMMEDIATE`` transaction that only an unclaimed message, or one whose claim is
older than :data:`CLAIM_TIMEOUT`, lets through), relays it, then deletes it with its
claim. A second release of the same message meanwhile, from this process or another,
gets :class:`~policies.errors.QuarantineBusy` naming the first; once the first is done
it gets :class:`~policies.errors.QuarantineNotFound`. policies/pgquarantine.py is the
same store in PostgreSQL, for several servers.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NewType

from mailbase import private_database, private_dir, use_wal, write_private_durably
from policies.errors import QuarantineBusy, QuarantineError, QuarantineNotFound
from policies.model import Decision, Direction

QuarantineId = NewType("QuarantineId", str)

#: A release's claim older than this is taken to be abandoned (the process releasing
#: died): another release may take the message. Longer than a relay can take.
CLAIM_TIMEOUT = timedelta(minutes=15)

#: The columns of an entry, in :meth:`Quarantine._entry`'s order.
COLUMNS = ("id, sha256, created, expires, envelope_from, recipients, direction, unit_id, "
           "action, decision, size")

_V1 = """
CREATE TABLE IF NOT EXISTS held (
    id            TEXT PRIMARY KEY,
    sha256        TEXT NOT NULL,
    created       TEXT NOT NULL,
    expires       TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    recipients    TEXT NOT NULL,
    direction     TEXT NOT NULL,
    unit_id       TEXT,
    action        TEXT NOT NULL,
    decision      TEXT NOT NULL,
    size          INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS held_expires ON held (expires);
CREATE INDEX IF NOT EXISTS held_sha256 ON held (sha256);
"""
# A release's claim: who (with a token of that release) and since when. A table of its
# own, not columns of held: the previous release reads held with SELECT * into eleven
# values, and must still read a store this one migrated.
_V2 = """
CREATE TABLE IF NOT EXISTS claims (
    id         TEXT PRIMARY KEY,
    claimed_by TEXT NOT NULL,
    claimed_at TEXT NOT NULL
) STRICT;
"""
#: The index's migrations, numbered by ``PRAGMA user_version`` (a store made before
#: they were numbered is at 0 and has version 1's table: its CREATE is IF NOT EXISTS).
MIGRATIONS = (_V1, _V2)


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One held message: who sent it to whom, which way, why, and until when."""

    id: QuarantineId
    sha256: str
    created: datetime
    expires: datetime
    envelope_from: str
    recipients: tuple[str, ...]
    direction: Direction
    unit_id: str | None
    action: str
    #: the decision as `Decision.as_json()` gave it (action, violations, reply text).
    decision: Mapping[str, Any]
    size: int

    def as_json(self) -> dict[str, Any]:
        """The entry as `congvu quarantine show` prints it."""
        return {
            "id": self.id,
            "sha256": self.sha256,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat(),
            "envelope_from": self.envelope_from,
            "recipients": list(self.recipients),
            "direction": self.direction.value,
            "unit_id": self.unit_id,
            "action": self.action,
            "size": self.size,
            "violations": self.decision.get("violations", []),
        }


@dataclass(frozen=True, slots=True)
class HeldClaim:
    """A release's hold on one message: the entry, and the token that deletes it or
    gives it back (:meth:`Quarantine.delete`, :meth:`Quarantine.unclaim`)."""

    entry: QuarantineEntry
    token: str


# aliases: inside Quarantine, `list` is the method (the brief's name for it).
_Entries = list[QuarantineEntry]
_Ids = list[QuarantineId]
_Rows = list[tuple[Any, ...]]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("quarantine times must be timezone-aware")
    return value.astimezone(UTC)


class Quarantine:
    """The quarantine store under `root` (`<data dir>/quarantine` by default).

    Safe to share between threads. Every storage failure raises `QuarantineError`
    naming the path, which milter answers with 451 (the message stays in Postfix).
    """

    #: where the store is, as messages name it (its directory, or its URL)
    where: str

    def __init__(self, root: Path, *, retention_days: int = 30) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.root = root
        self.where = str(root)
        self.retention = timedelta(days=retention_days)
        self._lock = threading.Lock()
        self._db_path = root / "index.sqlite3"
        try:
            private_dir(root)
            private_dir(root / "objects")
            private_database(self._db_path)
            self._db = sqlite3.connect(self._db_path, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA busy_timeout=10000")
            use_wal(self._db, wait_seconds=10.0)
            self._db.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except (OSError, sqlite3.Error) as exc:
            raise QuarantineError(f"cannot open the quarantine at {root}: {exc}") from exc

    def _migrate(self) -> None:
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
            return
        self._db.execute("BEGIN IMMEDIATE")  # another process may be migrating too
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def prepare(self) -> None:
        """Create or migrate the store now (``serve``'s parent does, before it forks); the
        directory's constructor already has."""

    def close(self) -> None:
        """Close the index."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _object(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / f"{sha256}.eml.gz"

    def put(
        self,
        raw: bytes,
        *,
        envelope_from: str,
        recipients: Iterable[str],
        direction: Direction | str,
        unit_id: str | None,
        decision: Decision,
        now: datetime | None = None,
    ) -> QuarantineId:
        """Hold `raw`; return its id once the bytes and the index row are on disk."""
        created = _utc(now) if now else datetime.now(UTC)
        sha256 = hashlib.sha256(raw).hexdigest()
        qid = QuarantineId(f"{created:%Y%m%dT%H%M%S}-{secrets.token_hex(6)}")
        self._hold(raw, (
            qid, sha256, created.isoformat(), (created + self.retention).isoformat(),
            envelope_from, json.dumps(list(recipients), ensure_ascii=False),
            Direction(direction).value, unit_id, decision.action.value,
            json.dumps(decision.as_json(), ensure_ascii=False), len(raw),
        ))
        return qid

    def adopt(self, entry: QuarantineEntry, raw: bytes) -> None:
        """Hold ``raw`` as ``entry`` says, its id and times kept (a copy of another store's
        entry: :func:`policies.copy_quarantine`).

        :raises QuarantineError: the bytes are not the entry's (hash), or cannot be stored.
        """
        if hashlib.sha256(raw).hexdigest() != entry.sha256 or len(raw) != entry.size:
            raise QuarantineError(f"held message {entry.id}: its bytes are not the ones "
                                  "its entry names (hash or size differs)")
        self._hold(raw, (
            entry.id, entry.sha256, entry.created.isoformat(), entry.expires.isoformat(),
            entry.envelope_from, json.dumps(list(entry.recipients), ensure_ascii=False),
            entry.direction.value, entry.unit_id, entry.action,
            json.dumps(entry.decision, ensure_ascii=False), entry.size,
        ))

    def _hold(self, raw: bytes, row: tuple[object, ...]) -> None:
        """Write the bytes (file, fsync'd), then the index row that names them."""
        path = self._object(str(row[1]))
        try:
            if not path.exists():
                private_dir(path.parent)
                write_private_durably(path, gzip.compress(raw, compresslevel=6, mtime=0))
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(f"INSERT INTO held ({COLUMNS}) "
                                     "VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except (OSError, sqlite3.Error) as exc:
            raise QuarantineError(f"cannot hold the message in {self.root}: {exc}") from exc

    def list(self) -> _Entries:
        """Every held message, oldest first."""
        return [self._entry(r)
                for r in self._query(f"SELECT {COLUMNS} FROM held ORDER BY created, id")]

    def get(self, qid: str) -> QuarantineEntry:
        """The entry `qid`; `QuarantineNotFound` when there is none."""
        rows = self._query(f"SELECT {COLUMNS} FROM held WHERE id = ?", (qid,))
        if not rows:
            raise QuarantineNotFound(qid)
        return self._entry(rows[0])

    def read(self, qid: str) -> bytes:
        """The held message's bytes, exactly as they were put."""
        entry = self.get(qid)
        path = self._object(entry.sha256)
        try:
            raw = gzip.decompress(path.read_bytes())
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise QuarantineError(f"cannot read held message {qid} at {path}: {exc}") from exc
        if hashlib.sha256(raw).hexdigest() != entry.sha256:
            raise QuarantineError(f"held message {qid} at {path} is corrupt (hash mismatch)")
        return raw

    def read_head(self, qid: str, limit: int) -> bytes:
        """The first ``limit`` bytes of the held message (enough for its header),
        decompressed no further; not checked against its hash (:meth:`read` is)."""
        path = self._object(self.get(qid).sha256)
        try:
            with gzip.open(path, "rb") as stream:
                return stream.read(limit)
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            raise QuarantineError(f"cannot read held message {qid} at {path}: {exc}") from exc

    def claim(self, qid: str, *, by: str, now: datetime | None = None) -> HeldClaim:
        """Take ``qid`` for a release by ``by`` (who, and on which server): until the
        claim's token deletes it or gives it back, no other release or deletion takes it.

        :raises QuarantineNotFound: not held (released or deleted already, or never).
        :raises QuarantineBusy: another release holds it, claimed less than
            :data:`CLAIM_TIMEOUT` ago.
        """
        at = _utc(now) if now else datetime.now(UTC)
        token = f"{by} [{secrets.token_hex(4)}]"
        if not self._take(qid, token, at):
            self._refuse(qid)
        return HeldClaim(self.get(qid), token)

    def delete(self, qid: str, *, claim: str | None = None,
               now: datetime | None = None) -> None:
        """Remove `qid` (and its bytes, unless another entry holds the same message);
        ``claim``: the token of this release's :meth:`claim`.

        :raises QuarantineNotFound: not held.
        :raises QuarantineBusy: a release (other than ``claim``'s) holds it.
        """
        entry = self.get(qid)
        if not self._remove([entry], claim, _utc(now) if now else datetime.now(UTC)):
            self._refuse(qid)

    def expire(self, now: datetime) -> _Ids:
        """Remove every entry whose retention has passed at `now` and no release holds;
        return their ids."""
        rows = self._query(f"SELECT {COLUMNS} FROM held WHERE expires <= ? ORDER BY expires",
                           (_utc(now).isoformat(),))
        return self._remove([self._entry(r) for r in rows], None, _utc(now))

    def _refuse(self, qid: str) -> None:
        """Say why ``qid`` could not be taken: gone, or someone else's claim."""
        claimant = self._claimant(qid)
        by, since = claimant or ("another release", "")
        raise QuarantineBusy(qid, by, since,
                             timeout_minutes=int(CLAIM_TIMEOUT.total_seconds() // 60))

    # -- the claims, in the index's ``claims`` table (each step one IMMEDIATE transaction,
    # which serialises it with every other process's) ------------------------------------

    def _take(self, qid: str, token: str, at: datetime) -> bool:
        """Claim ``qid`` for ``token`` unless it is gone or another claim is fresh."""
        stale = (at - CLAIM_TIMEOUT).isoformat()
        with self._transaction("claim a held message") as db:
            if db.execute("SELECT 1 FROM held WHERE id = ?", (qid,)).fetchone() is None:
                return False
            held = db.execute("SELECT claimed_at FROM claims WHERE id = ?", (qid,)).fetchone()
            if held is not None and held[0] > stale:
                return False
            db.execute("INSERT OR REPLACE INTO claims (id, claimed_by, claimed_at) "
                       "VALUES (?, ?, ?)", (qid, token, at.isoformat()))
        return True

    def unclaim(self, qid: str, token: str) -> None:
        """Give ``qid`` back (its release failed; it stays held for the next try)."""
        with self._transaction("give back a held message") as db:
            db.execute("DELETE FROM claims WHERE id = ? AND claimed_by = ?", (qid, token))

    def _claimant(self, qid: str) -> tuple[str, str] | None:
        """Who claims ``qid`` and since when (None: nobody).

        :raises QuarantineNotFound: not held.
        """
        rows = self._query("SELECT c.claimed_by, c.claimed_at FROM held h LEFT JOIN claims c "
                           "ON c.id = h.id WHERE h.id = ?", (qid,))
        if not rows:
            raise QuarantineNotFound(qid)
        by, since = rows[0]
        return None if by is None else (by, since)

    def _remove(self, entries: _Entries, claim: str | None, now: datetime) -> _Ids:
        """Delete the entries no other release holds (and their claims); their ids."""
        if not entries:
            return []
        stale = (now - CLAIM_TIMEOUT).isoformat()
        removed = []
        with self._transaction("delete from the quarantine") as db:
            for entry in entries:
                held = db.execute("SELECT claimed_by, claimed_at FROM claims WHERE id = ?",
                                  (entry.id,)).fetchone()
                if held is not None and held[0] != claim and held[1] > stale:
                    continue
                db.execute("DELETE FROM held WHERE id = ?", (entry.id,))
                db.execute("DELETE FROM claims WHERE id = ?", (entry.id,))
                removed.append(entry)
            # claims an earlier release's deletions left behind
            db.execute("DELETE FROM claims WHERE id NOT IN (SELECT id FROM held)")
        try:
            with self._lock:
                for sha256 in {e.sha256 for e in removed}:
                    left = self._db.execute("SELECT 1 FROM held WHERE sha256 = ? LIMIT 1",
                                            (sha256,)).fetchone()
                    if left is None:
                        self._object(sha256).unlink(missing_ok=True)
        except (OSError, sqlite3.Error) as exc:
            raise QuarantineError(f"cannot delete from the quarantine {self.root}: {exc}") from exc
        return [e.id for e in removed]

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction on the index, committed when the block
        ends; an error of the database becomes a :class:`QuarantineError`."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise QuarantineError(f"cannot {doing} in {self._db_path}: {exc}") from exc

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> _Rows:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise QuarantineError(
                f"cannot read the quarantine index {self._db_path}: {exc}") from exc

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> QuarantineEntry:
        (qid, sha256, created, expires, sender, recipients, direction, unit_id, action,
         decision, size) = row
        return QuarantineEntry(
            id=QuarantineId(qid), sha256=sha256, created=datetime.fromisoformat(created),
            expires=datetime.fromisoformat(expires), envelope_from=sender,
            recipients=tuple(json.loads(recipients)), direction=Direction(direction),
            unit_id=unit_id, action=action, decision=json.loads(decision), size=size,
        )


