"""The filter's text index written after the reply (archive/backlog.py): messages
indexed a batch at a time by a thread of the process, each batch's names in a journal
synced with its files, and what a crash left in a journal indexed when the archive is
next opened (or rebuilt), never what a running process still holds."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive import Archive, parse_query
from archive.backlog import DIRECTORY, MOST, IndexBacklog
from archive.index import SqliteTextIndex
from policies import searchable_text

from .test_backends import sha

ROOT = Path(__file__).resolve().parents[2]


def letters(count: int, word: str = "quyettoan") -> list[bytes]:
    return [f"Subject: {word} {n}\r\nFrom: <vanthu@stc.lamdong.gov.vn>\r\n\r\nKinh gui so "
            f"{n}.\r\n".encode() for n in range(count)]


def opened(root: Path, index: SqliteTextIndex | None = None) -> Archive:
    """The archive as the filter opens it (its index, the reader of text)."""
    return Archive.open(root, index=index or SqliteTextIndex(root / "index.sqlite3"),
                        reader=searchable_text)


def journals(root: Path) -> list[Path]:
    directory = root / DIRECTORY
    return sorted(directory.iterdir()) if directory.is_dir() else []


def held(archive: Archive, names: list[str]) -> set[str]:
    assert archive.index is not None
    return archive.index.indexed(names)


def test_messages_wait_in_a_journal_until_their_batch_is_indexed(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    archive = opened(root)
    archive.index_later(batch=10_000, delay=3600.0)
    names = [o.sha256 for o in archive.put_many(letters(3))]
    assert held(archive, names) == set()  # the reply did not wait for the index
    [journal] = journals(root)
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert journal.read_text().split() == names
    assert archive.waiting_to_index() == set(names)
    archive.flush_index()
    assert held(archive, names) == set(names)
    assert archive.index is not None
    assert archive.index.matching(parse_query("quyettoan"), names) == set(names)
    assert journals(root) == []  # every name indexed, its journal removed
    assert archive.waiting_to_index() == set()
    later = archive.put(letters(1, "dutoan")[0]).sha256  # a new journal for the next
    assert archive.waiting_to_index() == {later}
    archive.stop_indexing()
    assert held(archive, [later]) == {later} and journals(root) == []


class _Signalling(SqliteTextIndex):
    """The index, saying when a transaction has added rows (the thread's work is seen
    without waiting on the clock)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.added = threading.Event()
        self.batches: list[int] = []

    def add(self, rows: object) -> int:
        added = super().add(rows)  # type: ignore[arg-type]
        self.batches.append(len(rows))  # type: ignore[arg-type]
        self.added.set()
        return added


@contextlib.contextmanager
def indexing_later(root: Path, *, batch: int, delay: float
                   ) -> Iterator[tuple[Archive, _Signalling]]:
    """The filter's archive at ``root`` (its thread indexing ``batch`` at a time or
    after ``delay``), stopped at the end."""
    index = _Signalling(root / "index.sqlite3")
    archive = opened(root, index)
    archive.index_later(batch=batch, delay=delay)
    try:
        yield archive, index
    finally:
        archive.stop_indexing()


def test_the_thread_indexes_once_a_batch_is_waiting(tmp_path: Path) -> None:
    with indexing_later(tmp_path / "archive", batch=4, delay=3600.0) as (archive, index):
        first = [o.sha256 for o in archive.put_many(letters(3))]
        assert not index.added.is_set() and held(archive, first) == set()
        more = archive.put(letters(1, "dutoan")[0]).sha256  # the fourth: a batch
        assert index.added.wait(30.0)
        assert index.batches == [4]
        assert held(archive, [*first, more]) == {*first, more}
    assert journals(tmp_path / "archive") == []


def test_the_first_message_waits_at_most_the_delay(tmp_path: Path) -> None:
    with indexing_later(tmp_path / "archive", batch=10_000, delay=0.0) as (archive, index):
        name = archive.put(letters(1)[0]).sha256
        assert index.added.wait(30.0)
        assert held(archive, [name]) == {name}


