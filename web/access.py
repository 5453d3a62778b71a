"""Who may see what: a user's scope of units, enforced in every audit read.

An auditor's grant of a unit covers its descendants, resolved from the
directory's tree at each request, so a unit moved under a granted one is covered at
once, and the units it succeeds after a merger (:func:`covered`). Administrators see
every unit (scope ``None``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from audit import Filters, TraceEntry
from directory import Unit, predecessors

#: A unit id no real unit can have: a filter on it matches nothing.
NOTHING = "\x00none"


def descendants(units: Sequence[Unit], granted: Iterable[str]) -> frozenset[str]:
    """The granted units and every unit below them."""
    children: dict[str | None, list[str]] = defaultdict(list)
    for unit in units:
        children[unit.parent].append(unit.id)
    found: set[str] = set()
    stack = list(granted)
    while stack:
        unit_id = stack.pop()
        if unit_id in found:
            continue
        found.add(unit_id)
        stack.extend(children.get(unit_id, ()))
    return frozenset(found)


def covered(units: Sequence[Unit], granted: Iterable[str]) -> frozenset[str]:
    """What a grant of ``granted`` covers: those units, every unit below them, and the
    units they succeed (whose successor links lead to one of them, with the units
    below those), until nothing is added. A unit is a predecessor only by its own
    ``successor`` cell, which an administrator's import sets: no row of a successor
    can claim a predecessor."""
    found = descendants(units, granted)
    while True:
        wider = descendants(units, found | predecessors(units, found))
        if wider == found:
            return found
        found = wider


def scoped(filters: Filters, scope: frozenset[str] | None) -> Filters:
    """``filters`` narrowed to ``scope`` (None: everything)."""
    if scope is None:
        return filters
    asked = set(filters.units) if filters.units else set(scope)
    allowed = tuple(sorted(asked & scope)) or (NOTHING,)
    return replace(filters, units=allowed)


def record_units(record: dict[str, Any]) -> set[str]:
    """The units a record belongs to: its sender's, the one its From claims (a unit's
    auditor sees the forgeries of it) and its recipients'."""
    units = set(record.get("recipient_units") or ())
    for key in ("sender_unit", "claimed_unit"):
        if record.get(key):
            units.add(str(record[key]))
    return units


def may_see_record(record: dict[str, Any], scope: frozenset[str] | None) -> bool:
    """Whether a user with ``scope`` may see this event (admin events: administrators)."""
    if scope is None:
        return True
    return record.get("kind") == "message" and bool(record_units(record) & scope)


def may_see_trace(entry: TraceEntry, scope: frozenset[str] | None) -> bool:
    """Whether one sending of a document is within ``scope``."""
    if scope is None:
        return True
    units = set(entry.recipient_units)
    units.update(u for u in (entry.sender_unit, entry.claimed_unit) if u)
    return bool(units & scope)
