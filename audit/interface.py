"""The one small store interface the rest of congvu relies on.

:class:`~audit.store.AuditLog` (SQLite) is its first implementation;
:class:`~audit.pgstore.PgAuditLog`, the shared PostgreSQL store several mail servers
write one chain into, is the second (``AuditLog.open`` returns it when the
configuration has a ``url``). It reuses audit/records.py, audit/rows.py (the rows and
their hashes), the shared read SQL of audit/query.py and audit/report*.py (through
mailbase/pgconn.py, with its own :class:`~audit.query.Dialect` for full-text search) and
audit/verify.py; :class:`~audit.writer.AuditWriter` takes any of them through its
``open_store`` parameter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

from audit.chain import Checkpoint
from audit.errors import AuditError
from audit.keys import KeyTrust
from audit.query import Filters, Page, RecordSummary, TraceEntry
from audit.records import AdminEvent, AuditRecord, Completion
from audit.report import Report
from audit.reportuse import REGULAR_MIN, RosterMailbox
from audit.verify import VerifyReport
from mailbase import Period

Item = AuditRecord | Completion | AdminEvent


class AuditStore(Protocol):
    """What an audit store does: append, checkpoint, prune, verify, read."""

    def write_each(self, items: Sequence[Item]) -> list[int | AuditError]:
        """Append a batch in one durable transaction; per-item id or error."""
        ...

    def checkpoint_if_due(self) -> None:
        """Sign the chain head if the schedule says so."""
        ...

    def checkpoint(self) -> Checkpoint:
        """Sign the chain head now."""
        ...

    def prune(self, before: datetime, *, actor: str = "system") -> int:
        """Retention: remove the oldest events, keeping the chain verifiable."""
        ...

    def verify(self, *, exported: Checkpoint | None = None,
               trust: KeyTrust | None = None) -> VerifyReport:
        """Walk the chain, the checkpoints (those of trusted keys) and the indexes."""
        ...

    def query(self, filters: Filters) -> Page[RecordSummary]:
        """One page of matching record summaries."""
        ...

    def count(self, filters: Filters) -> int:
        """How many records match."""
        ...

    def records(self, filters: Filters) -> Iterator[dict[str, Any]]:
        """Every matching record in full."""
        ...

    def show(self, record_id: int) -> dict[str, Any]:
        """One event in full."""
        ...

    def trace(self, sha256: str) -> list[TraceEntry]:
        """Every sending of one document."""
        ...

    def report(self, period: Period, units: Sequence[str] = (), *,
               listed: Sequence[str] = (), roster: Sequence[RosterMailbox] | None = None,
               regular_min: int = REGULAR_MIN, tz: tzinfo = UTC,
               parents: Mapping[str, str | None] | None = None) -> Report:
        """The periodic report (audit/report.py defines it)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
