"""The audit log's side of ``congvu archive``: which record names which archived message,
whose mail it is, and the chained event of a prune.

archive/ imports no other package of ours; the root composes them here, reading the
configured audit store through a read-only connection (a prune's event through a
writable one) and the unit tree from the directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import directory
from archive import ArchivedMessage, Hold
from audit import AdminEvent, AdminKind, AuditLog, Filters, QueryError
from congvu.context import current
from mailbase import zone


class AuditRecords:
    """:class:`archive.Records` over the stores ``--config`` names."""

    def __init__(self) -> None:
        self._parents: dict[Path | None, dict[str, str | None]] = {}

    def archived_of(self, config_path: Path | None, record_id: int) -> str | None:
        """The SHA-256 record ``record_id`` names, or None.

        :raises LookupError: no message record ``record_id``.
        :raises AuditError: the store cannot be read.
        """
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            found = list(log.archived(record_id=record_id))
        if not found:
            raise LookupError(record_id)
        return found[0].sha256

    def archived_since(self, config_path: Path | None,
                       since: datetime | None) -> Iterator[ArchivedMessage]:
        """Each record naming an archived message, received since ``since``."""
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            for found in log.archived(since=since):
                if found.sha256 is not None:
                    yield ArchivedMessage(found.record_id, found.sha256, found.received_at,
                                          found.direction, found.units, found.addresses)

    def time_zone(self, config_path: Path | None) -> ZoneInfo:
        """The audit's zone: command-line dates without an offset are in it."""
        return zone(current().settings(config_path).audit.time_zone)

    def unit_chain(self, config_path: Path | None, unit: str) -> Sequence[str]:
        """``unit`` and the units above it in the directory (a unit the directory no
        longer has stands alone)."""
        if config_path not in self._parents:
            where = current().settings(config_path).directory
            parents: dict[str, str | None] = {}
            if where.is_present():
                store = directory.Directory.open(where, read_only=True)
                try:
                    parents = {u.id: u.parent for u in store.units()}
                finally:
                    store.close()
            self._parents[config_path] = parents
        parents = self._parents[config_path]
        chain = [unit]
        while (parent := parents.get(chain[-1])) is not None and parent not in chain:
            chain.append(parent)
        return chain

    def record_prune(self, config_path: Path | None, *, actor: str, removed: int,
                     ledger: str, ledger_sha256: str) -> int:
        """Append the chained ``archive-prune`` event (the checkpoint key signs it)."""
        with AuditLog.open(current().settings(config_path).audit) as log:
            return log.admin(AdminEvent(
                kind=AdminKind.ARCHIVE_PRUNE, actor=actor, target=f"ledger {ledger}",
                details={"removed": removed, "ledger": ledger,
                         "ledger_sha256": ledger_sha256}))

    def record_key_rotation(self, config_path: Path | None, *, actor: str, retired: str,
                            key: str) -> int:
        """Append the chained ``key-rotation`` event of the archive's encryption key."""
        with AuditLog.open(current().settings(config_path).audit) as log:
            return log.admin(AdminEvent(
                kind=AdminKind.KEY_ROTATION, actor=actor, target="archive",
                details={"retired": retired, "key": key}))

    def prune_ledgers(self, config_path: Path | None) -> dict[str, str]:
        """Ledger name -> SHA-256, from every chained ``archive-prune`` event."""
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            events = log.admin_events(kind=AdminKind.ARCHIVE_PRUNE.value, limit=-1)
        return {str(e["details"]["ledger"]): str(e["details"]["ledger_sha256"])
                for e in events}

    def matching(self, config_path: Path | None, query: str) -> set[int]:
        """The records the audit log's search finds for ``query`` (every word, folded).

        :raises ValueError: ``query`` has no words to search for.
        """
        try:
            filters = Filters(text=query)
            filters.check()
        except QueryError as exc:
            raise ValueError(str(exc)) from exc
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            return {int(record["id"]) for record in log.records(filters)}

    def prune_events(self, config_path: Path | None) -> dict[str, int]:
        """Ledger name -> the id of the chained ``archive-prune`` event naming it."""
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            events = log.admin_events(kind=AdminKind.ARCHIVE_PRUNE.value, limit=-1)
        return {str(e["details"]["ledger"]): int(e["id"]) for e in events}

    def holds(self, config_path: Path | None) -> list[Hold]:
        """The holds placed and not released, from the chain's admin events."""
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            placed = log.admin_events(kind=AdminKind.ARCHIVE_HOLD.value, limit=-1)
            released = {event["target"] for event in log.admin_events(
                kind=AdminKind.ARCHIVE_HOLD_RELEASE.value, limit=-1)}
        return [_hold(event) for event in reversed(placed)
                if str(event["id"]) not in released]

    def place_hold(self, config_path: Path | None, hold: Hold, *, actor: str) -> int:
        """Append the chained ``archive-hold`` event; its id is the hold's."""
        details: dict[str, str | int | float | bool | None] = {
            "reason": hold.reason, "requested_by": hold.requested_by, "unit": hold.unit,
            "mailbox": hold.mailbox,
            "since": hold.since.isoformat() if hold.since else None,
            "until": hold.until.isoformat() if hold.until else None}
        if hold.query is not None:  # only then: earlier holds' events keep their details
            details["query"] = hold.query
        with AuditLog.open(current().settings(config_path).audit) as log:
            return log.admin(AdminEvent(kind=AdminKind.ARCHIVE_HOLD, actor=actor,
                                        target=(hold.unit or hold.mailbox
                                                or ("query" if hold.query else "period")),
                                        unit_id=hold.unit, details=details))

    def release_hold(self, config_path: Path | None, hold_id: int, *, actor: str,
                     reason: str) -> int:
        """Append the chained ``archive-hold-release`` event of a hold in force.

        :raises LookupError: no hold ``hold_id`` is in force.
        """
        if hold_id not in {hold.hold_id for hold in self.holds(config_path)}:
            raise LookupError(hold_id)
        with AuditLog.open(current().settings(config_path).audit) as log:
            return log.admin(AdminEvent(kind=AdminKind.ARCHIVE_HOLD_RELEASE, actor=actor,
                                        target=str(hold_id), details={"reason": reason}))


    def proof(self, config_path: Path | None, record_id: int) -> dict[str, Any]:
        """What proves event ``record_id`` (audit/links.py), as plain data; a checkpoint
        is signed first when none covers it (the writable store and its key).

        :raises LookupError: no event ``record_id``.
        """
        with AuditLog.open(current().settings(config_path).audit) as log:
            proof = log.proof(record_id)
        checkpoint = json.loads(proof["checkpoint"].to_json())
        checkpoint.pop("format")
        return {**proof, "checkpoint": checkpoint}


def _hold(event: dict[str, Any]) -> Hold:
    details = event["details"]
    since, until = details.get("since"), details.get("until")
    return Hold(int(event["id"]), str(details["reason"]), str(details["requested_by"]),
                str(event["at"]), unit=details.get("unit"), mailbox=details.get("mailbox"),
                since=datetime.fromisoformat(since) if since else None,
                until=datetime.fromisoformat(until) if until else None,
                query=details.get("query"))
