"""The report's units in the directory's tree order, and which of them head a subtotal.

audit/ has no directory: the caller passes each unit's parent as plain data. A unit
whose parent is not among the units shown hangs under its nearest ancestor that is
(an auditor granted a department sees it as a root); a unit whose parents loop, or
lead nowhere shown, is a root. Children keep the caller's order (the directory's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tree:
    """The units shown, in tree order, with their depth and the heads above them."""

    #: the units, parents before their children (pre-order)
    order: list[str]
    #: unit -> its depth in the tree shown (0: a root)
    depth: dict[str, int]
    #: unit -> the units with children shown on its path to the root, itself first when
    #: it has any: the subtotals a message of that unit counts in
    heads: dict[str, tuple[str, ...]]
    #: head -> how many units its subtree holds (itself included)
    size: dict[str, int]


def _nearest_shown(unit: str, parents: Mapping[str, str | None], shown: set[str]) -> str | None:
    """The nearest ancestor of ``unit`` among ``shown`` (None: none, or a loop)."""
    seen = {unit}
    parent = parents.get(unit)
    while parent is not None and parent not in seen:
        if parent in shown:
            return parent
        seen.add(parent)
        parent = parents.get(parent)
    return None


def tree(units: Sequence[str], parents: Mapping[str, str | None]) -> Tree:
    """``units`` in pre-order under ``parents`` (unit id -> parent id)."""
    shown = set(units)
    above = {u: _nearest_shown(u, parents, shown) for u in units}
    children: dict[str | None, list[str]] = {}
    for unit in units:
        children.setdefault(above[unit], []).append(unit)
    order: list[str] = []
    depth: dict[str, int] = {}
    path: dict[str, tuple[str, ...]] = {}
    stack: list[tuple[str, int, tuple[str, ...]]] = [
        (u, 0, ()) for u in reversed(children.get(None, []))]
    while stack:
        unit, level, upper = stack.pop()
        if unit in depth:
            continue
        order.append(unit)
        depth[unit] = level
        mine = (unit, *upper) if children.get(unit) else upper
        path[unit] = mine
        stack.extend((c, level + 1, mine) for c in reversed(children.get(unit, [])))
    # a loop among the units shown never reaches a root: show them as roots
    for unit in units:
        if unit not in depth:
            order.append(unit)
            depth[unit] = 0
            path[unit] = ()
    size: dict[str, int] = {}
    for heads in path.values():
        for head in heads:
            size[head] = size.get(head, 0) + 1
    return Tree(order, depth, path, size)
