"""Unit ids renamed when the log is read, never in the records.

When provinces merge, ids that several provinces shared get their province's prefix
(``so-tai-chinh`` becomes ``ld-so-tai-chinh``: ``congvu directory merge`` writes the map).
A log written before the merger names the old ids, and its records keep them: they are
chained. ``congvu audit rename-units`` appends one ``units-renamed`` admin event
holding the map (old id -> new id, in its details); from then on every reader of the
log (query, show, export, the report, the console and its grants) reads a record
written *before* that event with its ids renamed, and one written after as it is. A
later rename applies on top of an earlier one. The event is a link of the chain like
any other, so the renaming is as tamper-evident as the records, and the records as
written are still shown (``units_as_written``).

Also here: the report's rolling of predecessors into their successors (a flat map
from the directory, applied after the history's renames).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from audit.errors import AuditError
from audit.records import AdminKind
from audit.schema import CHAIN_SPAN

if TYPE_CHECKING:  # the report's modules import this one
    from audit.reportsql import Message
    from audit.reportuse import RosterMailbox

#: How many rename events a log may hold: each is a merger of provinces.
MAX_RENAMES = 64


@dataclass(frozen=True, slots=True)
class UnitRenames:
    """The log's rename events, oldest first: each one's position in the chain and its
    map. A record at position ``seq`` is renamed by every event after it, in order, of
    its own chain: an imported chain's renames (audit/chains.py) start at its span's
    ``floors`` entry (the live chain's at 0)."""

    events: tuple[tuple[int, Mapping[str, str]], ...] = ()
    #: each event's chain's first store id, where it is not 0 (an imported chain's)
    floors: Mapping[int, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.events)

    def resolve(self, unit_id: str, seq: int) -> str:
        """The id ``unit_id``, written by the record at ``seq``, has now."""
        for at, renamed in self.events:
            if self.floors.get(at, 0) <= seq < at:
                unit_id = renamed.get(unit_id, unit_id)
        return unit_id

    def unit(self, unit_id: str | None, seq: int) -> str | None:
        """:meth:`resolve` for a unit a record may not name (None stays None)."""
        return None if unit_id is None else self.resolve(unit_id, seq)

    def written_as(self, units: Iterable[str]) -> list[tuple[int | None, int | None,
                                                              tuple[str, ...]]]:
        """For each stretch of the log between two renames (``low`` inclusive,
        ``high`` exclusive, None: open), the ids records written there name when
        they name one of ``units`` now."""
        wanted = set(units)
        known = wanted | {old for _, renamed in self.events for old in renamed}
        marks = sorted({*(at for at, _ in self.events), *self.floors.values()})
        bounds: list[int | None] = [None, *marks, None]
        stretches: list[tuple[int | None, int | None, tuple[str, ...]]] = []
        for index in range(len(bounds) - 1):
            low, high = bounds[index], bounds[index + 1]
            # a position in the stretch: the renames that cover it are the stretch's
            seq = low if low is not None else (marks[0] - 1 if high is not None else 0)
            ids = tuple(sorted(u for u in known if self.resolve(u, seq) in wanted))
            if stretches and stretches[-1][2] == ids and stretches[-1][1] == low:
                stretches[-1] = (stretches[-1][0], high, ids)  # one stretch, fewer terms
            elif ids:
                stretches.append((low, high, ids))
        return stretches

    def condition(self, column: str, record: str, units: Sequence[str]
                  ) -> tuple[str, list[Any]]:
        """SQL: ``column`` (a unit id written by the record at position ``record``)
        names one of ``units`` as the log is read now."""
        if not self.events:
            return f"{column} IN ({', '.join('?' * len(units))})", list(units)
        parts: list[str] = []
        params: list[Any] = []
        for low, high, ids in self.written_as(units):
            part = f"{column} IN ({', '.join('?' * len(ids))})"
            params.extend(ids)
            if low is not None:
                part += f" AND {record} >= ?"
                params.append(low)
            if high is not None:
                part += f" AND {record} < ?"
                params.append(high)
            parts.append(f"({part})")
        return ("(" + " OR ".join(parts) + ")" if parts else "0 = 1"), params

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record as :func:`audit.query.show` reads it, its units renamed; the ids
        it was written with under ``units_as_written`` when any changed."""
        if not self.events or record.get("kind") != "message":
            return record
        seq = int(record["id"])
        written: dict[str, Any] = {}
        for key in ("sender_unit", "submitted_by_unit"):
            value = record.get(key)
            if isinstance(value, str) and (new := self.resolve(value, seq)) != value:
                written[key] = value
                record[key] = new
        units = record.get("recipient_units")
        if isinstance(units, list):
            renamed = list(dict.fromkeys(self.resolve(u, seq) for u in units))
            if renamed != units:
                written["recipient_units"] = units
                record["recipient_units"] = renamed
        if written:
            record["units_as_written"] = written
        return record


NO_RENAMES = UnitRenames()


def load_renames(conn: sqlite3.Connection) -> UnitRenames:
    """The log's ``units-renamed`` events, oldest first.

    :raises AuditError: more than :data:`MAX_RENAMES` of them, or one whose details
        are not a map of ids (the chain holds what was written; this says what).
    """
    rows = conn.execute(
        "SELECT seq, detail FROM events WHERE kind = 'admin' AND admin_kind = ? ORDER BY seq",
        (AdminKind.UNITS_RENAMED.value,)).fetchall()
    # an imported chain's renames are of its own records (audit/chains.py)
    floors = {int(seq): int(seq) // CHAIN_SPAN * CHAIN_SPAN for seq, _ in rows
              if int(seq) >= CHAIN_SPAN}
    if len(rows) > MAX_RENAMES:
        raise AuditError(f"the log holds {len(rows)} unit renames, more than {MAX_RENAMES}")
    events = []
    for seq, detail in rows:
        renamed = json.loads(detail)
        if not isinstance(renamed, dict) or not all(
                isinstance(new, str) and new for new in renamed.values()):
            raise AuditError(f"the unit rename at event {seq} is not a map of unit ids")
        events.append((int(seq), dict(renamed)))
    return UnitRenames(tuple(events), floors)


def renamed_message(msg: Message, unit: Callable[[str], str]) -> Message:
    """A report's message with each of its units as ``unit`` names it now (the history's
    renames, or a predecessor rolled into its successor). A message to two units that
    become one is received once by it."""
    def named(value: str | None) -> str | None:
        return None if value is None else unit(value)

    return replace(
        msg, sender=named(msg.sender), claimed=named(msg.claimed),
        recipient_units=tuple(dict.fromkeys(map(unit, msg.recipient_units))),
        recipients=tuple((address, named(u)) for address, u in msg.recipients))


def rolled_roster(roster: Sequence[RosterMailbox], rolled: Mapping[str, str]
                  ) -> list[RosterMailbox]:
    """The roster with each official of a predecessor counted in its successor."""
    return [replace(m, unit_id=rolled.get(m.unit_id, m.unit_id)) for m in roster]


def read_units(units: Sequence[str], rolled: Mapping[str, str]) -> list[str]:
    """The units whose mail a report of ``units`` reads when predecessors are rolled
    into their successors: those, and every unit rolled into one of them."""
    wanted = set(units)
    return [*units, *sorted(old for old, new in rolled.items() if new in wanted)]


class IdMapError(AuditError):
    """The id map cannot be used: what is wrong with it, and what it holds."""


def read_id_map(text: str, file: str) -> dict[str, str]:
    """The renamed ids of ``file`` in a merge's id map (``file,old_id,new_id``, as
    ``congvu directory merge --map`` writes it): old id -> new id, the ids kept left out.
    ``file`` is the name the map gives, or its last component.

    :raises IdMapError: the map is not such a file, names no such file, or renames an
        id twice.
    """
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    if not rows or [cell.strip() for cell in rows[0]] != ["file", "old_id", "new_id"]:
        raise IdMapError("not an id map: its first line is not file,old_id,new_id")
    renamed: dict[str, str] = {}
    files: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3 or not all(cell.strip() for cell in row):
            raise IdMapError(f"line {line}: three cells, none empty, are needed")
        name, old, new = (cell.strip() for cell in row)
        files.add(name)
        if file not in (name, PurePath(name).name):
            continue
        if renamed.get(old, new) != new:
            raise IdMapError(f"line {line}: {old!r} is renamed twice ({renamed[old]!r}, {new!r})")
        renamed[old] = new
    if not any(file in (name, PurePath(name).name) for name in files):
        raise IdMapError(f"the map has no file {file!r}; it has: {', '.join(sorted(files))}")
    return {old: new for old, new in renamed.items() if old != new}
