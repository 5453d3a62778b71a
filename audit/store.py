"""The audit store: :class:`AuditLog`, an append-only SQLite log wrapping sqlite-utils.

Writes go only through :meth:`AuditLog.write` (and its one-item forms
:meth:`~AuditLog.record`, :meth:`~AuditLog.complete`, :meth:`~AuditLog.admin`), each a
single ``BEGIN IMMEDIATE`` transaction: the chain head is read inside the write lock,
so several worker processes appending to one file keep one chain. Durability:
WAL with ``synchronous=FULL``, so a commit is fsync'd before it returns; the group
commit in audit/writer.py makes that cost one fsync per batch, not per message
(NORMAL would let the last commits vanish on power loss, after the 250).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlite_utils import Database

from audit import query as queries
from audit import summary
from audit.chain import GENESIS, Checkpoint, CheckpointSigner, Schedule
from audit.chains import ImportedChain, imported_chains, verify_chains, verify_imported
from audit.config import AuditConfig
from audit.errors import AuditError
from audit.keys import KeyTrust, accept, enrolment_event, fingerprint
from audit.links import covering, link_for, proof_of
from audit.pending import Linked, Pending
from audit.query import Dialect, Filters, Page, RecordSummary, TraceEntry
from audit.records import AdminEvent, AdminKind, AuditRecord, Completion
from audit.report import Report, build_report
from audit.reportsql import columns_of
from audit.reportuse import REGULAR_MIN, RosterMailbox
from audit.rows import iso
from audit.schema import CHAIN_SPAN, EVENT_COLUMNS, is_current, migrate
from audit.verify import (
    CHECKPOINT_COLUMNS,
    INDEXES,
    IndexCheck,
    VerifyReport,
    checkpoints_of,
    enrolments_of,
    verify_chain,
)
from mailbase import Period, private_database, private_dir, use_wal

Item = AuditRecord | Completion | AdminEvent  # as in audit/interface.py
_LOCK_RETRIES = 5
#: how many appended messages' report rows a store keeps for their completions
_KEPT_MESSAGES = 10_000
_SIGNED_AT_ONCE = frozenset({AdminKind.SERVICE_STOP, AdminKind.KEY_ENROLLED,
                             AdminKind.CHAIN_IMPORTED})
#: the admin events that decide the fate of a held message (the report's summary)
_HELD_DECIDED = frozenset({AdminKind.QUARANTINE_RELEASE, AdminKind.QUARANTINE_DELETE})
_INSERT_EVENT = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * len(EVENT_COLUMNS))})")
_INSERT_MEMBERSHIP = "INSERT INTO memberships (record_id, unit_id, role, at) VALUES (?, ?, ?, ?)"
_INSERT_RECIPIENT = ("INSERT INTO recipients (record_id, position, address, unit_id) "
                     "VALUES (?, ?, ?, ?)")
_INSERT_ATTACHMENT = ("INSERT INTO attachments (record_id, position, sha256, filename, "
                      "filename_folded, size, document) VALUES (?, ?, ?, ?, ?, ?, ?)")


@contextlib.contextmanager
def mapped_errors(path: Path | str, doing: str,
                  errors: tuple[type[Exception], ...] = (sqlite3.Error,)) -> Iterator[None]:
    """Turn any database error into an :class:`AuditError` naming the store and the act."""
    try:
        yield
    except errors as exc:
        raise AuditError(f"audit store {path}: could not {doing}: {exc}") from exc


def _create_private(path: Path) -> None:
    """The store's file 0600 (its -wal and -shm follow), a missing directory 0700; an
    existing directory keeps its mode (usually the data directory, shared with the
    public directory store)."""
    try:
        private_dir(path.parent, tighten=False)
        private_database(path)
    except OSError as exc:
        raise AuditError(f"audit store {path}: could not create it: "
                         f"{exc.strerror or exc}") from exc


class AuditLog:
    """The append-only audit log in one SQLite file.

    Build it with :meth:`open` (writable: creates the file, applies migrations,
    loads or creates the checkpoint key) or :meth:`open_readonly` (the auditors').
    """

    def __init__(
        self,
        db: Database,
        *,
        path: Path | str,
        signer: CheckpointSigner | None = None,
        checkpoint_every_records: int = 1000,
        checkpoint_every_seconds: float = 60.0,
        trust: KeyTrust | None = None,
        own_writer: bool = False,
    ) -> None:
        self.db = db
        self.path = path
        self.signer = signer
        self.checkpoint_every_records = checkpoint_every_records
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self.schedule = Schedule(checkpoint_every_records, float(checkpoint_every_seconds))
        # The keys verify trusts by default: the configured pins, else this store's
        # own signing key (None for a read-only store opened without them).
        if trust is None and signer is not None:
            trust = KeyTrust.own(signer.public_key)
        self.trust = trust
        self.dialect = Dialect()
        #: the database's own errors, each an AuditError to the caller
        self.errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        #: how verify checks the query indexes against the chained rows, in this SQL
        self.index_checks: Sequence[IndexCheck] = INDEXES
        # whether this key has signed a checkpoint of the store or been enrolled in it
        self._key_known = False
        #: whether this is an SQLite store opened for writing, whose writer lets writes
        #: queued meanwhile join a batch once the lock is held (:meth:`write_joining`)
        self.joins_late = own_writer
        #: for such a store: the report's row of each message record it appended
        #: (reportsql.columns_of, by position) until a completion of it is counted, so
        #: that its completion's summary upkeep does not read the record back (the
        #: milter's completions come through the writer of their record)
        self._messages: dict[int, tuple[Any, ...]] | None = {} if own_writer else None
        #: those of the append under way, kept once it is committed
        self._appended: dict[int, tuple[Any, ...]] = {}

    @classmethod
    def open(cls, config: AuditConfig) -> AuditLog:
        """Open (creating if needed) the store for writing.

        With ``url`` set, the store is the PostgreSQL database it names
        (audit/pgstore.py).

        :raises AuditError: the file cannot be opened, migrated or written.
        :raises KeyFileError: the checkpoint key is unusable.
        """
        if config.url is not None:
            from audit.pgstore import PgAuditLog  # psycopg only where it is used

            return PgAuditLog.open_url(config)
        signer = CheckpointSigner.load_or_create(config.keys_dir)
        with mapped_errors(config.path, "open for writing"):
            if config.path.is_dir():
                raise sqlite3.OperationalError("the path is a directory")
            _create_private(config.path)
            conn = sqlite3.connect(
                str(config.path), check_same_thread=False,
                timeout=config.busy_timeout_ms / 1000,
            )
            db = Database(conn)
            db.execute(f"PRAGMA busy_timeout = {int(config.busy_timeout_ms)}")
            use_wal(conn, wait_seconds=config.busy_timeout_ms / 1000)
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db)
        log = cls(
            db, path=config.path, signer=signer,
            checkpoint_every_records=config.checkpoint_every_records,
            checkpoint_every_seconds=config.checkpoint_every_seconds,
            trust=(KeyTrust.pinned(config.checkpoint_public_keys)
                   if config.checkpoint_public_keys else None),
            own_writer=True,
        )
        log._enrol_if_new()
        return log

    @classmethod
    def open_readonly(cls, path: Path | AuditConfig, *,
                      trust: KeyTrust | None = None) -> AuditLog:
        """Open the store read-only (``mode=ro``) for queries, reports and verification:
        the SQLite file at ``path``, or the store a configuration names (its ``url``,
        else its ``path``).

        :param trust: the checkpoint keys :meth:`verify` trusts (see audit/keys.py);
            without it, ``verify`` must be given them.
        :raises AuditError: no store there, or one that is not (fully) migrated.
        """
        if isinstance(path, AuditConfig):
            if path.url is not None:
                from audit.pgstore import PgAuditLog

                return PgAuditLog.open_url_readonly(path, trust=trust)
            path = path.path
        if not path.is_file():
            raise AuditError(f"audit store {path}: no such file (has the filter run yet?)")
        with mapped_errors(path, "open read-only"):
            conn = sqlite3.connect(
                f"file:{quote(str(path.resolve()))}?mode=ro", uri=True,
                check_same_thread=False,
            )
            conn.execute("PRAGMA busy_timeout = 5000")
            if not is_current(conn):
                conn.close()
                raise AuditError(
                    f"audit store {path}: not an audit store of this version "
                    "(run the filter once to migrate it)"
                )
            db = Database(conn, execute_plugins=False)
        return cls(db, path=path, trust=trust)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------

    def record(self, rec: AuditRecord) -> int:
        """Append one message record and commit it; return its record id."""
        return self.write([rec])[0]

    def complete(self, done: Completion) -> int:
        """Append the completion of a recorded message and commit it; return its id."""
        return self.write([done])[0]

    def admin(self, event: AdminEvent) -> int:
        """Append an administrative event and commit it; return its id."""
        return self.write([event])[0]

    def write(self, items: Sequence[Item]) -> list[int]:
        """Append several events in one transaction; return their ids in order.

        :raises AuditError: nothing was written (one bad item fails the batch;
            :meth:`write_each` isolates them).
        """
        results = self.write_each(items)
        for result in results:
            if isinstance(result, AuditError):
                raise result
        return [r for r in results if isinstance(r, int)]

    def write_each(self, items: Sequence[Item]) -> list[int | AuditError]:
        """Append the good items of a batch in one transaction.

        Returns each item's id, or the :class:`AuditError` that kept it out (a
        completion for an unknown record). A store failure raises for all.

        :raises AuditError: the transaction could not be committed.
        """
        return self.write_joining(items, None)

    def write_joining(self, items: Sequence[Item],
                      joining: Callable[[], Sequence[Item]] | None) -> list[int | AuditError]:
        """:meth:`write_each`, and the writes ``joining()`` gives once the write lock is
        held (those queued while it was taken: another process's commit holds it for its
        fsync) appended in the same transaction, their results after ``items``'. A
        transaction's fsync and the pages every batch writes (the indexes' last leaves,
        the summary's state) cost as much for one write as for ten.
        """
        pending = self._prepare(items)  # before the lock (audit/pending.py)
        with self._immediate("append audit events"):
            self._enrol_before_signing()
            if joining is not None and (late := joining()):
                items = [*items, *late]
                pending = [*pending, *self._prepare(late)]
            results = self._append(items, pending=pending)
        self._keep_messages(items, results)
        return results

    def _keep_messages(self, items: Sequence[Item], results: Sequence[int | AuditError]
                       ) -> None:
        """After a commit: keep the rows of the messages it appended, forget those it
        completed (a later completion reads its record back), and the oldest kept
        beyond :data:`_KEPT_MESSAGES` (records whose completion never came)."""
        kept = self._messages
        if kept is None:
            return
        kept.update(self._appended)
        for item, result in zip(items, results, strict=True):
            if isinstance(item, Completion) and isinstance(result, int):
                kept.pop(item.record_id, None)
        while len(kept) > _KEPT_MESSAGES:
            del kept[next(iter(kept))]

    def _prepare(self, items: Sequence[Item]) -> list[Pending]:
        """The events' rows and their hashes but the links, built without the lock."""
        return [Pending.of(item) for item in items]

    def _append(
        self, items: Sequence[Item], head: tuple[int, str] | None = None, *,
        force_checkpoint: bool = False, pending: Sequence[Pending] | None = None,
    ) -> list[int | AuditError]:
        """Link ``items`` (built already when ``pending`` is given) to the head, insert
        them and sign a checkpoint when due: the part of a write that needs the lock."""
        seq, prev = head or self._head()
        batch_from = seq + 1
        self._appended = {}
        results: list[int | AuditError] = []
        linked: list[Linked] = []
        batch_messages: set[int] = set()
        for each in self._prepare(items) if pending is None else pending:
            item = each.item
            if isinstance(item, Completion) and not (
                item.record_id in batch_messages or self._is_message(item.record_id)
            ):
                results.append(AuditError(
                    f"audit store {self.path}: no message record {item.record_id} "
                    "to complete"
                ))
                continue
            seq += 1
            hashed = each.link(prev)
            linked.append(Linked(seq, prev, hashed, each))
            prev = hashed
            if isinstance(item, AuditRecord):
                batch_messages.add(seq)
            results.append(seq)
        self._insert(linked)
        if linked:
            if self._messages is not None:
                self._appended.update(
                    (n, columns_of({**each.event, "seq": n}, each.rows.memberships,
                                   each.rows.recipients))
                    for n, _, _, each in linked if isinstance(each.item, AuditRecord))
            self._summarise([(n, each.item) for n, _, _, each in linked],
                            head_before=batch_from - 1, head_after=seq)
            # A clean stop and a key enrolment are signed in their own transaction:
            # verify treats an uncovered stop as a removed checkpoint, and a rotation
            # must be vouched for by the key it replaces.
            is_signed_now = force_checkpoint or any(
                isinstance(item, AdminEvent) and item.kind in _SIGNED_AT_ONCE for item in items)
            self._checkpoint_if_due(seq, prev, batch_from=batch_from, force=is_signed_now)
        return results

    def _insert(self, linked: Sequence[Linked]) -> None:
        """Insert the linked events' rows and what the query indexes derive from them."""
        conn = self.db.conn
        events: list[tuple[object, ...]] = []
        memberships: list[tuple[int, str, str, str]] = []
        recipients: list[tuple[int, int, str, str | None]] = []
        attachments: list[tuple[int, int, str, str | None, str | None, int, str | None]] = []
        search: list[tuple[int, str]] = []
        for seq, prev, hashed, each in linked:
            event = {**each.event, "seq": seq, "prev_hash": prev, "hash": hashed}
            events.append(tuple(map(event.get, EVENT_COLUMNS)))  # absent: NULL
            rows = each.rows
            at = str(event["at"])
            memberships.extend((seq, unit, role, at) for unit, role in rows.memberships)
            recipients.extend((seq, i, *a) for i, a in enumerate(rows.recipients))
            attachments.extend((seq, i, *a) for i, a in enumerate(rows.attachments))
            if rows.search is not None:
                search.append((seq, rows.search))
        # an index with nothing to add is not asked (a completion adds to none of them)
        for sql, values in ((_INSERT_EVENT, events), (_INSERT_MEMBERSHIP, memberships),
                            (_INSERT_RECIPIENT, recipients), (_INSERT_ATTACHMENT, attachments)):
            if values:
                conn.executemany(sql, values)
        if search:
            self._index_text(search)

    def _summarise(self, appended: Sequence[tuple[int, Item]], *, head_before: int,
                   head_after: int) -> None:
        """Count the batch (each event's position and item) in the report's summary
        (audit/summary.py), in its transaction."""
        items = [item for _, item in appended]
        known = None if self._messages is None else ChainMap(self._appended, self._messages)
        summary.maintain(
            self.db.conn, head_before=head_before, head_after=head_after, known=known,
            records=[seq for seq, item in appended if isinstance(item, AuditRecord)
                     and summary.counts_before_completion(item)],
            completed=[i.record_id for i in items if isinstance(i, Completion)],
            held_targets=[i.target for i in items if isinstance(i, AdminEvent)
                          and i.kind in _HELD_DECIDED and i.target])

    def rebuild_summary(self) -> summary.Rebuilt:
        """Count the report's summary again from the records (``congvu audit summary
        rebuild``), a month a transaction.

        :raises AuditError: the store cannot be written, or a chain was imported meanwhile.
        """
        with mapped_errors(self.path, "rebuild the report summary", self.errors):
            return summary.rebuild(self.db.conn,
                                   lambda: self._immediate("rebuild the report summary"))

    def _index_text(self, search: list[tuple[int, str]]) -> None:
        """Index each event's folded text (FTS5) for ``--text``."""
        self.db.conn.executemany("INSERT INTO search (rowid, text) VALUES (?, ?)", search)

    def _unindex_text(self, through: int) -> None:
        self.db.conn.execute("DELETE FROM search WHERE rowid <= ?", (through,))

    def _is_message(self, record_id: int) -> bool:
        if record_id >= CHAIN_SPAN:
            return False  # an imported chain's record: that chain is read-only
        row = self.db.conn.execute(
            "SELECT kind FROM events WHERE seq = ?", (record_id,)
        ).fetchone()
        return row is not None and row[0] == "message"

    def head(self) -> tuple[int, str]:
        """The chain's head: the last event's ``seq`` and hash; ``(0, GENESIS)`` when the
        store has no event yet."""
        return self._head()

    def _head(self) -> tuple[int, str]:
        row = self.db.conn.execute(  # the live chain's (imported chains sit above it)
            f"SELECT seq, hash FROM events WHERE seq < {CHAIN_SPAN} ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    @contextlib.contextmanager
    def _immediate(self, doing: str) -> Iterator[None]:
        """One write transaction, retried while another process holds the lock."""
        conn = self.db.conn
        with mapped_errors(self.path, doing, self.errors):
            for attempt in range(_LOCK_RETRIES):
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == _LOCK_RETRIES - 1:
                        raise
                    time.sleep(0.01 * (attempt + 1))
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    # -- checkpoints -----------------------------------------------------------

    def _last_checkpoint(self) -> tuple[int, datetime | None, Schedule | None]:
        row = self.db.conn.execute(
            "SELECT seq, at, every_records, every_seconds FROM checkpoints "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, None, None
        schedule = None if row[2] is None else Schedule(int(row[2]), float(row[3]))
        return int(row[0]), datetime.fromisoformat(row[1]), schedule

    def _checkpoint_if_due(self, seq: int, head: str, *, batch_from: int,
                           force: bool = False) -> None:
        if self.signer is None:
            return
        last_seq, last_at, last_schedule = self._last_checkpoint()
        if seq <= last_seq:
            return
        now = datetime.now(UTC)
        if (
            force
            or seq - last_seq >= self.checkpoint_every_records
            or last_at is None
            or (now - last_at).total_seconds() >= self.checkpoint_every_seconds
            # verify holds the records since a checkpoint to the schedule it signed:
            # a writer with another schedule signs its own at its first commit.
            or last_schedule != self.schedule
        ):
            self._insert_checkpoint(self._sign(seq, head, now, batch_from=batch_from))

    def _sign(self, seq: int, head: str, now: datetime, *, batch_from: int) -> Checkpoint:
        assert self.signer is not None
        return self.signer.sign(seq, head, iso(now), schedule=self.schedule,
                                batch_from=batch_from, link=link_for(self.db.conn, seq))

    def _insert_checkpoint(self, cp: Checkpoint) -> None:
        self.db.conn.execute(
            "INSERT OR IGNORE INTO checkpoints (seq, hash, at, public_key, signature, "
            "every_records, every_seconds, batch_from, link_from, link, link_signature) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cp.seq, cp.hash, cp.at, cp.public_key, cp.signature, cp.every_records,
             cp.every_seconds, cp.batch_from, cp.link_from, cp.link, cp.link_signature),
        )

    def checkpoint_if_due(self) -> None:
        """Sign the chain head if the schedule says so (the writer calls this when idle)."""
        with self._immediate("write a checkpoint"):
            self._enrol_before_signing()
            seq, head = self._head()
            if seq:
                self._checkpoint_if_due(seq, head, batch_from=seq + 1)

    def checkpoint(self) -> Checkpoint:
        """Sign the current chain head now (on demand) and return the checkpoint.

        :raises AuditError: the store is empty, read-only or has no signing key.
        """
        if self.signer is None:
            raise AuditError(f"audit store {self.path}: opened without the checkpoint key")
        with self._immediate("write a checkpoint"):
            self._enrol_before_signing()
            seq, head = self._head()
            if not seq:
                raise AuditError(f"audit store {self.path}: no events to checkpoint yet")
            existing = self.latest_checkpoint()
            if existing is not None and existing.seq == seq:
                return existing
            cp = self._sign(seq, head, datetime.now(UTC), batch_from=seq + 1)
            self._insert_checkpoint(cp)
        return cp

    def proof(self, record_id: int) -> dict[str, Any]:
        """What proves event ``record_id`` to an outsider (audit/links.py): the row in
        full, its completion, the other rows up to a checkpoint as hashes, and that
        checkpoint. When no stored checkpoint's link spans the row, one is signed now,
        at the chain head, linked from the latest checkpoint before the row.

        :raises LookupError: no event ``record_id``.
        :raises AuditError: the store cannot be read or written, has no signing key, or
            a row of the span does not match its hash.
        """
        conn = self.db.conn
        with mapped_errors(self.path, "make a proof", self.errors):
            if conn.execute("SELECT 1 FROM events WHERE seq = ?", (record_id,)).fetchone() \
                    is None:
                raise LookupError(record_id)
            if record_id >= CHAIN_SPAN:
                raise AuditError(f"record {record_id} is of a log imported into this store: "
                                 "proofs are made of the live chain only (prove it from "
                                 "the former server's own log)")
            cp = covering(conn, record_id, CHECKPOINT_COLUMNS)
        if cp is None:
            # Only signing takes the write lock: the filter's writes wait for nothing else.
            with self._immediate("sign a checkpoint for a proof"):
                cp = covering(conn, record_id, CHECKPOINT_COLUMNS) or self._sign_for(record_id)
        with mapped_errors(self.path, "make a proof", self.errors):
            # the rows up to a checkpoint never change: read without the lock
            return proof_of(conn, record_id, cp)

    def _sign_for(self, record_id: int) -> Checkpoint:
        """A checkpoint at the head whose link spans ``record_id`` (kept unless the
        head has one already)."""
        if self.signer is None:
            raise AuditError(f"audit store {self.path}: opened without the checkpoint key")
        seq, head = self._head()
        link = link_for(self.db.conn, seq, before=record_id)
        if link is None:
            raise AuditError(f"audit store {self.path}: the rows before record "
                             f"{record_id} are not all there; no proof can be made")
        cp = self.signer.sign(seq, head, iso(datetime.now(UTC)), schedule=self.schedule,
                              batch_from=seq + 1, link=link)
        self._insert_checkpoint(cp)
        return cp

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest signed checkpoint in the store, if any."""
        with mapped_errors(self.path, "read checkpoints", self.errors):
            return self._latest()

    def _latest(self) -> Checkpoint | None:
        row = self.db.conn.execute(
            f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else Checkpoint(*row)

    # -- checkpoint keys -------------------------------------------------------

    def _enrolled(self) -> set[str]:
        """The public keys (hex) named by the store's ``audit-key-enrolled`` events."""
        keys = set()
        for (detail,) in self.db.conn.execute(
            "SELECT detail FROM events WHERE kind = 'admin' AND admin_kind = ? "
            f"AND seq < {CHAIN_SPAN}", (AdminKind.KEY_ENROLLED.value,),
        ):
            keys.add(str(json.loads(detail).get("key")))
        return keys

    def _is_new_writer(self) -> bool:
        assert self.signer is not None
        conn, key = self.db.conn, self.signer.public_key
        if conn.execute("SELECT NOT EXISTS (SELECT 1 FROM checkpoints)").fetchone()[0]:
            return False  # a new store: this key signs its first checkpoint
        signed = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM checkpoints WHERE public_key = ?)", (key,)
        ).fetchone()[0]
        return not signed and key not in self._enrolled()

    def _enrol_if_new(self) -> None:
        """Enrol this server's key in a store that other keys sign (a shared store).

        The enrolment is a chained event; verify counts the key once a checkpoint of
        a key it already trusts covers that event.
        """
        with mapped_errors(self.path, "enrol this server's checkpoint key", self.errors):
            if not self._is_new_writer():
                return
        with self._immediate("enrol this server's checkpoint key"):
            if self._is_new_writer():
                assert self.signer is not None
                self._append([enrolment_event(self.signer.public_key, None,
                                         "another server writing to this store", "system")])

    def _enrol_before_signing(self) -> None:
        """Inside a write transaction, before this key signs: enrol it when other keys
        sign the store and it has neither signed nor been enrolled. Servers that open
        one new shared store at once all find it unsigned; the first to write signs
        the first checkpoint, and each other one finds that checkpoint here, under the
        write lock, and enrols before it signs."""
        if self.signer is None or self._key_known:
            return
        conn, key = self.db.conn, self.signer.public_key
        if conn.execute("SELECT EXISTS (SELECT 1 FROM checkpoints WHERE public_key = ?)",
                        (key,)).fetchone()[0] or key in self._enrolled():
            self._key_known = True
        elif conn.execute("SELECT EXISTS (SELECT 1 FROM checkpoints)").fetchone()[0]:
            self._append([enrolment_event(key, None, "another server writing to this store",
                                          "system")])

    def rotate_key(self, new: CheckpointSigner, *, actor: str) -> tuple[Checkpoint, Checkpoint]:
        """Enrol ``new`` and hand signing over to it, in one transaction.

        The enrolment event is signed at once by the current key (the old key vouches
        for the new one); a ``key-rotation`` event after it is signed by the new key,
        which vouches for the event naming the old key as replaced. Returns the two
        checkpoints.

        :raises AuditError: the store cannot be written, or has no signing key.
        """
        old = self.signer
        if old is None:
            raise AuditError(f"audit store {self.path}: opened without the checkpoint key")
        with self._immediate("rotate the checkpoint key"):
            self._append([enrolment_event(new.public_key, old.public_key, "rotation", actor)])
            first = self._latest()
            self.signer = new
            try:
                self._append([AdminEvent(
                    kind=AdminKind.KEY_ROTATION, actor=actor, target=fingerprint(new.public_key),
                    details={"what": "audit checkpoint key", "key": new.public_key,
                             "previous": old.public_key},
                )], force_checkpoint=True)
            except BaseException:
                self.signer = old
                raise
            second = self._latest()
        assert first is not None and second is not None
        return first, second

    def accepted_keys(self, trust: KeyTrust) -> dict[str, str]:
        """The keys whose signatures count in this store (fingerprint -> why): the
        trusted roots and the keys its enrolments add (audit/keys.py)."""
        with mapped_errors(self.path, "read the checkpoint keys", self.errors):
            return accept(trust, list(checkpoints_of(self.db.conn).values()),
                          enrolments_of(self.db.conn)).reasons

    # -- retention -------------------------------------------------------------

    def prune(self, before: datetime, *, actor: str = "system") -> int:
        """Remove the events older than ``before`` (UTC); return how many were removed.

        Removes the longest prefix of the chain whose events all lie before
        ``before``, signs a checkpoint at its last event (the boundary the rest of the
        chain is verified from), and appends a ``prune`` event saying so.

        :raises AuditError: the store cannot be written, or has no signing key.
        """
        if self.signer is None:
            raise AuditError(f"audit store {self.path}: opened without the checkpoint key")
        cutoff = iso(before)
        with self._immediate("prune old events"):
            conn = self.db.conn
            # the live chain's events only: imported chains are read-only
            first = conn.execute(
                f"SELECT MIN(seq) FROM events WHERE seq < {CHAIN_SPAN}").fetchone()[0]
            newer = conn.execute(
                f"SELECT MIN(seq) FROM events WHERE at >= ? AND seq < {CHAIN_SPAN}", (cutoff,)
            ).fetchone()[0]
            head_seq, head_hash = self._head()
            boundary = (newer - 1) if newer is not None else head_seq
            if first is None or boundary < first:
                return 0
            through_hash = conn.execute(
                "SELECT hash FROM events WHERE seq = ?", (boundary,)
            ).fetchone()[0]
            self._insert_checkpoint(
                self._sign(boundary, through_hash, datetime.now(UTC), batch_from=boundary + 1)
            )
            held_decided = summary.decides_held(conn, boundary)
            removed = conn.execute(
                "DELETE FROM events WHERE seq <= ?", (boundary,)
            ).rowcount
            for table in ("memberships", "recipients", "attachments"):
                conn.execute(f"DELETE FROM {table} WHERE record_id <= ?", (boundary,))
            self._unindex_text(boundary)
            conn.execute("DELETE FROM checkpoints WHERE seq < ?", (boundary,))
            summary.after_prune(conn, head=head_seq, before=before, held_decided=held_decided)
            self._append([AdminEvent(
                kind=AdminKind.PRUNE, actor=actor, target=f"events {first}-{boundary}",
                details={
                    "before": cutoff, "through_seq": boundary, "through_hash": through_hash,
                    "removed": removed,
                },
            )], head=(head_seq, head_hash))
        return int(removed)

    # -- verification ----------------------------------------------------------

    def verify(self, *, exported: Checkpoint | None = None,
               trust: KeyTrust | None = None) -> VerifyReport:
        """Walk the live chain and its checkpoints (and ``exported``, if given), then each
        imported chain under its own keys (audit/chains.py): intact when every chain is.

        :param trust: the keys whose checkpoints count (default: those the store was
            opened with, see audit/keys.py); with no pins, an imported chain counts the
            keys its import recorded.
        :raises AuditError: the store cannot be read, or no trusted keys were given.
        """
        trust = trust or self.trust
        if trust is None:
            raise AuditError(f"audit store {self.path}: verify needs the checkpoint keys "
                             "to trust (the configuration's, or --key)")
        with mapped_errors(self.path, "verify the chain", self.errors):
            live = verify_chain(self.db.conn, exported=exported, trust=trust,
                                indexes=self.index_checks)
            return summary.verified(self.db.conn,
                                    live.with_chains(verify_chains(self.db.conn, trust)))

    def verify_one(self, chain: str | None, *, trust: KeyTrust) -> VerifyReport:
        """Walk one chain in one snapshot: the live chain (None) with its checkpoints
        and the query indexes, or the imported chain ``chain`` (audit/chains.py).

        :raises AuditError: the store cannot be read.
        """
        conn = self.db.conn
        with mapped_errors(self.path, "verify the chain", self.errors):
            conn.execute("BEGIN")  # a reader's snapshot on either backend
            try:
                if chain is None:
                    return verify_chain(conn, trust=trust, indexes=self.index_checks)
                found = next((c for c in imported_chains(conn) if c.id == chain), None)
                if found is None:
                    return VerifyReport(False, 0, None, None, 0,
                                        f"no chain-imported event names chain {chain}")
                return verify_imported(conn, found, trust)
            finally:
                conn.rollback()

    def imported_chains(self) -> list[ImportedChain]:
        """The chains imported into this store beside the live one, oldest first."""
        with mapped_errors(self.path, "read the imported chains", self.errors):
            return imported_chains(self.db.conn)

    # -- reading ---------------------------------------------------------------

    def query(self, filters: Filters) -> Page[RecordSummary]:
        """One page of matching record summaries, newest first.

        :raises QueryError: bad filters. :raises AuditError: the store cannot be read.
        """
        with mapped_errors(self.path, "query", self.errors):
            return queries.query(self.db.conn, filters, self.dialect)

    def count(self, filters: Filters) -> int:
        """How many records match ``filters``."""
        with mapped_errors(self.path, "count", self.errors):
            return queries.count(self.db.conn, filters, self.dialect)

    def records(self, filters: Filters) -> Iterator[dict[str, Any]]:
        """Every matching record in full, oldest first (for export)."""
        with mapped_errors(self.path, "export", self.errors):
            yield from queries.iter_records(self.db.conn, filters, self.dialect)

    def show(self, record_id: int) -> dict[str, Any]:
        """One event in full. :raises AuditError: no such record."""
        with mapped_errors(self.path, "read a record", self.errors):
            return queries.show(self.db.conn, record_id)

    def trace(self, sha256: str) -> list[TraceEntry]:
        """Every sending of the document with this SHA-256, oldest first."""
        with mapped_errors(self.path, "trace a document", self.errors):
            return queries.trace(self.db.conn, sha256)

    def archived(self, *, since: datetime | None = None,
                 record_id: int | None = None) -> Iterator[queries.ArchivedRecord]:
        """Each message record since ``since`` with the archived message it names, or
        record ``record_id`` only (none: no such message record)."""
        with mapped_errors(self.path, "read the archived messages' records", self.errors):
            yield from queries.archived(self.db.conn, since=since, record_id=record_id)

    def admin_events(self, *, since: datetime | None = None, until: datetime | None = None,
                     kind: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Administrative events, newest first."""
        with mapped_errors(self.path, "read administrative events", self.errors):
            return queries.admin_events(self.db.conn, since=since, until=until, kind=kind,
                                        limit=limit)

    def report(self, period: Period, units: Sequence[str] = (), *,
               listed: Sequence[str] = (), roster: Sequence[RosterMailbox] | None = None,
               regular_min: int = REGULAR_MIN, tz: tzinfo = UTC,
               parents: Mapping[str, str | None] | None = None,
               rolled: Mapping[str, str] | None = None) -> Report:
        """The periodic report (per unit, per mailbox, total) for ``period``: over
        ``units`` (none: every unit), showing those and ``listed`` even without mail;
        with ``parents`` (the directory's tree), in tree order with subtotals; with
        ``roster``, the use of its mailboxes too (days and months in ``tz``); with
        ``rolled`` (predecessor -> successor), predecessors counted in successors."""
        with mapped_errors(self.path, "build the report", self.errors):
            return build_report(self.db.conn, period, units, listed=listed, roster=roster,
                                regular_min=regular_min, tz=tz, parents=parents,
                                rolled=rolled)

