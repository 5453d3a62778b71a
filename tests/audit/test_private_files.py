"""The audit store and its checkpoint key on disk: created private whatever the umask
(the store 0600 with its -wal and -shm, the keys directory 0700, the key 0600), a
store an earlier release left open tightened, and the key refused when another user
owns it, its directory is open to others, or a symlink leads to a key others can
read. These tests run as root, so a file can be given to nobody (uid 65534)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audit import AuditConfig, AuditError, AuditLog, KeyFileError
from audit.keys import own_public_key

NOBODY = 65534


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_store_and_key_are_private_whatever_the_umask(tmp_path: Path) -> None:
    config = AuditConfig(path=tmp_path / "var" / "audit" / "audit.sqlite3",
                         keys_dir=tmp_path / "var" / "keys")
    old = os.umask(0)
    try:
        with AuditLog.open(config):
            files = {p.name: _mode(p) for p in config.path.parent.iterdir()}
    finally:
        os.umask(old)
    assert files == {"audit.sqlite3": 0o600, "audit.sqlite3-wal": 0o600,
                     "audit.sqlite3-shm": 0o600}
    assert _mode(config.path.parent) == _mode(config.keys_dir) == 0o700
    assert _mode(config.keys_dir / "audit-checkpoint.key") == 0o600


def test_the_data_directory_around_the_store_keeps_its_mode(tmp_path: Path) -> None:
    # the store usually sits in the data directory beside public data: left as it is
    data = tmp_path / "var"
    data.mkdir()
    os.chmod(data, 0o755)
    with AuditLog.open(AuditConfig(path=data / "audit.sqlite3", keys_dir=data / "keys")):
        pass
    assert _mode(data) == 0o755 and _mode(data / "audit.sqlite3") == 0o600


def test_a_store_an_earlier_release_left_readable_is_tightened(
        audit_config: AuditConfig) -> None:
    AuditLog.open(audit_config).close()
    os.chmod(audit_config.path, 0o644)
    with AuditLog.open(audit_config):
        assert _mode(audit_config.path) == 0o600


def test_a_checkpoint_key_another_user_owns_is_refused(audit_config: AuditConfig) -> None:
    AuditLog.open(audit_config).close()
    key = audit_config.keys_dir / "audit-checkpoint.key"
    os.chown(key, NOBODY, -1)
    with pytest.raises(KeyFileError) as caught:
        AuditLog.open(audit_config)
    assert str(caught.value) == (f"checkpoint key {key}: it is owned by nobody, not by "
                                 f"root; run chown root {key}, or run this command as "
                                 "nobody")


def test_a_checkpoint_key_in_a_directory_others_can_write_is_refused(
        audit_config: AuditConfig) -> None:
    AuditLog.open(audit_config).close()
    os.chmod(audit_config.keys_dir, 0o777)
    # not tightened behind the administrator's back: refused, saying why
    with pytest.raises(KeyFileError, match="run chmod go-w"):
        AuditLog.open(audit_config)


def test_verify_refuses_its_own_key_through_a_symlink_to_an_open_file(
        audit_config: AuditConfig, tmp_path: Path) -> None:
    AuditLog.open(audit_config).close()
    elsewhere = tmp_path / "keys-link"
    elsewhere.mkdir(mode=0o700)
    real = audit_config.keys_dir / "audit-checkpoint.key"
    (elsewhere / "audit-checkpoint.key").symlink_to(real)
    assert own_public_key(elsewhere) == own_public_key(audit_config.keys_dir)
    os.chmod(real, 0o604)
    with pytest.raises(KeyFileError, match=f"the link's target {real} is readable by others"):
        own_public_key(elsewhere)


def test_a_store_path_that_cannot_be_created_is_an_audit_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    config = AuditConfig(path=tmp_path / "file" / "audit.sqlite3", keys_dir=tmp_path / "keys")
    with pytest.raises(AuditError, match="could not create it: Not a directory"):
        AuditLog.open(config)
