"""Several chains in one store: the live chain and, read-only, each log imported into it.

When mail systems merge (three former provinces' servers writing one shared store),
each former server's SQLite log is copied into the shared store as a chain of its own,
named by an id the administrator gives (the former server or domain: ``daknong``;
audit/importlog.py copies it). Its rows keep their content, their hashes and their
positions as their own log numbered them: the n-th imported chain's row at position p
is the store's event ``n * CHAIN_SPAN + p`` (``seq``, and a completion's
``record_id``), with ``chain`` naming the chain; the live chain keeps the ids below
``CHAIN_SPAN`` and ``chain`` NULL. Neither ``seq`` nor ``chain`` is hashed, so a
live row's hash is what it always was and an imported row's is what its log gave it.
Its checkpoints are kept as they were signed, in ``imported_checkpoints``.

Every import appends a ``chain-imported`` admin event to the live chain, signed at
once, naming the chain, where its rows sit, its head and the keys its checkpoints were
verified with. That event, not the ``chains`` table, is what verify trusts: it walks
each chain the live chain names (:func:`verify_imported`), holds it to the recorded
head (nothing removed from or added to its end since), and, with no key pinned, counts
the keys the event names (with a note); with pins, only pinned keys, as for the live
chain. Rows in no named chain's span are reported too.

Queries, show, trace, export and the report read every chain (a record names its
chain); proofs, retention and completions are the live chain's.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, replace

from audit.errors import AuditError
from audit.keys import KeyTrust
from audit.records import AdminKind
from audit.schema import CHAIN_SPAN
from audit.verify import ChainScope, VerifyReport, verify_chain

_CHAIN_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}"
                       r"[a-z0-9])?)*$")
_MAX_ID = 64


class ChainError(AuditError):
    """A log cannot be imported as asked: a bad or taken chain id, or a target whose live
    chain is another log's. The administrator's to correct (exit 2)."""


def check_chain_id(text: str) -> str:
    """A chain id as given: a former server's or domain's name, lower-case letters,
    digits, hyphens and dots (``daknong``, ``mail.binhthuan.gov.vn``).

    :raises ChainError: anything else, saying what is allowed.
    """
    if len(text) > _MAX_ID or not _CHAIN_ID.match(text):
        raise ChainError(f"{text!r} is not a chain id: give the former server's or domain's "
                         f"name, at most {_MAX_ID} characters of a-z, 0-9, '-' and '.' "
                         "(e.g. daknong or mail.daknong.gov.vn)")
    return text


@dataclass(frozen=True, slots=True)
class ImportedChain:
    """One imported chain as its ``chain-imported`` event recorded it."""

    id: str
    #: the store id its position 0 maps to (its rows are ``base + position``)
    base: int
    source: str
    events: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str
    #: the fingerprints of the keys its checkpoints were verified with when imported
    keys: tuple[str, ...]
    #: the live chain's event that recorded the import
    event: int

    @property
    def scope(self) -> ChainScope:
        """Where its rows sit."""
        return ChainScope(self.id, self.base)

    def details(self) -> dict[str, str | int | float | bool | None]:
        """The import event's details (the keys' fingerprints separated by spaces: an
        admin event's details are scalars)."""
        return {"chain": self.id, "base": self.base, "source": self.source,
                "events": self.events, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "head_hash": self.head_hash,
                "keys": " ".join(self.keys)}


def imported_chains(conn: sqlite3.Connection) -> list[ImportedChain]:
    """The chains the live chain's ``chain-imported`` events name, oldest first.

    :raises AuditError: an event whose details are not an import's.
    """
    chains = []
    for seq, detail in conn.execute(
            "SELECT seq, detail FROM events WHERE kind = 'admin' AND admin_kind = ? "
            f"AND seq < {CHAIN_SPAN} ORDER BY seq", (AdminKind.CHAIN_IMPORTED.value,)):
        try:
            data = json.loads(detail)
            chains.append(ImportedChain(
                id=str(data["chain"]), base=int(data["base"]), source=str(data["source"]),
                events=int(data["events"]),
                first_seq=None if data["first_seq"] is None else int(data["first_seq"]),
                last_seq=None if data["last_seq"] is None else int(data["last_seq"]),
                head_hash=str(data["head_hash"]),
                keys=tuple(str(data["keys"]).split()), event=int(seq)))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError(f"the chain import at event {seq} does not say what it "
                             f"imported ({exc})") from exc
    return chains


def next_base(conn: sqlite3.Connection) -> int:
    """Where the next imported chain's rows go: the span after the last one."""
    found = conn.execute("SELECT max(base) FROM chains").fetchone()[0]
    last = max([int(found or 0), *(c.base for c in imported_chains(conn))])
    return last + CHAIN_SPAN


def _chain_trust(chain: ImportedChain, trust: KeyTrust) -> KeyTrust:
    """Pins, when there are pins; else the keys the import recorded."""
    if trust.is_pinned:
        return trust
    return KeyTrust({fp: f"recorded when chain {chain.id} was imported (event {chain.event})"
                     for fp in chain.keys}, is_pinned=False)


def verify_imported(conn: sqlite3.Connection, chain: ImportedChain, trust: KeyTrust
                    ) -> VerifyReport:
    """Walk one imported chain under its own keys (:func:`_chain_trust`) and hold it to
    the head its import recorded."""
    report = verify_chain(conn, trust=_chain_trust(chain, trust), indexes=(),
                          scope=chain.scope)
    if not report.is_intact:
        return report
    relabelled = conn.execute(
        f"SELECT min(seq) FROM events WHERE {chain.scope.where()} "
        "AND (chain IS NULL OR chain <> ?)", (chain.id,)).fetchone()[0]
    if relabelled is not None:
        return replace(report, is_intact=False, seq=chain.scope.position(int(relabelled)),
                       problem=f"record {chain.scope.position(int(relabelled))} no longer "
                       f"names chain {chain.id} (its chain column was changed)")
    head = None if report.last_seq is None else conn.execute(
        "SELECT hash FROM events WHERE seq = ?", (chain.base + report.last_seq,)).fetchone()
    if (report.events, report.last_seq) != (chain.events, chain.last_seq) or (
            head is not None and head[0] != chain.head_hash):
        return replace(report, is_intact=False, seq=report.last_seq,
                       problem=f"it holds {report.events} events up to record "
                       f"{report.last_seq}, but its import (event {chain.event}) recorded "
                       f"{chain.events} up to record {chain.last_seq} with head "
                       f"{chain.head_hash}: rows were removed from or added to its end")
    return report


def verify_chains(conn: sqlite3.Connection, trust: KeyTrust
                  ) -> list[tuple[str, VerifyReport]]:
    """Each imported chain's report, and one for rows that lie in no imported chain's
    span (a chain whose import event was removed)."""
    chains = imported_chains(conn)
    reports = [(chain.id, verify_imported(conn, chain, trust)) for chain in chains]
    outside = " AND ".join(f"NOT ({chain.scope.where()})" for chain in chains)
    stray = conn.execute(
        f"SELECT min(seq), chain FROM events WHERE seq >= {CHAIN_SPAN}"
        + (f" AND {outside}" if outside else "") + " GROUP BY chain ORDER BY 1 LIMIT 1"
    ).fetchone()
    if stray is not None:
        name = stray[1] or "(unnamed)"
        reports.append((name, VerifyReport(
            False, 0, None, None, 0,
            f"event {stray[0]} lies in an imported chain's span, but no chain-imported "
            "event of the live chain names that chain: its import event was removed, or "
            "the rows were added by hand", int(stray[0]))))
    return reports
