"""Checks that need the whole file: ids, addresses, identifier codes, parents,
successors, cycles.

They run after each row passed its own checks (:mod:`directory.rows`) and add to
the same list of problems, so the report still names every bad line at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from directory import problems
from directory.errors import ImportRowError
from directory.model import Unit
from directory.rows import ParsedFile, ParsedRow
from directory.successors import MAX_SUCCESSION


def check_rows(
    parsed: ParsedFile, *, partial: bool, stored: Mapping[str, Unit] | None = None,
    reserved: Mapping[str, str] | None = None,
) -> tuple[list[ParsedRow], list[ImportRowError]]:
    """Check what needs the whole file: ids, addresses, parents, successors, cycles.

    ``stored`` are the units in the store now: those the file does not bring back
    (missing, or rejected with ``partial``) keep their addresses, so a row may not
    take one. Returns the rows that can be imported and every problem found (the
    per-row ones of ``parsed`` included), by line. With ``partial``, a row whose
    parent was rejected is rejected too, so the tree stays whole; a rejected row's
    unit already in the store stays as it is and may still be a parent. ``reserved``
    maps the addresses of the roster's active mailboxes to their units: no unit may
    take one.
    """
    stored = stored or {}
    reserved = reserved or {}
    errors: list[ImportRowError] = list(parsed.errors)
    good: dict[str, ParsedRow] = {}
    first_line: dict[str, int] = {}
    owner: dict[str, tuple[str, int]] = {}
    coded: dict[str, tuple[str, int]] = {}
    for row in parsed.rows:
        unit = row.unit
        if unit.id in first_line:
            errors.append(ImportRowError(
                row.line, "id", problems.ID_USED(id=unit.id, line=first_line[unit.id])))
            continue
        first_line[unit.id] = row.line
        clash = (_address_clash(row, owner) or _roster_clash(row, reserved)
                 or _organ_clash(row, coded))
        if clash:
            errors.append(clash)
            continue
        for address in unit.addresses:
            owner[address.key] = (unit.id, row.line)
        if unit.organ_id:
            coded[unit.organ_id] = (unit.id, row.line)
        good[unit.id] = row
    for unit in stored.values():
        if unit.id in good:
            continue
        for address in unit.addresses:
            taken = owner.get(address.key)
            if taken and taken[0] in good:
                errors.append(ImportRowError(
                    taken[1], None,
                    problems.ADDRESS_KEPT(address=address.addr_spec, unit=unit.id),
                    value=address.addr_spec,
                ))
                del good[taken[0]]
    if partial:
        kept = {unit_id for unit_id in stored if unit_id in parsed.ids}
        while (_check_references(good, set(good) | kept, errors)
               | _check_cycles(good, errors) | _check_successions(good, stored, errors)):
            pass
    else:
        _check_references(good, parsed.ids, errors)
        _check_cycles(good, errors)
        _check_successions(good, {}, errors)
    return sorted(good.values(), key=lambda row: row.line), sorted(errors, key=_order)


def _order(error: ImportRowError) -> tuple[int, str]:
    return (error.row, error.column or "")


def _address_clash(row: ParsedRow, owner: dict[str, tuple[str, int]]) -> ImportRowError | None:
    seen: set[str] = set()
    for index, address in enumerate(row.unit.addresses):
        column = "address" if index == 0 else "aliases"
        if address.key in seen:
            return ImportRowError(row.line, column,
                                  problems.ADDRESS_TWICE(address=address.addr_spec))
        seen.add(address.key)
        if address.key in owner:
            other, line = owner[address.key]
            return ImportRowError(
                row.line, column,
                problems.ADDRESS_TAKEN(address=address.addr_spec, unit=other, line=line),
                value=address.addr_spec,
            )
    return None


def _organ_clash(row: ParsedRow, coded: dict[str, tuple[str, int]]) -> ImportRowError | None:
    # a document exchange's OrganId must lead to one unit, or its mail is anyone's
    code = row.unit.organ_id
    if code is None or code not in coded:
        return None
    other, line = coded[code]
    return ImportRowError(
        row.line, "organ_id", problems.ORGAN_ID_TAKEN(code=code, unit=other, line=line),
        value=code)


def _roster_clash(row: ParsedRow, reserved: Mapping[str, str]) -> ImportRowError | None:
    for index, address in enumerate(row.unit.addresses):
        if address.key in reserved:
            return ImportRowError(
                row.line, "address" if index == 0 else "aliases",
                problems.ADDRESS_ON_ROSTER(address=address.addr_spec,
                                           unit=reserved[address.key]),
                value=address.addr_spec,
            )
    return None


def _check_references(
    good: dict[str, ParsedRow], ids: set[str], errors: list[ImportRowError],
) -> set[str]:
    removed = set()
    for unit_id, row in list(good.items()):
        parent, successor = row.unit.parent, row.unit.successor
        if parent is not None and parent not in ids:
            errors.append(ImportRowError(
                row.line, "parent", problems.PARENT_UNKNOWN(parent=parent),
                value=parent,
            ))
        elif successor is not None and (successor not in ids or successor == unit_id):
            errors.append(ImportRowError(
                row.line, "successor", problems.SUCCESSOR_UNKNOWN(successor=successor),
                value=successor,
            ))
        else:
            continue
        removed.add(unit_id)
        del good[unit_id]
    return removed


def _check_cycles(good: dict[str, ParsedRow], errors: list[ImportRowError]) -> set[str]:
    done: set[str] = set()
    looping: set[str] = set()
    for start in good:
        path: list[str] = []
        on_path: set[str] = set()
        current: str | None = start
        while current is not None and current in good and current not in done:
            if current in on_path:
                loop = path[path.index(current):]
                looping.update(loop)
                chain = " → ".join([*loop, current])
                for unit_id in loop:
                    errors.append(ImportRowError(
                        good[unit_id].line, "parent", problems.PARENT_CYCLE(chain=chain)))
                break
            path.append(current)
            on_path.add(current)
            current = good[current].unit.parent
        done.update(path)
    for unit_id in looping:
        del good[unit_id]
    return looping


def _check_successions(good: dict[str, ParsedRow], stored: Mapping[str, Unit],
                       errors: list[ImportRowError]) -> set[str]:
    """Refuse successor links that loop or chain longer than ``MAX_SUCCESSION``: who
    succeeds whom decides whose records a successor's auditors read."""
    def successor(unit_id: str) -> str | None:
        if unit_id in good:
            return good[unit_id].unit.successor
        kept = stored.get(unit_id)
        return kept.successor if kept is not None else None

    refused: set[str] = set()
    for start in good:
        chain = [start]
        current = successor(start)
        while current is not None and current not in chain and len(chain) <= MAX_SUCCESSION:
            chain.append(current)
            current = successor(current)
        if current is None:
            continue
        if current in chain:
            loop = " → ".join([*chain[chain.index(current):], current])
            problem = problems.SUCCESSOR_CYCLE(chain=loop)
        else:
            problem = problems.SUCCESSION_TOO_LONG(unit=start, limit=MAX_SUCCESSION)
        errors.append(ImportRowError(good[start].line, "successor", problem))
        refused.add(start)
    for unit_id in refused:
        del good[unit_id]
    return refused
