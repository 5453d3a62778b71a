"""Legal holds: what no prune may remove, whatever its retention says.

A hold names a unit (and so the units below it), a mailbox, a period, a query (words
the message's audit record must all hold, as `congvu audit query --text` finds them:
subject, addresses, attachment names, without diacritics), or several of these (then
a message must match all of them), with the reason and who asked. Holds
and their releases are administrative events in the audit chain: the chain is where
they live, so a hold cannot be dropped without a chained, signed release.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from archive.retention import ArchivedMessage


@dataclass(frozen=True, slots=True)
class Hold:
    """One legal hold in force; ``hold_id`` is the id of the audit event that placed it."""

    hold_id: int
    reason: str
    requested_by: str
    placed_at: str
    unit: str | None = None
    mailbox: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    query: str | None = None

    def covers(self, message: ArchivedMessage, chain: Callable[[str], Sequence[str]],
               matched: Collection[int] = ()) -> bool:
        """Whether ``message`` matches every criterion of the hold; ``matched``: the
        records the hold's query finds (the audit log's search answers it)."""
        if self.query is not None and message.record_id not in matched:
            return False
        if self.unit is not None and not any(self.unit in chain(unit)
                                             for unit in message.units):
            return False
        if self.mailbox is not None and self.mailbox.lower() not in message.addresses:
            return False
        if self.since is not None and message.received_at < self.since:
            return False
        return self.until is None or message.received_at < self.until

    def describe(self) -> str:
        """The hold in one line, as `hold list` prints it."""
        what = [f"unit {self.unit} and below" if self.unit else "",
                f"mailbox {self.mailbox}" if self.mailbox else "",
                f"from {self.since.isoformat()}" if self.since else "",
                f"until {self.until.isoformat()}" if self.until else "",
                f"query {self.query!r}" if self.query else ""]
        return (f"hold {self.hold_id}: {', '.join(w for w in what if w)}; placed "
                f"{self.placed_at} for {self.requested_by}: {self.reason}")
