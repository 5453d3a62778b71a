"""mailbase.private_files: secrets refused when someone else could have changed them,
stores created private whatever the umask. Real files, real umask changes (restored),
real symlinks, real chown: these tests run as root, so a file can be given to
``nobody`` and must then be refused."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mailbase import (
    UnsafeFileError,
    create_private,
    private_database,
    private_dir,
    private_file,
    read_secret,
    sync_directory,
    write_private_durably,
)
from mailbase.private_files import MAX_SECRET_BYTES

SECRET = b"-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n"
NOBODY = 65534


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    return directory


def secret(directory: Path, name: str = "k.pem", file_mode: int = 0o600) -> Path:
    path = directory / name
    path.write_bytes(SECRET)
    os.chmod(path, file_mode)
    return path


def refused(path: Path) -> str:
    with pytest.raises(UnsafeFileError) as caught:
        read_secret(path)
    assert caught.value.path == path
    return caught.value.reason


def test_a_private_key_is_read(keys: Path) -> None:
    assert read_secret(secret(keys)) == SECRET
    assert read_secret(secret(keys, "ro.pem", 0o400)) == SECRET


@pytest.mark.parametrize(("file_mode", "said"), [
    (0o640, "readable by group (mode 0640)"),
    (0o604, "readable by others (mode 0604)"),
    (0o620, "writable by group (mode 0620)"),
    (0o602, "writable by others (mode 0602)"),
    (0o601, "executable by others (mode 0601)"),
    (0o666, "readable and writable by group, readable and writable by others (mode 0666)"),
])
def test_a_key_others_can_use_is_refused_with_the_fix(keys: Path, file_mode: int,
                                                      said: str) -> None:
    path = secret(keys, file_mode=file_mode)
    reason = refused(path)
    assert reason == f"{said}; run chmod 600 {path}"
    assert str(UnsafeFileError(path, reason)).startswith(f"refusing {path}: ")


def test_a_key_owned_by_another_user_is_refused(keys: Path) -> None:
    """As root, the only trusted owner is root: a key given to nobody is refused."""
    path = secret(keys)
    os.chown(path, NOBODY, -1)
    assert refused(path) == (f"it is owned by nobody, not by root; run chown root {path}, "
                             "or run this command as nobody")


def test_a_key_owned_by_the_running_user_is_read(keys: Path) -> None:
    """Here the running user is root, so this is the euid case; the test for another
    owner above is what tells the two apart."""
    path = secret(keys)
    assert path.stat().st_uid == os.geteuid()
    assert read_secret(path) == SECRET


@pytest.mark.parametrize("dir_mode", [0o770, 0o707, 0o1777, 0o2775])
def test_a_key_in_a_directory_others_can_write_is_refused(tmp_path: Path,
                                                           dir_mode: int) -> None:
    # the sticky bit does not help the directory holding the key: others could have
    # put the key there before congvu's own was made
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, dir_mode)
    path = secret(directory)
    reason = refused(path)
    assert f"its directory {directory} is writable by" in reason
    assert reason.endswith(f"; run chmod go-w {directory}")


def test_a_key_in_a_directory_owned_by_another_user_is_refused(keys: Path) -> None:
    path = secret(keys)
    os.chown(keys, NOBODY, -1)
    assert refused(path) == (f"its directory {keys} is owned by nobody, not by root; "
                             f"run chown root {keys}, or run this command as nobody")


def test_a_directory_above_that_others_can_write_is_refused_unless_sticky(
        tmp_path: Path) -> None:
    above = tmp_path / "above"
    (above / "keys").mkdir(parents=True, mode=0o700)
    path = secret(above / "keys")
    os.chmod(above, 0o777)
    assert f"the directory above it {above} is writable by group and others (mode 0777) " \
           "without the sticky bit" in refused(path)
    os.chmod(above, 0o1777)  # like /tmp: nobody else can rename keys/ away
    assert read_secret(path) == SECRET


def test_a_symlink_is_followed_and_its_target_checked(tmp_path: Path, keys: Path) -> None:
    target = secret(keys)
    link = tmp_path / "link.pem"
    link.symlink_to(target)
    assert read_secret(link) == SECRET
    os.chmod(target, 0o644)
    assert refused(link) == (f"the link's target {target} is readable by group, readable "
                             f"by others (mode 0644); run chmod 600 {target}")


def test_the_directory_holding_a_link_is_checked_too(tmp_path: Path, keys: Path) -> None:
    target = secret(keys)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    link = shared / "dkim.pem"
    link.symlink_to(target)
    assert f"its directory {shared} is writable by group and others" in refused(link)


def test_every_link_of_a_chain_is_followed(tmp_path: Path, keys: Path) -> None:
    target = secret(keys)
    middle_dir = tmp_path / "middle"
    middle_dir.mkdir(mode=0o700)
    middle = middle_dir / "m.pem"
    middle.symlink_to(Path("..") / "keys" / target.name)  # relative
    first = tmp_path / "first.pem"
    first.symlink_to(middle)
    assert read_secret(first) == SECRET
    os.chmod(middle_dir, 0o777)
    assert f"its directory {middle_dir} is writable" in refused(first)


def test_a_symlink_loop_and_a_dangling_link_are_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    a.symlink_to(b)
    b.symlink_to(a)
    assert "symbolic links" in refused(a)
    dangling = tmp_path / "dangling.pem"
    gone = tmp_path / "gone.pem"
    dangling.symlink_to(gone)
    assert refused(dangling) == f"cannot be read: No such file or directory ({gone})"


def test_what_is_not_a_regular_file_is_refused_without_hanging(keys: Path) -> None:
    fifo = keys / "fifo.pem"
    os.mkfifo(fifo, 0o600)  # opening a FIFO for reading would wait for a writer
    assert refused(fifo) == "it is not a regular file"
    sub = keys / "dir.pem"
    sub.mkdir(mode=0o700)
    assert refused(sub) == "it is not a regular file"


def test_a_missing_or_huge_key_is_refused(keys: Path) -> None:
    assert refused(keys / "none.pem").startswith("cannot be read: No such file")
    big = keys / "big.pem"
    big.write_bytes(b"x" * (MAX_SECRET_BYTES + 1))
    os.chmod(big, 0o600)
    assert "too large for a key" in refused(big)


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o277, 0o777])
def test_stores_are_private_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        made = private_dir(tmp_path / "var" / "web")
        private_file(made / "store.json")
        fd = create_private(made / "new.key")
        os.close(fd)
    assert mode(tmp_path / "var") == mode(made) == 0o700
    assert mode(made / "store.json") == mode(made / "new.key") == 0o600


def test_an_sqlite_store_and_its_wal_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "users.sqlite3"
    with umask(0):
        private_database(path)
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x INTEGER)")
        db.commit()
        try:
            names = sorted(p.name for p in tmp_path.iterdir())
            assert names == ["users.sqlite3", "users.sqlite3-shm", "users.sqlite3-wal"]
            assert {mode(tmp_path / n) for n in names} == {0o600}
        finally:
            db.close()


def test_a_store_left_open_by_an_earlier_release_is_tightened(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with umask(0o022):  # what SQLite did before: 0644 files
        db = sqlite3.connect(tmp_path / "old.sqlite3")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x INTEGER)")
        db.commit()
    try:
        assert mode(tmp_path / "old.sqlite3-wal") == 0o644
        with caplog.at_level(logging.WARNING, logger="congvu.files"):
            private_database(tmp_path / "old.sqlite3")
        for name in ("old.sqlite3", "old.sqlite3-wal", "old.sqlite3-shm"):
            assert mode(tmp_path / name) == 0o600
        assert len(caplog.records) == 3
        assert "from mode 0644 to 0600" in caplog.records[0].getMessage()
        assert db.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        db.close()


def test_an_open_directory_is_tightened_unless_told_not_to(tmp_path: Path) -> None:
    shared = tmp_path / "data"
    shared.mkdir()
    os.chmod(shared, 0o755)
    private_dir(shared, tighten=False)
    assert mode(shared) == 0o755
    private_dir(shared)
    assert mode(shared) == 0o700


def test_what_belongs_to_another_user_is_not_tightened(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs.sqlite3"
    theirs.write_bytes(b"")
    os.chmod(theirs, 0o644)
    os.chown(theirs, NOBODY, -1)
    private_database(theirs)
    assert mode(theirs) == 0o644


def test_create_private_never_follows_a_link_or_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "new.key"
    link.symlink_to(target)
    with pytest.raises(FileExistsError):
        create_private(link)
    assert not target.exists()


def test_private_dir_refuses_a_file_in_its_place(tmp_path: Path) -> None:
    (tmp_path / "web").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        private_dir(tmp_path / "web")


def test_a_durable_write_makes_a_private_file_or_replaces_one_whole(tmp_path: Path) -> None:
    target = tmp_path / "held.gz"
    with umask(0):
        write_private_durably(target, b"first")
    assert (target.read_bytes(), mode(target)) == (b"first", 0o600)
    write_private_durably(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["held.gz"]  # no temporary left


def test_a_durable_write_uses_the_temporary_name_given_and_refuses_one_in_use(
        tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    write_private_durably(tmp_path / "msg", b"x", tmp=tmp_path / "tmp" / "msg.1.tmp")
    assert list((tmp_path / "tmp").iterdir()) == []
    (tmp_path / "tmp" / "taken.tmp").write_bytes(b"another writer's")
    with pytest.raises(FileExistsError):
        write_private_durably(tmp_path / "msg", b"y", tmp=tmp_path / "tmp" / "taken.tmp")
    assert (tmp_path / "msg").read_bytes() == b"x"
    assert (tmp_path / "tmp" / "taken.tmp").read_bytes() == b"another writer's"


def test_a_durable_write_that_cannot_rename_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "a-directory").mkdir()
    with pytest.raises(IsADirectoryError):
        write_private_durably(tmp_path / "a-directory", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory"]


def test_syncing_a_directory_refuses_what_is_not_one(tmp_path: Path) -> None:
    sync_directory(tmp_path)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        sync_directory(tmp_path / "file")
