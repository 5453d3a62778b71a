"""Who sent a recorded message: decided when the log is read, from the trusted path.

A record's stored ``sender_unit`` is the unit of its header From. Only mail that came
on the trusted path (direction ``outbound``: an outbound listener, or an ``auto``
listener whose XFORWARD client is trusted) was bound to its sender's login, so only
there is that unit the sender. On inbound mail the same column is what the From
*claims*: a forger writes whatever From he likes. The rule is applied here, at read
time, so records written before it was stated (inbound records whose
``sender_unit`` is the claimed unit, with a ``sent`` membership) are read the same
way; stored rows are never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the stored ``direction`` of mail that came on the trusted path
TRUSTED = "outbound"


def sent_by(direction: str | None, sender_unit: str | None) -> str | None:
    """The unit that sent the message: its sender unit, on the trusted path only."""
    return sender_unit if direction == TRUSTED and sender_unit else None


def claimed_by(direction: str | None, sender_unit: str | None) -> str | None:
    """The unit an untrusted message's From claims (never its sender)."""
    return sender_unit if direction != TRUSTED and sender_unit else None


def attributed(record: Mapping[str, Any]) -> dict[str, Any]:
    """A message record as people read it: ``sender_unit`` only when the unit sent it,
    ``claimed_unit`` when the From of untrusted mail only claims a unit.

    Other events (completions, admin events) come back unchanged.
    """
    if record.get("kind") != "message":
        return dict(record)
    direction, unit = record.get("direction"), record.get("sender_unit")
    shown = {k: v for k, v in record.items() if k != "sender_unit"}
    if sent_by(direction, unit):
        shown["sender_unit"] = unit
    if claimed_by(direction, unit):
        shown["claimed_unit"] = unit
    return shown
