"""Archive.put_many: a batch of messages made durable together, one outcome each."""

from __future__ import annotations

import base64
import hashlib
import threading
from pathlib import Path

from archive import Archive, ArchiveWriteError, Stored, parse_query
from archive.index import SqliteTextIndex
from milter.context import Envelope, MessageContext, Xforward
from milter.direction import Direction, Role
from milter.pipeline import CONTINUE
from milter.stages.archive import ArchiveStage
from policies import searchable_text
from support.documents import plain_pdf
from support.unwritable import unwritable


def _message(number: int, size: int = 10_000) -> bytes:
    body = b"".join(b"La de da de da %d.\r\n" % i for i in range(size // 20))
    return b"Message-Id: <%d@example.org>\r\n\r\n" % number + body


def test_a_batch_is_stored_in_order_and_each_reads_back(archive: Archive) -> None:
    messages = [_message(n) for n in range(12)]
    outcomes = archive.put_many(messages)
    assert [o.sha256 for o in outcomes if isinstance(o, Stored)] == [
        hashlib.sha256(m).hexdigest() for m in messages]
    assert all(isinstance(o, Stored) and o.is_new for o in outcomes)
    assert [archive.get(hashlib.sha256(m).hexdigest()) for m in messages] == messages
    assert list(archive.tmp.iterdir()) == []


def test_the_same_bytes_twice_in_a_batch_are_stored_once(archive: Archive) -> None:
    first, again = archive.put_many([_message(1), _message(1)])
    assert isinstance(first, Stored) and first.is_new
    assert again == Stored(first.sha256, first.size, first.stored_size, is_new=False)
    assert list(archive.names()) == [first.sha256]


def test_a_message_that_cannot_be_written_fails_alone(archive: Archive) -> None:
    """A message stored already needs no new file: it is touched and stands; the new
    one, which must be written aside, gets its own error."""
    stored = archive.put(_message(1))
    with unwritable(archive.tmp):
        kept, failed = archive.put_many([_message(1), _message(2)])
    assert kept == Stored(stored.sha256, stored.size, stored.stored_size, is_new=False)
    assert isinstance(failed, ArchiveWriteError)
    assert str(archive.root) in str(failed)
    assert list(archive.names()) == [stored.sha256]


def test_a_batch_whose_renames_fail_fails_whole_and_leaves_no_temp_file(
        archive: Archive) -> None:
    messages = [_message(1), _message(2)]
    fan_out = archive.path_of(hashlib.sha256(messages[0]).hexdigest()).parent
    with unwritable(fan_out):
        outcomes = archive.put_many(messages)
    assert all(isinstance(o, ArchiveWriteError) for o in outcomes)
    assert list(archive.tmp.iterdir()) == []
    assert all(isinstance(o, Stored) for o in archive.put_many(messages))  # writable again


class _Reading:
    """The index's reader of text, noting which threads read."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(self, raw: bytes, *, limit: int) -> str:
        self.threads.append(threading.current_thread().name)
        return searchable_text(raw, limit=limit)


async def test_the_stage_reads_a_pdfs_text_before_the_batch_and_the_batch_never_again(
        tmp_path: Path) -> None:
    """A PDF's text extraction (the costliest reading) must not hold the group commit's
    thread, where every message of the batch would wait for it."""
    reading = _Reading()
    archive = Archive.open(tmp_path / "archive", index=SqliteTextIndex(
        tmp_path / "archive" / "index.sqlite3"), reader=reading)
    stage = ArchiveStage(archive, directions={"outbound"}, units=set(),
                         chain=lambda unit: [unit] if unit else [])
    pdf = plain_pdf(text="Quyet dinh phe duyet du toan")
    raw = (b"From: van-thu@so-tc.province.gov.vn\r\nSubject: Quyet dinh\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(pdf).replace(b"\n", b"\r\n"))
    ctx = MessageContext(
        listener="submission", role=Role.OUTBOUND, direction=Direction.OUTBOUND,
        peer=("127.0.0.1", 4000), helo="client", xforward=Xforward(),
        envelope=Envelope("van-thu@so-tc.province.gov.vn", (), ("snv@province.gov.vn",)),
        original_content=raw, sender_unit="so-tc")
    try:
        assert await stage.run(ctx) is CONTINUE
    finally:
        stage.close()
    assert ctx.archived_sha256 == hashlib.sha256(raw).hexdigest()
    assert len(reading.threads) == 1  # read once, before the batch
    assert reading.threads[0] not in ("congvu-archive", threading.current_thread().name)
    assert archive.index is not None
    assert archive.index.matching(parse_query("phe duyet du toan"),
                                  [ctx.archived_sha256]) == {ctx.archived_sha256}
