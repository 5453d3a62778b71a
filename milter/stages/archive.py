"""Keep the bytes that leave: the archive stage, after DKIM signing (archive/).

It runs only when every stage before it let the message through, so a refused, held
or deferred message is not kept; it stores exactly what the next hop will be given
(``ctx.final_content``: prepended lines, S/MIME, DKIM included) before the record is
written, and the record carries the SHA-256, so the chain proves the archived bytes.
An archive that cannot be written is a 451, like an audit log that cannot be: the
client keeps the message and retries.

The sessions of a worker store through one group commit (mailbase/groupcommit.py): the
messages that arrive while a batch syncs are made durable together by the next one, so
a busy worker syncs the archive once per batch, not twice per message. What storing a
message costs in CPU (hashing, compressing, reading its text for the index, a PDF's
included) is done before it joins a batch, in a thread off the event loop: the batch
waits only for the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from typing import ClassVar

from archive import Archive, ArchiveError, Stored
from archive.store import Prepared
from mailbase.groupcommit import GroupCommit
from milter.context import MessageContext
from milter.direction import Direction
from milter.logs import event
from milter.outofspace import store_failure_reply
from milter.pipeline import CONTINUE, Outcome, StageKind, Verdict
from milter.replies import R451_ARCHIVE

log = logging.getLogger("congvu.milter")


class ArchiveStage:
    """Store the relayed bytes of a unit's mail and name them in the record."""

    name = "archive"
    kind: ClassVar[StageKind] = StageKind.KEEP

    def __init__(self, archive: Archive, *, directions: Collection[str],
                 units: Collection[str], chain: Callable[[str | None], Sequence[str]]) -> None:
        self.archive = archive
        # the index is written after the reply, many messages a transaction; a crash
        # loses none of them (archive/backlog.py)
        archive.index_later()
        self._writer: GroupCommit[Prepared, Stored] = GroupCommit(
            archive.put_many, name="congvu-archive")
        self.directions = frozenset(directions)
        self.units = frozenset(units)
        self.chain = chain

    def is_kept(self, ctx: MessageContext) -> bool:
        """Whether ``ctx`` is a unit's mail in a direction and a unit configured.

        Outbound mail is its sender unit's (the trusted path bound it) and its
        recipient units'; inbound mail only its recipient units': the unit an inbound
        From claims did not send it.
        """
        if ctx.direction.value not in self.directions:
            return False
        units = list(ctx.recipient_units)
        if ctx.direction is Direction.OUTBOUND and ctx.sender_unit is not None:
            units.append(ctx.sender_unit)
        if not self.units:
            return bool(units)
        return any(not self.units.isdisjoint(self.chain(unit)) for unit in units)

    async def run(self, ctx: MessageContext) -> Verdict:
        """Store the final bytes (off the event loop: they are fsync'd), or answer 451."""
        if not self.is_kept(ctx):
            return CONTINUE
        ready = await asyncio.get_running_loop().run_in_executor(
            None, self.archive.prepare, ctx.final_content)
        try:
            stored = await self._writer.submit(ready)
        except ArchiveError as exc:
            event(log, "archive-failed", logging.ERROR, id=ctx.correlation_id, error=str(exc))
            return Verdict(Outcome.TEMPFAIL, store_failure_reply(exc, R451_ARCHIVE), str(exc))
        ctx.archived_sha256 = stored.sha256
        return CONTINUE

    def close(self) -> None:
        """Store what is queued, then stop the writer's thread, then index what waits."""
        self._writer.close()
        self.archive.stop_indexing()
