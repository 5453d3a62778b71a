"""The switch to WAL mode waits for another process's lock instead of failing at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailbase import use_wal


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[tuple[Path, sqlite3.Connection]]:
    """A new rollback-journal file whose exclusive lock another connection holds."""
    path = tmp_path / "store.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    yield path, holder
    holder.close()


def _open_together(path: str, barrier: Any, answers: Any) -> None:
    conn = sqlite3.connect(path, timeout=5)
    barrier.wait()
    try:
        answers.put(use_wal(conn, wait_seconds=30))
    except sqlite3.Error as exc:
        answers.put(repr(exc))


@pytest.mark.slow
def test_two_processes_opening_a_new_file_together_both_get_wal(tmp_path: Path) -> None:
    # without the wait, about one opening in four failed "database is locked" here
    forked = multiprocessing.get_context("fork")
    answers = []
    for round_ in range(40):
        path = str(tmp_path / f"store{round_}.sqlite3")
        barrier, queue = forked.Barrier(2), forked.Queue()
        openers = [forked.Process(target=_open_together, args=(path, barrier, queue))
                   for _ in range(2)]
        for opener in openers:
            opener.start()
        answers += [queue.get(timeout=60) for _ in openers]
        for opener in openers:
            opener.join(60)
    assert set(answers) == {"wal"}


def test_the_switch_waits_for_the_lock_and_then_succeeds(
        locked: tuple[Path, sqlite3.Connection]) -> None:
    path, holder = locked
    # timeout=0: no busy handler, so only use_wal's own wait can succeed
    conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
    paused = threading.Event()

    def watch(frame: object, event: str, arg: object) -> None:
        # use_wal pauses only after a "locked": release the lock once it has
        if event == "c_call" and arg is time.sleep:
            paused.set()

    result: list[str] = []

    def switch() -> None:
        sys.setprofile(watch)
        result.append(use_wal(conn, wait_seconds=60))

    switcher = threading.Thread(target=switch)
    switcher.start()
    assert paused.wait(60)
    holder.execute("COMMIT")
    switcher.join(60)
    assert result == ["wal"]
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_lock_held_past_the_wait_is_the_database_error(
        locked: tuple[Path, sqlite3.Connection]) -> None:
    path, _ = locked
    conn = sqlite3.connect(path, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        use_wal(conn, wait_seconds=0.05)


def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "a.sqlite3")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError):
        use_wal(conn, wait_seconds=60)


def test_an_in_memory_database_reports_its_mode() -> None:
    assert use_wal(sqlite3.connect(":memory:"), wait_seconds=1) == "memory"
