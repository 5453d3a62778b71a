"""How long an archived message is kept: the retention classes of `[archive]`.

A message belongs to its direction and its units (outbound: its sender unit and its
recipient units; inbound: its recipient units). Every class covering that direction
and any of those units, or a unit above one of them, applies, and the longest wins:
no unit loses a message it must keep because another unit keeps it for less. A message
no class covers is kept ``keep_years``. The same bytes named by several records are
kept until the last of them expires.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from archive.config import ArchiveConfig, Years


@dataclass(frozen=True, slots=True)
class ArchivedMessage:
    """One record naming an archived message, as the audit log has it."""

    record_id: int
    sha256: str
    received_at: datetime
    direction: str
    #: outbound the sender unit and the recipient units, inbound the recipient units
    units: tuple[str, ...]
    #: the envelope sender and recipients, lower-cased (what a mailbox hold matches)
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Expired:
    """An archived message every record of which has expired."""

    sha256: str
    record_ids: tuple[int, ...]
    #: when the last of its records expired
    kept_until: datetime
    #: the class that kept it longest (``default`` when none covered it)
    retention: str


def _later(years: Years, other: Years) -> bool:
    if years == "permanent":
        return other != "permanent"
    return other != "permanent" and years > other


def _add_years(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February into a year without one
        return when.replace(year=when.year + years, day=28)


class Retention:
    """The classes of one configuration, with the unit tree they are read against."""

    def __init__(self, config: ArchiveConfig, chain: Callable[[str], Sequence[str]]) -> None:
        self.config = config
        self.chain = chain

    def keeps(self, message: ArchivedMessage) -> tuple[str, Years]:
        """The class that keeps ``message`` longest, and for how many years."""
        found: tuple[str, Years] = ("default", self.config.keep_years)
        covered = False
        above = {unit for own in message.units for unit in self.chain(own)}
        for rule in self.config.retention:
            if message.direction not in rule.directions:
                continue
            if rule.units and above.isdisjoint(rule.units):
                continue
            if not covered or _later(rule.years, found[1]):
                found, covered = (rule.name, rule.years), True
        return found

    def until(self, message: ArchivedMessage) -> datetime | None:
        """When ``message``'s record expires (None: kept permanently)."""
        years = self.keeps(message)[1]
        return None if years == "permanent" else _add_years(message.received_at, years)

    def expired(self, messages: Iterable[ArchivedMessage], now: datetime) -> list[Expired]:
        """The archived messages whose every record has expired at ``now``."""
        last: dict[str, tuple[datetime | None, str, list[int]]] = {}
        for message in messages:
            until = self.until(message)
            name = self.keeps(message)[0]
            seen = last.get(message.sha256)
            if seen is None:
                last[message.sha256] = (until, name, [message.record_id])
                continue
            seen[2].append(message.record_id)
            if seen[0] is not None and (until is None or until > seen[0]):
                last[message.sha256] = (until, name, seen[2])
        return [Expired(sha256, tuple(ids), until, name)
                for sha256, (until, name, ids) in last.items()
                if until is not None and until <= now]
