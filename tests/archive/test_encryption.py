"""Encryption at rest (optional): AES-256-GCM under a key kept 0600 under the data
directory, bound to each message's name; plain and encrypted objects both read."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive import Archive, ArchiveConfig, ArchiveError, ArchiveReadError
from archive.keys import key_id, load_key
from congvu.cli import main

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
    assert stored.startswith(b"CVAE\x02") and b"dung" not in stored
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


def congvu(tmp_path: Path, *args: str, encrypt: bool = True) -> Result:
    """``congvu archive ARGS`` on a data directory whose archive is ``config``'s."""
    toml = tmp_path / "congvu.toml"
    toml.write_text(f'[service]\ndata_dir = "{tmp_path}"\n'
                    f"[archive]\nencrypt = {str(encrypt).lower()}\n")
    return CliRunner().invoke(main, ["archive", *args, "--config", str(toml)])


def _keys_dir(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "keys").iterdir())


def test_an_object_sealed_before_keys_had_ids_still_reads(tmp_path: Path) -> None:
    archive = Archive.from_config(config(tmp_path, encrypt=True), create=True)
    key = load_key(tmp_path / "keys" / "archive.key", create=False)
    sha = hashlib.sha256(MESSAGE).hexdigest()
    nonce = os.urandom(12)
    frame = zstandard.ZstdCompressor(write_content_size=True).compress(MESSAGE)
    archive.path_of(sha).write_bytes(  # as the first release of encryption wrote it
        b"CVAE\x01" + nonce + AESGCM(key).encrypt(nonce, frame, sha.encode()))
    assert archive.get(sha) == MESSAGE


def test_rotation_keeps_old_objects_readable_and_reseal_moves_them_to_the_new_key(
        tmp_path: Path) -> None:
    plain = Archive.from_config(config(tmp_path), create=True).put(MESSAGE + b"plain\r\n")
    first = Archive.from_config(config(tmp_path, encrypt=True), create=True)
    old = first.put(MESSAGE).sha256
    old_key = load_key(tmp_path / "keys" / "archive.key", create=False)
    result = congvu(tmp_path, "key", "rotate")
    assert result.exit_code == 0, result.output
    retired = f"archive-{key_id(old_key)}.key"
    # beside the audit log's key, which the rotation's chained event made
    assert _keys_dir(tmp_path) == [retired, "archive.key", "audit-checkpoint.key"]
    assert stat.S_IMODE((tmp_path / "keys" / retired).stat().st_mode) == 0o600
    new_key = load_key(tmp_path / "keys" / "archive.key", create=False)
    assert new_key != old_key and f"new key {key_id(new_key)}" in result.output

    second = Archive.from_config(config(tmp_path, encrypt=True), create=False)
    new = second.put(MESSAGE + b"new\r\n").sha256
    assert second.path_of(new).read_bytes()[5:13] == bytes.fromhex(key_id(new_key))
    assert second.get(old) == MESSAGE  # with the retired key

    result = congvu(tmp_path, "key", "reseal")
    assert result.exit_code == 0, result.output
    assert "sealed 2 of 3 object(s)" in result.output  # the old one and the plain one
    (tmp_path / "keys" / retired).unlink()
    third = Archive.from_config(config(tmp_path, encrypt=True), create=False)
    for sha, data in ((old, MESSAGE), (new, MESSAGE + b"new\r\n"),
                      (plain.sha256, MESSAGE + b"plain\r\n")):
        assert third.get(sha) == data
        assert third.path_of(sha).read_bytes()[:13] == b"CVAE\x02" + bytes.fromhex(
            key_id(new_key))


def test_rotation_needs_a_key_and_reseal_needs_encryption(tmp_path: Path) -> None:
    Archive.from_config(config(tmp_path), create=True)
    missing = congvu(tmp_path, "key", "rotate")
    assert missing.exit_code == 1 and "no such file" in missing.output
    off = congvu(tmp_path, "key", "reseal", encrypt=False)
    assert off.exit_code == 2 and "encrypt is false" in off.output


def test_a_backup_with_its_keys_carries_the_retired_key_and_restore_puts_it_back(
        tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    sha = Archive.from_config(config(data, encrypt=True), create=True).put(MESSAGE).sha256
    assert congvu(data, "key", "rotate").exit_code == 0
    retired = [p.name for p in (data / "keys").glob("archive-*.key")]  # not the audit's
    toml = data / "congvu.toml"
    done = CliRunner().invoke(main, ["backup", str(tmp_path / "b"), "--include-keys",
                                     "--config", str(toml)])
    assert done.exit_code == 0, done.output
    restored = tmp_path / "restored"
    (restored / "keys").mkdir(parents=True)
    (restored / "archive").mkdir()
    shutil.copytree(data / "archive" / "objects", restored / "archive" / "objects")
    target = tmp_path / "restored.toml"
    target.write_text(f'[service]\ndata_dir = "{restored}"\n[archive]\nencrypt = true\n')
    done = CliRunner().invoke(main, ["restore", str(tmp_path / "b"), "--accept-unsigned",
                                     "--config", str(target)])
    assert f"restored archive encryption key retired by `congvu archive key rotate`: " \
        f"{retired[0]}" in done.output, done.output
    assert Archive.from_config(config(restored, encrypt=True), create=False).get(sha) \
        == MESSAGE


def _rotations(data_dir: Path) -> list[dict[str, Any]]:
    from audit import AuditLog
    from congvu.config import parse_config

    audit = parse_config({"service": {"data_dir": str(data_dir)}}).audit
    with AuditLog.open_readonly(audit.path) as log:
        return log.admin_events(kind="key-rotation")


def test_a_rotation_is_a_chained_event_naming_both_keys(tmp_path: Path) -> None:
    Archive.from_config(config(tmp_path, encrypt=True), create=True)
    old_key = load_key(tmp_path / "keys" / "archive.key", create=False)
    result = congvu(tmp_path, "key", "rotate", "--actor", "thanhtra")
    assert result.exit_code == 0, result.output
    new_key = load_key(tmp_path / "keys" / "archive.key", create=False)
    [event] = _rotations(tmp_path)
    assert (event["actor"], event["target"], event["details"]) == (
        "thanhtra", "archive", {"retired": key_id(old_key), "key": key_id(new_key)})
    assert f"recorded as audit event {event['id']}" in result.output


def test_a_rotation_the_log_cannot_record_leaves_the_keys_as_they_were(
        tmp_path: Path) -> None:
    from audit import AuditLog
    from congvu.config import parse_config

    Archive.from_config(config(tmp_path, encrypt=True), create=True)
    audit = parse_config({"service": {"data_dir": str(tmp_path)}}).audit
    AuditLog.open(audit).close()
    before = {p.name: p.read_bytes() for p in (tmp_path / "keys").iterdir() if p.is_file()}
    store_files = [p for p in audit.path.parent.glob(audit.path.name + "*")]
    with _immutable(store_files):
        result = congvu(tmp_path, "key", "rotate")
    assert result.exit_code != 0
    assert "new key" not in result.output
    after = {p.name: p.read_bytes() for p in (tmp_path / "keys").iterdir() if p.is_file()}
    assert after == before
    assert _rotations(tmp_path) == []


@contextlib.contextmanager
def _immutable(paths: list[Path]) -> Iterator[None]:
    """The files refuse writes, even to root (chattr +i; mode 0400 otherwise)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            os.chmod(p, 0o400)
        try:
            yield
        finally:
            for p, mode in modes.items():
                os.chmod(p, mode)
        return
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
