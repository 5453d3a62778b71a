"""A reload builds the new runtime, and the old runtime closes, off the event loop the
sessions share: the archive's catch-up (reading what a stopped worker's journal names)
and its last index transaction can take seconds, and every session would wait."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from archive import Archive
from archive.backlog import DIRECTORY
from milter.runtime import Runtime
from milter.stages.archive import ArchiveStage

MESSAGE = b"From: a@b.vn\r\nSubject: reload\r\n\r\nbody\r\n"  # From: the envelope sender


def _archive_of(runtime: Runtime) -> Archive:
    [stage] = [s for s in runtime.pipeline.stages if isinstance(s, ArchiveStage)]
    return stage.archive


def test_sessions_are_served_while_a_reload_and_the_old_runtime_wait_for_the_index(
        filter_server: Callable[..., Any], next_hop: Any) -> None:
    running = filter_server()
    server, loop = running.server, running.runner.loop
    archive = _archive_of(server.runtime)
    assert archive.index is not None
    # a stopped worker's journal naming a message stored and not yet indexed
    left = Archive(archive.root).put(b"Subject: quyettoan\r\n\r\nKinh gui.\r\n").sha256
    (archive.root / DIRECTORY).mkdir(mode=0o700, exist_ok=True)
    (archive.root / DIRECTORY / "999999.0badcafe.names").write_text(f"{left}\n")

    def relay() -> None:
        client = running.client()
        try:
            client.sendmail("a@b.vn", ["c@d.vn"], MESSAGE)
        finally:
            client.quit()
        next_hop.get()

    # another process holds the index's write lock: what writes it waits
    blocker = sqlite3.connect(archive.root / "index.sqlite3", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        reloading = asyncio.run_coroutine_threadsafe(server.reload(server.config), loop)
        relay()  # answered while the new runtime's catch-up waits for the index
        assert not reloading.done()
        blocker.execute("ROLLBACK")
        old = reloading.result(60)
        assert old is not None and server.runtime is not old
        new = _archive_of(server.runtime)
        assert new.index is not None and new.index.indexed([left]) == {left}

        blocker.execute("BEGIN IMMEDIATE")
        # a message the old runtime stored, waiting for its index
        waiting = archive.put(b"Subject: dutoan\r\n\r\nKinh gui.\r\n").sha256
        closing = asyncio.run_coroutine_threadsafe(old.close(), loop)
        relay()  # answered by the new runtime while the old one's index waits
        assert not closing.done()
        blocker.execute("ROLLBACK")
        closing.result(60)
        assert new.index.indexed([waiting]) == {waiting}
    finally:
        blocker.close()


def test_a_runtime_built_while_the_server_stops_is_closed(
        filter_server: Callable[..., Any]) -> None:
    running = filter_server()
    server, loop = running.server, running.runner.loop
    archive = _archive_of(server.runtime)
    left = Archive(archive.root).put(b"Subject: quyettoan\r\n\r\nKinh gui.\r\n").sha256
    (archive.root / DIRECTORY).mkdir(mode=0o700, exist_ok=True)
    (archive.root / DIRECTORY / "999999.0badcafe.names").write_text(f"{left}\n")
    first = server.runtime
    blocker = sqlite3.connect(archive.root / "index.sqlite3", isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the reload's build waits for the index
        reloading = asyncio.run_coroutine_threadsafe(server.reload(server.config), loop)
        stopping = asyncio.run_coroutine_threadsafe(server.stop(1), loop)
        blocker.execute("ROLLBACK")
        stopping.result(60)
        # once stopped, every audit writer is closed: the first runtime's by the stop,
        # the new one's by its reload, which the stop waited for
        assert [t for t in threading.enumerate() if t.name == "congvu-audit"] == []
        assert reloading.result(60) is None  # built for a server stopping: not swapped in
    finally:
        blocker.close()
    assert server.runtime is first
