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
included) is done before it joins a batch, so the batch waits only for the disk: on
the event loop for a message of at most :data:`_INLINE_LIMIT` bytes without a PDF to
read (a thread hop costs more CPU than preparing a letter), in a thread otherwise.

The words the index keeps come from the pipeline's one reading of the message when the
bytes stored are the bytes it walked under header lines the stages prepended, or those
bytes signed whole by smime-sign (:meth:`ArchiveStage.reader_of`): the header read at
the door, the parts walked once (``ctx.parts``). They are then the words ``congvu
archive index rebuild`` reads in the stored bytes, the signature's file name included
(tests/milter/test_archive_words.py holds the two together). Bytes the stages rebuilt
(a strip, S/MIME re-encoding 8-bit content), a header or prepended lines that read two
ways, or a walk near its bounds are read afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import ClassVar, NamedTuple

from archive import Archive, ArchiveError, Stored, TextReader
from archive.store import Prepared
from mailbase import read_header
from mailbase.groupcommit import GroupCommit
from milter.context import MessageContext
from milter.direction import Direction
from milter.logs import event
from milter.outofspace import store_failure_reply
from milter.pipeline import CONTINUE, Outcome, StageKind, Verdict
from milter.replies import R451_ARCHIVE
from policies import reads_pdf, searchable_text, text_of, walked_leaves

log = logging.getLogger("congvu.milter")

# At most this many bytes (and no PDF's text to read), a message is prepared on the
# event loop, as the policy stage decides: handing it to a thread and back cost 170-310
# us of CPU here, as much as preparing a signed 10 KB letter from the pipeline's reading
# (270 us, most of it its 3,000 words; 410 us reading it again).
_INLINE_LIMIT = 256 * 1024
#: header fields that would change how the walk reads the message under them
_MIME_FIELDS = (b"content-", b"mime-version")


class Reading(NamedTuple):
    """The text of the bytes a message leaves with, from the pipeline's reading."""

    reader: TextReader
    #: whether it reads a PDF's text (milliseconds a page: not on the event loop)
    reads_pdf: bool


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

    def reader_of(self, ctx: MessageContext) -> Reading | None:
        """What reads the text of the bytes ``ctx`` leaves with from the pipeline's
        reading of them; None when they must be read again.

        The text is policies' ``searchable_text`` of the bytes stored (the archive's
        reader, which the rebuild uses), taken from the header fields read at the door
        and the parts walked once, when those bytes are the bytes walked (the bytes as
        received) under the lines the stages prepended, or those bytes signed whole by
        smime-sign. Both header blocks must read one way and the lines prepended carry
        no MIME field, so the walk of the stored bytes reads the same MIME fields over
        the same body; ``walked_leaves`` checks the walk has room for the rest.
        """
        if self.archive.reader is not searchable_text or ctx.header.defects:
            return None
        if ctx.content is not None and ctx.signature_name is None:
            return None  # new bytes: a strip, or S/MIME's re-encoding
        # the size of the bytes that leave, without joining them
        size = len(ctx.current_content) + sum(map(len, ctx.prepend))
        leaves = walked_leaves(ctx.parts, ctx.original_content, size=size,
                               is_signed=ctx.content is not None)
        if leaves is None:
            return None
        fields = ctx.header.fields
        if ctx.prepend:
            # lines of ours, read once here, as the signers read them
            prepended = read_header(b"".join(reversed(ctx.prepend)) + b"\r\n")
            if prepended.defects or any(f.key.startswith(_MIME_FIELDS)
                                        for f in prepended.fields):
                return None
            fields = prepended.fields + fields
        # S/MIME's outer header is the message's own fields but its Content fields, then
        # MIME-Version and its Content-Type: the text reads none of those
        names = (ctx.signature_name,) if ctx.signature_name is not None else ()

        def reader(raw: bytes, *, limit: int) -> str:
            return text_of(fields, leaves, names_after=names, limit=limit)

        return Reading(reader, reads_pdf(leaves))

    async def run(self, ctx: MessageContext) -> Verdict:
        """Store the final bytes (they are fsync'd, in the group commit's thread), or
        answer 451."""
        if not self.is_kept(ctx):
            return CONTINUE
        data = ctx.final_content
        reading = self.reader_of(ctx) if self.archive.reads_words else None
        reader = reading.reader if reading is not None else None
        if len(data) <= _INLINE_LIMIT and (not self.archive.reads_words or (
                reading is not None and not reading.reads_pdf)):
            ready = self.archive.prepare(data, reader=reader)
        else:
            ready = await asyncio.get_running_loop().run_in_executor(
                None, partial(self.archive.prepare, data, reader=reader))
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
