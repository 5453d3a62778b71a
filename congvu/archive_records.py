"""The audit log's side of ``congvu archive``: which record names which archived message.

archive/ imports no other package of ours; the root composes the two here, reading the
configured audit store through a read-only connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from audit import AuditLog
from congvu.context import current
from mailbase import zone


class AuditRecords:
    """:class:`archive.Records` over the audit store ``--config`` names."""

    def archived_of(self, config_path: Path | None, record_id: int) -> str | None:
        """The SHA-256 record ``record_id`` names, or None.

        :raises LookupError: no message record ``record_id``.
        :raises AuditError: the store cannot be read.
        """
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            found = list(log.archived(record_id=record_id))
        if not found:
            raise LookupError(record_id)
        return found[0][1]

    def archived_since(self, config_path: Path | None,
                       since: datetime | None) -> Iterator[tuple[int, str]]:
        """(record id, SHA-256) of each record naming an archived message, since ``since``."""
        with AuditLog.open_readonly(current().settings(config_path).audit.path) as log:
            for record_id, sha256 in log.archived(since=since):
                if sha256 is not None:
                    yield record_id, sha256

    def time_zone(self, config_path: Path | None) -> ZoneInfo:
        """The audit's zone: command-line dates without an offset are in it."""
        return zone(current().settings(config_path).audit.time_zone)
