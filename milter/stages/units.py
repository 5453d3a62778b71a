"""Whose message is it: the sender's unit and the recipients' units (directory/)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from directory import DirectoryIndex, UnknownUnit
from mailbase import FromHeaderError, parse_from
from milter.context import MessageContext
from milter.pipeline import CONTINUE, StageKind, Verdict

# A store change is seen within this many seconds without asking SQLite per message.
_REFRESH_INTERVAL = 1.0


def from_values(content: bytes) -> list[str]:
    """Every From header value of the message's header, unfolded, as text."""
    header_end = content.find(b"\r\n\r\n")
    head = content[: header_end + 2 if header_end >= 0 else len(content)]
    values: list[str] = []
    current: list[bytes] | None = None
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and current is not None:
            current.append(line)
            continue
        if current is not None:
            values.append(b"".join(current).decode("utf-8", "replace"))
            current = None
        if line[:5].lower() == b"from:":
            current = [line[5:]]
    if current is not None:
        values.append(b"".join(current).decode("utf-8", "replace"))
    return [value.strip() for value in values]


class UnitLookup:
    """Address → unit id and unit → ancestors, over the directory's index."""

    def __init__(self, index: DirectoryIndex) -> None:
        self.index = index
        self._checked = 0.0

    def _fresh(self) -> DirectoryIndex:
        now = time.monotonic()
        if now - self._checked > _REFRESH_INTERVAL:
            self._checked = now
            self.index.refresh()
        return self.index

    def unit_of(self, address: str) -> str | None:
        """The unit owning ``address``, or None."""
        return self._fresh().unit_id(address) if address else None

    def chain(self, unit_id: str | None) -> Sequence[str]:
        """The unit and its ancestors, or () for no or an unknown unit."""
        if unit_id is None:
            return ()
        try:
            return self._fresh().ancestors(unit_id)
        except UnknownUnit:
            return ()


class UnitsStage:
    """Resolve the header From and the units a message belongs to."""

    name = "units"
    kind: ClassVar[StageKind] = StageKind.VERIFY

    def __init__(self, lookup: UnitLookup) -> None:
        self.lookup = lookup

    async def run(self, ctx: MessageContext) -> Verdict:
        """Record sender unit, recipient units and the From address on the context."""
        try:
            ctx.from_address = parse_from(from_values(ctx.original_content)).addr_spec
        except FromHeaderError:
            ctx.from_address = None
        sender = ctx.from_address or ctx.envelope.mail_from
        ctx.sender_unit = self.lookup.unit_of(sender)
        for rcpt in ctx.envelope.recipients:
            unit = self.lookup.unit_of(rcpt)
            if unit is not None:
                ctx.recipient_unit_of[rcpt] = unit
        ctx.recipient_units = tuple(dict.fromkeys(ctx.recipient_unit_of.values()))
        return CONTINUE
