"""The archive on a directory: stored once by SHA-256, durable, private, and read back
only when the bytes still hash to their name."""

from __future__ import annotations

import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
import zstandard

from archive import Archive, ArchiveReadError, ArchiveWriteError
from archive.store import IN_FLIGHT, Removal
from support.unwritable import unwritable

MESSAGE = (b"From: S\xe1\xbb\x9f T\xc3\xa0i ch\xc3\xadnh <sotc@lamdong.gov.vn>\r\n"
           b"To: snv@lamdong.gov.vn\r\nSubject: Cong van so 7\r\n\r\n"
           + b"Noi dung cong van, dong lap lai.\r\n" * 200)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_message_is_stored_compressed_under_its_sha256_and_read_back_exactly(
        archive: Archive) -> None:
    stored = archive.put(MESSAGE)
    sha = hashlib.sha256(MESSAGE).hexdigest()
    path = archive.root / "objects" / sha[:2] / f"{sha}.eml.zst"
    assert (stored.sha256, stored.size, stored.is_new) == (sha, len(MESSAGE), True)
    assert archive.path_of(sha) == path
    assert stored.stored_size == path.stat().st_size < len(MESSAGE) // 10
    assert zstandard.ZstdDecompressor().decompress(path.read_bytes()) == MESSAGE
    assert archive.get(sha) == MESSAGE
    assert list(archive.names()) == [sha]
    # the content of official mail: nobody but congvu reads it
    assert mode(path) == 0o600
    assert [mode(d) for d in (archive.root, archive.objects, path.parent)] == [0o700] * 3
    assert len(list(archive.objects.iterdir())) == 256  # made once, when opened
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_the_same_bytes_are_stored_once(archive: Archive) -> None:
    first = archive.put(MESSAGE)
    again = archive.put(MESSAGE)
    other = archive.put(MESSAGE + b"P.S.\r\n")
    assert (again.sha256, again.is_new, again.stored_size) == (
        first.sha256, False, first.stored_size)
    assert sorted(archive.names()) == sorted([first.sha256, other.sha256])


def test_a_changed_message_is_never_handed_out(archive: Archive) -> None:
    sha = archive.put(MESSAGE).sha256
    path = archive.path_of(sha)
    other = zstandard.ZstdCompressor().compress(MESSAGE.replace(b"so 7", b"so 8"))
    path.write_bytes(other)
    with pytest.raises(ArchiveReadError, match="changed: its bytes hash to") as found:
        archive.get(sha)
    assert found.value.problem == "changed"


def test_a_damaged_file_is_unreadable_and_a_removed_one_missing(archive: Archive) -> None:
    sha = archive.put(MESSAGE).sha256
    path = archive.path_of(sha)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit inside the compressed frame
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveReadError) as found:
        archive.get(sha)
    assert found.value.problem in ("unreadable", "changed")
    path.write_bytes(b"not zstd")
    with pytest.raises(ArchiveReadError, match="unreadable: not a zstd frame"):
        archive.get(sha)
    path.unlink()
    with pytest.raises(ArchiveReadError, match="missing") as found:
        archive.get(sha)
    assert found.value.path == path


def test_storing_again_repairs_a_damaged_copy(archive: Archive) -> None:
    sha = archive.put(MESSAGE).sha256
    archive.path_of(sha).write_bytes(b"damaged")
    assert archive.put(MESSAGE).is_new
    assert archive.get(sha) == MESSAGE


def test_a_name_that_is_no_sha256_is_refused(archive: Archive) -> None:
    with pytest.raises(ValueError, match="not a SHA-256"):
        archive.get("../../etc/passwd")


def test_an_unwritable_archive_is_a_write_error_and_leaves_nothing(archive: Archive) -> None:
    with unwritable(archive.objects), pytest.raises(ArchiveWriteError) as found:
        archive.put(MESSAGE)
    assert str(archive.root) in str(found.value)
    assert "writable by congvu" in str(found.value)
    assert list(archive.names()) == []
    assert not any(p.is_file() for p in archive.objects.rglob("*"))
    assert list(archive.tmp.iterdir()) == []  # no temp file
    assert archive.put(MESSAGE).is_new  # once writable again, it works


def test_a_fan_out_directory_removed_since_opening_is_made_again(archive: Archive) -> None:
    fan = archive.path_of(hashlib.sha256(MESSAGE).hexdigest()).parent
    fan.rmdir()
    assert archive.get(archive.put(MESSAGE).sha256) == MESSAGE
    assert mode(fan) == 0o700


def test_temporary_files_a_crash_left_are_removed_when_the_archive_is_opened(
        archive: Archive) -> None:
    sha = hashlib.sha256(MESSAGE).hexdigest()
    hour_ago = time.time() - 3600
    crashed = archive.tmp / f"{sha}.0badc0de.tmp"  # a write cut short an hour ago
    in_progress = archive.tmp / f"{sha}.12345678.tmp"  # another process writing now
    foreign = archive.tmp / "notes.txt"  # not ours: never touched
    for path in (crashed, in_progress, foreign):
        path.write_bytes(b"partial")
    os.utime(crashed, (hour_ago, hour_ago))
    os.utime(foreign, (hour_ago, hour_ago))
    reopened = Archive.open(archive.root)
    assert sorted(p.name for p in reopened.tmp.iterdir()) == sorted(
        [in_progress.name, foreign.name])
    assert reopened.put(MESSAGE).is_new  # the crashed write never made an object
    assert mode(reopened.lock_path) == 0o600 and mode(reopened.tmp) == 0o700


def test_removal_leaves_what_was_stored_or_found_stored_near_when_records_were_read(
        archive: Archive) -> None:
    old = archive.put(MESSAGE).sha256
    touched = archive.put(MESSAGE + b"again\r\n").sha256
    year_ago = time.time() - 365 * 86400
    for sha in (old, touched):
        os.utime(archive.path_of(sha), (year_ago, year_ago))
    read_at = time.time()
    # a message with these bytes arrives: stored already, so only touched
    assert not archive.put(MESSAGE + b"again\r\n").is_new
    assert archive.path_of(touched).stat().st_mtime > read_at - IN_FLIGHT
    missing = hashlib.sha256(b"never stored").hexdigest()
    done = list(archive.remove_unused([old, touched, missing], records_read_at=read_at))
    assert done == [(old, Removal.REMOVED), (touched, Removal.IN_USE),
                    (missing, Removal.ABSENT)]
    assert not archive.path_of(old).exists()
    assert archive.get(touched) == MESSAGE + b"again\r\n"
