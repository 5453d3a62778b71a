"""The quarantine: held messages, stored whole, compressed and content-addressed.

    <root>/objects/ab/abcdef....eml.gz    the message bytes (gzip), named by SHA-256
    <root>/index.sqlite3                   one row per held message (a message held
                                           twice is stored once, indexed twice)

`put` returns only when both the file (fsync'd, with its directory) and the index
row (SQLite, synchronous=FULL) are on disk: a 250 for a held message means "in quarantine".
Held mail is private: the directories are 0700 and the files (index, its -wal and
-shm, messages) 0600 whatever the umask (mailbase's private files).
Releasing is milter's job (it puts the bytes back into the pipeline after the
policy stage); this store only holds, lists, reads, deletes and expires.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NewType

from mailbase import private_database, private_dir, write_private_durably
from policies.errors import QuarantineError, QuarantineNotFound
from policies.model import Decision, Direction

QuarantineId = NewType("QuarantineId", str)

_SCHEMA = """
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

    def __init__(self, root: Path, *, retention_days: int = 30) -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.root = root
        self.retention = timedelta(days=retention_days)
        self._lock = threading.Lock()
        self._db_path = root / "index.sqlite3"
        try:
            private_dir(root)
            private_dir(root / "objects")
            private_database(self._db_path)
            self._db = sqlite3.connect(self._db_path, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise QuarantineError(f"cannot open the quarantine at {root}: {exc}") from exc

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
        path = self._object(sha256)
        try:
            if not path.exists():
                private_dir(path.parent)
                write_private_durably(path, gzip.compress(raw, compresslevel=6, mtime=0))
            row = (
                qid, sha256, created.isoformat(), (created + self.retention).isoformat(),
                envelope_from, json.dumps(list(recipients), ensure_ascii=False),
                Direction(direction).value, unit_id, decision.action.value,
                json.dumps(decision.as_json(), ensure_ascii=False), len(raw),
            )
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute("INSERT INTO held VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
        except (OSError, sqlite3.Error) as exc:
            raise QuarantineError(f"cannot hold the message in {self.root}: {exc}") from exc
        return qid

    def list(self) -> _Entries:
        """Every held message, oldest first."""
        return [self._entry(r) for r in self._query("SELECT * FROM held ORDER BY created, id")]

    def get(self, qid: str) -> QuarantineEntry:
        """The entry `qid`; `QuarantineNotFound` when there is none."""
        rows = self._query("SELECT * FROM held WHERE id = ?", (qid,))
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

    def delete(self, qid: str) -> None:
        """Remove `qid` (and its bytes, unless another entry holds the same message)."""
        entry = self.get(qid)
        self._remove([entry])

    def expire(self, now: datetime) -> _Ids:
        """Remove every entry whose retention has passed at `now`; return their ids."""
        rows = self._query("SELECT * FROM held WHERE expires <= ? ORDER BY expires",
                           (_utc(now).isoformat(),))
        entries = [self._entry(r) for r in rows]
        self._remove(entries)
        return [e.id for e in entries]

    def _remove(self, entries: _Entries) -> None:
        if not entries:
            return
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("DELETE FROM held WHERE id = ?",
                                         [(e.id,) for e in entries])
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                for sha256 in {e.sha256 for e in entries}:
                    left = self._db.execute("SELECT 1 FROM held WHERE sha256 = ? LIMIT 1",
                                            (sha256,)).fetchone()
                    if left is None:
                        self._object(sha256).unlink(missing_ok=True)
        except (OSError, sqlite3.Error) as exc:
            raise QuarantineError(f"cannot delete from the quarantine {self.root}: {exc}") from exc

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


