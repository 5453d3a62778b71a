"""What retention removed: one ledger per prune, named in the audit chain.

A ledger, ``<when>-<random>.json`` (a file under ``<root>/pruned/`` on disk, a row of
``archive.ledgers`` in PostgreSQL), lists every message one ``congvu archive prune``
removed (its SHA-256, the records naming it, when it expired and by which class). The
ledger is written and fsync'd before anything is removed, and the prune's chained
audit event carries the ledger's SHA-256, so a later ``verify`` can say of a missing
message that retention removed it, when and by which event, and the chain proves the
ledger says so.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from archive.retention import Expired

FORMAT = "congvu-archive-pruned/1"


@dataclass(frozen=True, slots=True)
class Pruned:
    """One message a ledger says retention removed."""

    sha256: str
    record_ids: tuple[int, ...]
    at: str
    ledger: str


def encode_ledger(expired: Sequence[Expired], at: datetime) -> tuple[str, bytes]:
    """The ledger of ``expired``: its name and its bytes (the store keeps them)."""
    stamp = at.astimezone(UTC)
    data = json.dumps({
        "format": FORMAT,
        "at": stamp.isoformat(timespec="seconds"),
        "messages": [{"sha256": e.sha256, "records": list(e.record_ids),
                      "kept_until": e.kept_until.isoformat(timespec="seconds"),
                      "retention": e.retention} for e in expired],
    }, indent=1, ensure_ascii=False).encode()
    return f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}.json", data


def read_ledgers(ledgers: Iterable[tuple[str, bytes | str]],
                 chained: dict[str, str]) -> tuple[dict[str, Pruned], list[str]]:
    """Every message the ``ledgers`` (name, bytes or why they cannot be read: the
    store's :meth:`~archive.store.Archive.ledgers`) say retention removed, by SHA-256,
    read only from ledgers whose SHA-256 an ``archive-prune`` event carries
    (``chained``: ledger name -> SHA-256); and a problem line for each other ledger
    (changed, or named by no event: its word is not taken for a missing message).
    """
    found: dict[str, Pruned] = {}
    problems: list[str] = []
    for name, raw in ledgers:
        if isinstance(raw, str):
            problems.append(f"ledger {name}: unreadable: {raw}")
            continue
        try:
            digest = hashlib.sha256(raw).hexdigest()
            if chained.get(name) != digest:
                why = ("named by no archive-prune event" if name not in chained
                       else f"changed: it hashes to {digest}, its event says "
                       f"{chained[name]}")
                problems.append(f"ledger {name}: {why}")
                continue
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            for entry in data["messages"]:
                found[entry["sha256"]] = Pruned(entry["sha256"], tuple(entry["records"]),
                                                data["at"], name)
        except (ValueError, KeyError, TypeError) as exc:
            problems.append(f"ledger {name}: unreadable: {exc}")
    return found, problems
