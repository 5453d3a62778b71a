"""Encryption at rest (optional): AES-256-GCM under a key kept 0600 under the data
directory, bound to each message's name; plain and encrypted objects both read."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from archive import Archive, ArchiveConfig, ArchiveError, ArchiveReadError

MESSAGE = b"Subject: mat\r\n\r\nN\xe1\xbb\x99i dung m\xe1\xba\xadt.\r\n" * 20


def config(tmp_path: Path, **values: Any) -> ArchiveConfig:
    return ArchiveConfig(path=tmp_path / "archive", key_file=tmp_path / "keys" / "archive.key",
                         **values)


def test_an_encrypted_message_reads_back_and_shows_nothing_on_disk(tmp_path: Path) -> None:
    archive = Archive.from_config(config(tmp_path, encrypt=True), create=True)
    key = tmp_path / "keys" / "archive.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    sha = archive.put(MESSAGE).sha256
    stored = archive.path_of(sha).read_bytes()
    assert stored.startswith(b"CVAE\x01") and b"dung" not in stored
    assert archive.get(sha) == MESSAGE
    # the commands read it with the same key, and create nothing
    assert Archive.from_config(config(tmp_path, encrypt=True), create=False).get(sha) == MESSAGE


def test_without_the_key_or_under_another_name_it_is_unreadable(tmp_path: Path) -> None:
    archive = Archive.from_config(config(tmp_path, encrypt=True), create=True)
    sha = archive.put(MESSAGE).sha256
    other = archive.put(MESSAGE + b"P.S.\r\n").sha256
    with pytest.raises(ArchiveReadError, match="no archive key is configured"):
        Archive(archive.root).get(sha)
    # an object moved under another message's name does not decrypt there
    archive.path_of(other).write_bytes(archive.path_of(sha).read_bytes())
    with pytest.raises(ArchiveReadError, match="does not decrypt under this name"):
        archive.get(other)


def test_turning_encryption_off_keeps_what_was_encrypted_readable(tmp_path: Path) -> None:
    sealed = Archive.from_config(config(tmp_path, encrypt=True), create=True).put(MESSAGE)
    plain_archive = Archive.from_config(config(tmp_path), create=True)
    plain = plain_archive.put(MESSAGE + b"later\r\n")
    assert plain_archive.path_of(plain.sha256).read_bytes().startswith(b"\x28\xb5\x2f\xfd")
    assert plain_archive.get(sealed.sha256) == MESSAGE


def test_a_key_others_can_read_or_that_is_no_key_is_refused(tmp_path: Path) -> None:
    Archive.from_config(config(tmp_path, encrypt=True), create=True)
    key = tmp_path / "keys" / "archive.key"
    os.chmod(key, 0o644)
    with pytest.raises(ArchiveError, match=r"archive key .*archive\.key: .*others"):
        Archive.from_config(config(tmp_path, encrypt=True), create=True)
    os.chmod(key, 0o600)
    key.write_bytes(b"congvu-archive-key/1 c2hvcnQ=\n")
    with pytest.raises(ArchiveError, match=r"not an archive key \(5 bytes, not 32\)"):
        Archive.from_config(config(tmp_path, encrypt=True), create=False)
    key.unlink()
    with pytest.raises(ArchiveError, match="no such file"):
        Archive.from_config(config(tmp_path, encrypt=True), create=False)