_CRASHING = """
import os, sys
from pathlib import Path
from archive import Archive
from archive.index import SqliteTextIndex
from policies import searchable_text
root = Path(sys.argv[1])
archive = Archive.open(root, index=SqliteTextIndex(root / "index.sqlite3"),
                       reader=searchable_text)
archive.index_later(batch=10_000, delay=3600.0)
for n in range(int(sys.argv[2])):
    archive.put(f"Subject: quyettoan {n}\\r\\n\\r\\nKinh gui so {n}.\\r\\n".encode())
os._exit(0)  # no close, nothing flushed: as a killed process ends
"""


def _crashed(root: Path, count: int) -> list[str]:
    """Store ``count`` letters in a process that ends before indexing any; their names."""
    subprocess.run([sys.executable, "-c", _CRASHING, str(root), str(count)], cwd=ROOT,
                   check=True, env={**os.environ, "CONGVU_CONFIG": "none"})
    return [sha(f"Subject: quyettoan {n}\r\n\r\nKinh gui so {n}.\r\n".encode())
            for n in range(count)]


@pytest.mark.slow  # a fresh interpreter
@pytest.mark.parametrize("then", ["open", "rebuild"])
def test_what_a_crash_left_to_index_is_indexed_when_the_archive_is_next_opened(
        tmp_path: Path, then: str, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "archive"
    names = _crashed(root, 5)
    [journal] = journals(root)
    # a name of a batch that failed (never stored), and a line the crash cut short
    with journal.open("a") as handle:
        handle.write("0" * 64 + "\n" + "ab12")
    bare = Archive(root, index=SqliteTextIndex(root / "index.sqlite3"))
    assert held(bare, names) == set()
    assert bare.waiting_to_index() == {*names, "0" * 64}  # the console: waiting, not lost
    with caplog.at_level(logging.WARNING, logger="congvu.archive"):
        if then == "open":
            archive = opened(root)
        else:
            archive = bare
            done = archive.reindex(searchable_text)
            assert (done.added, done.unreadable) == (5, 0)
    assert held(archive, [*names, "0" * 64]) == set(names)
    assert journals(root) == []
    assert "indexed what 1 journal(s) of stopped processes" in caplog.text


def test_a_running_process_keeps_its_journal(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    running = opened(root)
    running.index_later(batch=10_000, delay=3600.0)
    name = running.put(letters(1)[0]).sha256
    [journal] = journals(root)
    other = opened(root)  # another worker starting: the journal is locked, so left
    assert other.catch_up_index() == 0
    assert journals(root) == [journal] and held(other, [name]) == set()
    running.stop_indexing()
    assert held(other, [name]) == {name} and journals(root) == []


def test_a_failed_index_leaves_its_journal_to_the_next_start(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "archive"
    Archive.open(root)
    broken = root / "index.sqlite3"
    broken.write_bytes(b"not a database, and never one" * 100)
    archive = Archive(root, index=SqliteTextIndex(broken), reader=searchable_text)
    archive.index_later(batch=10_000, delay=3600.0)
    stored = archive.put(letters(1)[0])
    with caplog.at_level(logging.ERROR, logger="congvu.archive"):
        archive.stop_indexing()
    assert archive.get(stored.sha256) == letters(1)[0]  # the mail is kept all the same
    assert "archive-index-failed: 1 message(s) archived but not indexed" in caplog.text
    assert len(journals(root)) == 1
    broken.unlink()  # the administrator mends it; the filter starts again
    assert held(opened(root), [stored.sha256]) == {stored.sha256}
    assert journals(root) == []


def test_a_stopped_backlog_starts_its_thread_again(tmp_path: Path) -> None:
    with indexing_later(tmp_path / "archive", batch=1, delay=3600.0) as (archive, index):
        archive.put(letters(1)[0])
        assert index.added.wait(30.0)
    index.added.clear()
    name = archive.put(letters(1, "kehoach")[0]).sha256  # stored after the stop
    try:
        assert index.added.wait(30.0)
        assert held(archive, [name]) == {name}
    finally:
        archive.stop_indexing()
    assert journals(tmp_path / "archive") == []


def _in_journals(root: Path, fd: int) -> bool:
    """Whether ``fd`` is a file of the journals' directory (named or already removed)."""
    return os.readlink(f"/proc/self/fd/{fd}").startswith(str(root / DIRECTORY))


def test_a_new_journal_is_locked_before_a_catch_up_can_find_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another worker's catch-up scans the journals just as this one makes its first: a
    # journal it found unlocked it would take for a stopped process's and remove, and
    # the names written to it next would be in no file a crash leaves.
    root = tmp_path / "archive"
    running = opened(root)
    running.index_later(batch=10_000, delay=3600.0)
    other = opened(root)
    flock, caught = fcntl.flock, []

    def catch_up_first(fd: int, operation: int) -> None:
        if not caught and _in_journals(root, fd):
            caught.append(-1)  # the catch-up's own locks go through
            caught[0] = other.catch_up_index()
        flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", catch_up_first)
    name = running.put(letters(1)[0]).sha256
    monkeypatch.undo()
    assert caught == [0]
    [journal] = journals(root)
    assert journal.read_text().split() == [name]
    running.stop_indexing()
    assert held(running, [name]) == {name} and journals(root) == []


def test_a_journal_done_with_is_removed_before_its_lock_is_let_go(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # Once its lock goes, another worker's catch-up would take a journal still there
    # for a stopped process's: it would read it again and this process fail to remove it.
    root = tmp_path / "archive"
    running = opened(root)
    running.index_later(batch=10_000, delay=3600.0)
    name = running.put(letters(1)[0]).sha256
    other = opened(root)
    close, caught = os.close, []

    def catch_up_after(fd: int) -> None:
        ours = _in_journals(root, fd)
        close(fd)
        if ours and not caught:
            caught.append(-1)  # the catch-up's own descriptors close as they do
            caught[0] = other.catch_up_index()

    monkeypatch.setattr(os, "close", catch_up_after)
    with caplog.at_level(logging.WARNING, logger="congvu.archive"):
        running.flush_index()
    monkeypatch.undo()
    assert caught == [0]
    assert held(running, [name]) == {name} and journals(root) == []
    assert "could not be removed" not in caplog.text
    running.stop_indexing()


def test_flush_indexes_more_than_one_transaction_holds(tmp_path: Path) -> None:
    index = SqliteTextIndex(tmp_path / "index.sqlite3")
    index.create()
    backlog = IndexBacklog(tmp_path / DIRECTORY, index, lambda names: None,
                           batch=10_000, delay=3600.0)
    rows = [(f"{n:064x}", f"tu{n}") for n in range(MOST + 1)]
    names = [name for name, _ in rows]
    backlog.queue(backlog.note(names), rows)  # as a batch of the archive hands them over
    try:
        backlog.flush()
        assert index.indexed(names) == set(names)
        assert journals(tmp_path) == []
    finally:
        backlog.close()


def test_a_new_journal_never_replaces_one_under_the_same_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    # a stopped process of the same id left a journal its random part happens to repeat
    index = SqliteTextIndex(tmp_path / "index.sqlite3")
    backlog = IndexBacklog(tmp_path / DIRECTORY, index, lambda names: None)
    (tmp_path / DIRECTORY).mkdir(mode=0o700)
    left = tmp_path / DIRECTORY / f"{os.getpid()}.0badcafe.names"
    left.write_text("a" * 64 + "\n")
    monkeypatch.setattr(secrets, "token_hex", lambda _: "0badcafe")
    with caplog.at_level(logging.ERROR, logger="congvu.archive"):
        assert backlog.note(["b" * 64]) is None  # the batch goes without one (logged)
    assert left.read_text() == "a" * 64 + "\n"
    assert journals(tmp_path) == [left]
    assert "not written to the index's journal" in caplog.text


def _in_a_child(work: object) -> int:
    """Run ``work`` in a forked child of this process; its exit status (1: it raised)."""
    pid = os.fork()
    if pid == 0:  # the child: whatever happens, it ends here
        code = 1
        try:
            work()  # type: ignore[operator]
            code = 0
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.parametrize("first", ["queue", "forget"])
def test_a_forked_child_starts_afresh_whichever_call_comes_first(
        tmp_path: Path, first: str) -> None:
    # The filter builds its archive, then forks its workers: what the parent's backlog
    # held (its thread, locks, rows and journals) is not the child's.
    index = SqliteTextIndex(tmp_path / "index.sqlite3")
    index.create()
    backlog = IndexBacklog(tmp_path / DIRECTORY, index, lambda names: None,
                           batch=10_000, delay=3600.0)
    parents = ["a" * 64]
    journal = backlog.note(parents)
    backlog.queue(journal, [(parents[0], "cua cha")])  # the parent's thread runs
    backlog.flush()
    waiting = backlog.note(["b" * 64])  # the parent's journal, still waiting
    backlog.flush()  # sealed: the next batch writes another
    [left] = journals(tmp_path)
    rows = [(f"{n:064x}", f"tu{n}") for n in range(3)]

    def queue_then_flush() -> None:
        backlog.queue(None, rows)  # the child's first call
        backlog.flush()
        assert index.indexed([n for n, _ in rows]) == {n for n, _ in rows}
        backlog.close()

    def forget() -> None:
        backlog.forget(waiting, 1)  # names the parent's journal: not the child's to drop

    try:
        assert _in_a_child(queue_then_flush if first == "queue" else forget) == 0
        assert journals(tmp_path) == [left]  # the parent's journal is still there
        assert left.read_text() == "b" * 64 + "\n"
    finally:
        backlog.close()


def test_a_journal_a_crash_left_half_made_is_removed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # a crash between a journal's making (under <pid>.<hex>.new) and its own name
    root = tmp_path / "archive"
    directory = root / DIRECTORY
    directory.mkdir(parents=True, mode=0o700)
    ended = subprocess.Popen(["true"])
    ended.wait()  # a stopped process's pid
    stray = directory / f"{ended.pid}.0badcafe.new"
    stray.touch()
    held_open = directory / f"{ended.pid}.1badcafe.new"  # a child it forked holds it
    held_open.touch()
    making = directory / f"{os.getpid()}.2badcafe.new"  # a running process, before its lock
    making.touch()
    fd = os.open(held_open, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with caplog.at_level(logging.WARNING, logger="congvu.archive"):
            opened(root)
        assert set(directory.iterdir()) == {held_open, making}
        assert "removed 1 half-made journal(s)" in caplog.text
    finally:
        os.close(fd)


def _left_by_a_stopped_process(root: Path, names: list[str]) -> Path:
    """A journal no process holds, naming ``names``: what a killed worker leaves."""
    directory = root / DIRECTORY
    directory.mkdir(mode=0o700, exist_ok=True)
    journal = directory / "999999.0badcafe.names"
    journal.write_text("".join(f"{name}\n" for name in names))
    return journal


@pytest.mark.parametrize("damage", ["corrupt", "changed"])
def test_a_message_the_catch_up_cannot_read_is_logged(
        tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "archive"
    bare = Archive.open(root)  # stored without the index, as a batch before a crash
    good, bad = (o.sha256 for o in bare.put_many(letters(2)))
    path = bare.path_of(bad)
    if damage == "corrupt":
        path.write_bytes(b"not a zstd frame")
    else:  # a valid object of other bytes under its name
        path.write_bytes(bare.path_of(good).read_bytes())
    journal = _left_by_a_stopped_process(root, [good, bad])
    with caplog.at_level(logging.ERROR, logger="congvu.archive"):
        archive = opened(root)
    assert held(archive, [good, bad]) == {good}
    assert not journal.exists()
    [line] = [r.getMessage() for r in caplog.records
              if r.getMessage().startswith("archive-index-failed")]
    assert "stopped process" in line and bad in line
