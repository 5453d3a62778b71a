"""Which unit carries on for which: the ``successor`` links after a merger, walked safely.

A unit's ``successor`` names the unit that took it over (a department merged into the
new province's, a commune into a larger one). Whoever reads the history of a successor
reads its predecessors' too: an auditor granted the new Sở Tài chính sees the records
of the three old ones, and a report may count them under it. These walks decide who
succeeds whom, so they are bounded: an import refuses a cycle of successors and a chain
longer than :data:`MAX_SUCCESSION` (:mod:`directory.checks`), and the walks here stop at
a unit already seen and after that many links anyway, whatever a store holds.

Only a predecessor's own ``successor`` cell links it to a successor: a unit cannot name
its predecessors, so nothing a successor's row says widens what its readers see.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import date

from directory.model import Unit, successor_in_service

#: The longest chain of successors an import accepts (a unit merged, its successor
#: merged again, ...): far more than any reorganisation makes.
MAX_SUCCESSION = 16


def successors(unit_id: str, units: Mapping[str, Unit]) -> tuple[str, ...]:
    """The ids ``unit_id``'s successor links lead to, nearest first; () for a unit
    without a successor or an unknown id. A link to an unknown unit or back into the
    chain ends it, and so does the :data:`MAX_SUCCESSION`-th link."""
    chain: list[str] = []
    seen = {unit_id}
    current = units.get(unit_id)
    while (current is not None and current.successor is not None
           and current.successor not in seen and len(chain) < MAX_SUCCESSION):
        chain.append(current.successor)
        seen.add(current.successor)
        current = units.get(current.successor)
    return tuple(chain)


def last_successor(unit_id: str, units: Mapping[str, Unit]) -> str:
    """The unit at the end of ``unit_id``'s successor links (itself when it has none)."""
    chain = successors(unit_id, units)
    return chain[-1] if chain else unit_id


def predecessors(units: Iterable[Unit], unit_ids: Iterable[str]) -> frozenset[str]:
    """Every unit whose successor links lead to one of ``unit_ids``, directly or through
    other predecessors (at most :data:`MAX_SUCCESSION` links away); ``unit_ids``
    themselves are not included unless one succeeds another."""
    before: dict[str, list[str]] = defaultdict(list)
    for unit in units:
        if unit.successor is not None and unit.successor != unit.id:
            before[unit.successor].append(unit.id)
    found: set[str] = set()
    frontier = list(dict.fromkeys(unit_ids))
    for _ in range(MAX_SUCCESSION):
        frontier = [earlier for unit_id in frontier for earlier in before.get(unit_id, ())
                    if earlier not in found]
        if not frontier:
            break
        found.update(frontier)
    return frozenset(found)


def rolled_into(units: Iterable[Unit], reported: Collection[str] = ()) -> dict[str, str]:
    """For each unit with a successor, the unit a report that rolls predecessors into
    their successors counts it under: the last of its successors that is ``reported``,
    or with none reported (every unit), the last one. A reported unit with a reported
    successor is rolled in too; a unit whose links reach none of ``reported`` is left
    out."""
    by_id = {unit.id: unit for unit in units}
    rolled = {}
    for unit_id in by_id:
        chain = successors(unit_id, by_id)
        if reported:
            chain = tuple(u for u in chain if u in reported)
        if chain:
            rolled[unit_id] = chain[-1]
    return rolled


def merged_into(unit: Unit, units: Mapping[str, Unit], today: date) -> Unit | None:
    """For a unit that has ended on ``today`` and has a successor, the unit it is now
    part of: the first successor in service, else the last one it links to; None for a
    unit in service or one that ended without a successor."""
    if unit.in_service(today) or unit.successor is None:
        return None
    found = successor_in_service(unit, units, today)
    if found is not None:
        return found
    return units.get(last_successor(unit.id, units))
