"""What retention removed: one ledger file per prune, named in the audit chain.

``<root>/pruned/<when>-<random>.json`` lists every message one ``congvu archive prune``
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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archive.errors import ArchiveError
from archive.retention import Expired
from mailbase import private_dir, write_private_durably

FORMAT = "congvu-archive-pruned/1"


@dataclass(frozen=True, slots=True)
class Pruned:
    """One message a ledger says retention removed."""

    sha256: str
    record_ids: tuple[int, ...]
    at: str
    ledger: str


def write_ledger(root: Path, expired: Sequence[Expired], at: datetime) -> tuple[Path, str]:
    """Write the ledger of ``expired`` durably; return its path and SHA-256.

    :raises ArchiveError: it cannot be written.
    """
    stamp = at.astimezone(UTC)
    data = json.dumps({
        "format": FORMAT,
        "at": stamp.isoformat(timespec="seconds"),
        "messages": [{"sha256": e.sha256, "records": list(e.record_ids),
                      "kept_until": e.kept_until.isoformat(timespec="seconds"),
                      "retention": e.retention} for e in expired],
    }, indent=1, ensure_ascii=False).encode()
    directory = root / "pruned"
    path = directory / f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}.json"
    try:
        private_dir(directory)
        write_private_durably(path, data)
    except OSError as exc:
        raise ArchiveError(f"archive {root}: could not write the ledger of what retention "
                           f"removes ({path}): {exc.strerror or exc}") from exc
    return path, hashlib.sha256(data).hexdigest()


def read_ledgers(root: Path, chained: dict[str, str]) -> tuple[dict[str, Pruned], list[str]]:
    """Every message the ledgers under ``root`` say retention removed, by SHA-256, read
    only from ledgers whose SHA-256 an ``archive-prune`` event carries (``chained``:
    ledger name -> SHA-256); and a problem line for each other ledger (changed, or
    named by no event: its word is not taken for a missing message).
    """
    found: dict[str, Pruned] = {}
    problems: list[str] = []
    directory = root / "pruned"
    if not directory.is_dir():
        return found, problems
    for path in sorted(directory.glob("*.json")):
        try:
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            if chained.get(path.name) != digest:
                why = ("named by no archive-prune event" if path.name not in chained
                       else f"changed: it hashes to {digest}, its event says "
                       f"{chained[path.name]}")
                problems.append(f"ledger {path.name}: {why}")
                continue
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise ValueError(f"format is not {FORMAT}")
            for entry in data["messages"]:
                found[entry["sha256"]] = Pruned(entry["sha256"], tuple(entry["records"]),
                                                data["at"], path.name)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"ledger {path.name}: unreadable: {exc}")
    return found, problems
