"""Copying a SQLite audit log into a shared store: as the start of its live chain, or
as an imported chain beside it (audit/chains.py).

:func:`copy_log` verifies the log first (nothing is copied from a log that is not
intact), copies it in one transaction under the store's write lock (an interrupted
copy leaves nothing behind, so it is simply run again), and verifies what it copied.
A second run finds the log already there and changes nothing: the live chain already
holds the log's head (hashes chain, so the head's hash stands for every row before
it), or an imported chain has the same head.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from audit.chain import Checkpoint
from audit.chains import ChainError, ImportedChain, check_chain_id, next_base
from audit.config import AuditConfig
from audit.errors import AuditError
from audit.keys import KeyTrust
from audit.records import AdminEvent, AdminKind
from audit.rows import iso
from audit.schema import CHAIN_SPAN, EVENT_COLUMNS, IMPORTED_CHECKPOINT_COLUMNS
from audit.store import AuditLog
from audit.verify import CHECKPOINT_COLUMNS, VerifyReport

_CHUNK = 5000
_RECORD_ID = list(EVENT_COLUMNS).index("record_id")
_INDEXES: list[tuple[str, str]] = [
    ("memberships", "record_id, unit_id, role, at"),
    ("recipients", "record_id, position, address, unit_id"),
    ("attachments", "record_id, position, sha256, filename, filename_folded, size, document"),
]


class Copied(StrEnum):
    """What :func:`copy_log` did."""

    LIVE = "copied as the live chain"
    IMPORTED = "imported as a chain"
    ALREADY_LIVE = "already the live chain"
    ALREADY_IMPORTED = "already imported"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """The outcome of :func:`copy_log`: what was done, and the checks before and after."""

    copied: Copied
    source: str
    events: int
    #: the imported chain's id (None: the live chain, or nothing copied)
    chain: str | None
    before: VerifyReport
    after: VerifyReport | None

    @property
    def has_changed(self) -> bool:
        """Whether the target was written."""
        return self.copied in (Copied.LIVE, Copied.IMPORTED)

    def describe(self) -> str:
        """What happened, for an administrator."""
        where = f"chain {self.chain}" if self.chain else "the live chain"
        text = {
            Copied.LIVE: f"{self.source}: {self.events} events copied as the start of the "
                         "live chain",
            Copied.IMPORTED: f"{self.source}: {self.events} events imported as chain "
                             f"{self.chain}",
            Copied.ALREADY_LIVE: f"{self.source}: already copied ({self.events} events are "
                                 "the start of the live chain); nothing changed",
            Copied.ALREADY_IMPORTED: f"{self.source}: already imported as chain {self.chain} "
                                     f"({self.events} events); nothing changed",
            Copied.EMPTY: f"{self.source}: the log holds no event; nothing to copy",
        }[self.copied]
        lines = [text, f"before: {self.before.describe()}"]
        if self.after is not None:
            lines.append(f"after ({where}): {self.after.describe()}")
        return "\n".join(lines)


def copy_log(source: AuditLog, target: AuditConfig, *, trust: KeyTrust,
             chain_id: str | None = None, actor: str = "system") -> CopyOutcome:
    """Copy the log ``source`` into the store ``target`` names: into an empty live chain
    without ``chain_id``, else as the imported chain ``chain_id``. ``trust``: the keys
    the source's checkpoints are verified with (its server's pins, else its own key); an
    imported chain records them, and is verified with them after. The target is opened
    for writing (with ``target.keys_dir``'s key, enrolled in a store other keys sign)
    only when the log is not there already: a second run writes nothing.

    :raises ChainError: a bad or taken chain id, or (without ``chain_id``) a target
        whose live chain holds another log.
    :raises AuditError: the source is not intact, a store failed, or the copy does not
        verify (then nothing is kept).
    """
    if chain_id is not None:
        check_chain_id(chain_id)
    before = source.verify(trust=trust)
    if not before.is_intact:
        raise AuditError(f"audit store {source.path}: the log is not intact, so nothing "
                         f"was copied: {before.problem}")
    where = str(source.path)
    head_seq, head_hash = source.head()
    if head_seq == 0:
        return CopyOutcome(Copied.EMPTY, where, 0, None, before, None)
    if head_seq >= CHAIN_SPAN:
        raise AuditError(f"audit store {source.path}: holds imported chains of its own; "
                         "copy the logs it was made from instead")
    keys = tuple(sorted(source.accepted_keys(trust)))
    found = _found_readonly(target, head_seq, head_hash)
    if found is not None:
        copied, chain = found
        with AuditLog.open_readonly(target) as shared:
            after = shared.verify_one(chain, trust=trust)
    else:
        with AuditLog.open(target) as shared:
            copied, chain = _write(source, shared, chain_id, keys, actor)
            after = shared.verify_one(chain, trust=trust)
    if not after.is_intact:
        raise AuditError(f"audit store {shared.path}: the copy of {where} does not "
                         f"verify: {after.problem}")
    return CopyOutcome(copied, where, before.events, chain, before, after)


def _found_readonly(target: AuditConfig, head_seq: int, head_hash: str
                    ) -> tuple[Copied, str | None] | None:
    """Where the log is in the store already, read without writing; None also when the
    store is not one of this version yet (opening it for writing migrates it)."""
    try:
        shared = AuditLog.open_readonly(target)
    except AuditError:
        return None
    with shared:
        return _already(shared, head_seq, head_hash)


def _write(source: AuditLog, target: AuditLog, chain_id: str | None, keys: tuple[str, ...],
           actor: str) -> tuple[Copied, str | None]:
    """The copy, in one transaction under the store's write lock: the other servers'
    writes wait for it, and an interrupted copy leaves nothing behind."""
    where = str(source.path)
    head_seq, head_hash = source.head()
    with target._immediate("copy a log into it"):
        found = _already(target, head_seq, head_hash)  # another run's, since it looked
        if found is not None:
            return found
        if chain_id is None:
            _check_empty(target, where)
            target._enrol_before_signing()
            _copy(source, target, base=0, chain=None)
            return Copied.LIVE, None
        return Copied.IMPORTED, _import(source, target, chain_id, keys, actor, head_seq,
                                        head_hash)


def _already(target: AuditLog, head_seq: int, head_hash: str
             ) -> tuple[Copied, str | None] | None:
    conn = target.db.conn
    row = conn.execute("SELECT hash FROM events WHERE seq = ?", (head_seq,)).fetchone()
    if row is not None and row[0] == head_hash:
        return Copied.ALREADY_LIVE, None
    for chain in target.imported_chains():
        if chain.last_seq == head_seq and chain.head_hash == head_hash:
            return Copied.ALREADY_IMPORTED, chain.id
    return None


def _check_empty(target: AuditLog, where: str) -> None:
    conn = target.db.conn
    seq, _ = target.head()
    signed = conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
    if seq or signed:
        raise ChainError(f"the target's live chain already holds {seq} events of another "
                         f"log: give a chain id (--chain-id) to import {where} beside it")


def _import(source: AuditLog, target: AuditLog, chain_id: str, keys: tuple[str, ...],
            actor: str, head_seq: int, head_hash: str) -> str:
    conn = target.db.conn
    for chain in target.imported_chains():
        if chain.id == chain_id:
            raise ChainError(_taken(source, chain))
    base = next_base(conn)
    first = source.db.conn.execute("SELECT min(seq) FROM events").fetchone()[0]
    events = source.db.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    imported = ImportedChain(chain_id, base, str(source.path), int(events), int(first),
                             head_seq, head_hash, keys, 0)
    _copy(source, target, base=base, chain=chain_id)
    conn.execute(
        "INSERT INTO chains (id, base, source, imported_at, events, first_seq, last_seq, "
        "head_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (chain_id, base, imported.source, iso(datetime.now(UTC)), imported.events,
         imported.first_seq, imported.last_seq, head_hash))
    target._enrol_before_signing()
    target._append([AdminEvent(kind=AdminKind.CHAIN_IMPORTED, actor=actor, target=chain_id,
                               details=imported.details())])
    return chain_id


def _taken(source: AuditLog, chain: ImportedChain) -> str:
    """Why ``chain``'s id cannot take the log ``source`` (which is not that chain)."""
    row = None if chain.last_seq is None else source.db.conn.execute(
        "SELECT hash FROM events WHERE seq = ?", (chain.last_seq,)).fetchone()
    if row is not None and row[0] == chain.head_hash:
        return (f"chain {chain.id} holds this log up to record {chain.last_seq}, and the log "
                "has grown since; an imported chain is read-only: import the log under a "
                "new chain id")
    return (f"chain id {chain.id} is taken by another log (imported from {chain.source} "
            f"at event {chain.event}): choose another id")


def _chunks(cursor: Any) -> Iterator[Sequence[Any]]:
    while True:
        rows = cursor.fetchmany(_CHUNK)
        if not rows:
            return
        yield rows


def _copy(source: AuditLog, target: AuditLog, *, base: int, chain: str | None) -> None:
    """The log's rows, their index entries and its checkpoints, at ``base`` (0: as the
    live chain's) with ``chain`` naming them."""
    src, conn = source.db.conn, target.db.conn
    columns = [*EVENT_COLUMNS, "chain"]
    marks = ", ".join("?" * len(columns))
    for rows in _chunks(src.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events "
                                    "ORDER BY seq")):
        moved = []
        for row in rows:
            values = list(row)
            values[0] += base
            if values[_RECORD_ID] is not None:
                values[_RECORD_ID] += base
            moved.append((*values, chain))
        conn.executemany(f"INSERT INTO events ({', '.join(columns)}) VALUES ({marks})", moved)
    for table, names in _INDEXES:
        marks = ", ".join("?" * (names.count(",") + 1))
        for rows in _chunks(src.execute(f"SELECT {names} FROM {table} ORDER BY record_id")):
            conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})",
                             [(row[0] + base, *row[1:]) for row in rows])
    for rows in _chunks(src.execute("SELECT rowid, text FROM search ORDER BY rowid")):
        target._index_text([(int(seq) + base, str(text)) for seq, text in rows])
    checkpoints = [Checkpoint(*row) for row in src.execute(
        f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY seq")]
    if chain is None:
        for cp in checkpoints:
            target._insert_checkpoint(cp)
        return
    names = ", ".join(IMPORTED_CHECKPOINT_COLUMNS)
    conn.executemany(
        f"INSERT INTO imported_checkpoints ({names}) VALUES "
        f"({', '.join('?' * len(IMPORTED_CHECKPOINT_COLUMNS))})",
        [(chain, cp.seq, cp.hash, cp.at, cp.public_key, cp.signature, cp.every_records,
          cp.every_seconds, cp.batch_from, cp.link_from, cp.link, cp.link_signature)
         for cp in checkpoints])
