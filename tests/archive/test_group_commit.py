"""Archive.put_many: a batch of messages made durable together, one outcome each."""

from __future__ import annotations

import hashlib

from archive import Archive, ArchiveWriteError, Stored
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
