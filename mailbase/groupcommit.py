"""Group commit: many sessions' writes made durable by one sync, off the event loop.

A store whose durability costs a sync (fsync, syncfs, a database commit) pays it once
per batch instead of once per message: :class:`GroupCommit` owns a thread that takes
the first write queued and every other one queued by then (up to ``max_batch``),
hands them to ``commit`` in one call, and resolves each waiting session with its own
result. It waits for nothing more to join: while one batch syncs, the next one gathers,
so batches grow with the load and a lone message is never delayed.

The thread starts with the first write, not before: a service that builds its stores
and then forks its workers must not fork a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("congvu.groupcommit")

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


class GroupCommitClosed(RuntimeError):
    """A write came after :meth:`GroupCommit.close`."""


@dataclass(slots=True)
class Waiter(Generic[_Item, _Result]):
    """One queued write: what to write, and the session waiting for its outcome."""

    item: _Item
    future: asyncio.Future[_Result]
    loop: asyncio.AbstractEventLoop


_STOP = object()


def _settle_all(settled: list[tuple[asyncio.Future[_Result], _Result | Exception]]) -> None:
    for future, outcome in settled:
        if future.done():  # its session was cancelled
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class GroupCommit(Generic[_Item, _Result]):
    """Writes queued by any number of event loops, committed in batches by one thread.

    :param commit: writes a batch durably and returns one outcome per item, in order
        (an exception instance for an item that failed); an exception it raises fails
        the whole batch.
    """

    def __init__(self, commit: Callable[[Sequence[_Item]], Sequence[_Result | Exception]],
                 *, name: str, max_batch: int = 64) -> None:
        self._commit = commit
        self.name = name
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Waiter[_Item, _Result] | object] = \
            queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.batches = 0
        self.written = 0

    async def submit(self, item: _Item) -> _Result:
        """Queue ``item`` and wait until its batch is committed.

        :returns: what ``commit`` returned for it.
        :raises Exception: what ``commit`` returned or raised for it.
        :raises GroupCommitClosed: the writer is closed.
        """
        self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Result] = loop.create_future()
        self._queue.put(Waiter(item, future, loop))
        return await future

    def _start(self) -> None:
        with self._lock:
            if self._closed:
                raise GroupCommitClosed(f"{self.name}: the writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name,
                                                daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
            self._write([p for p in batch if isinstance(p, Waiter)])

    def _write(self, batch: list[Waiter[_Item, _Result]]) -> None:
        outcomes: Sequence[_Result | Exception]
        try:
            outcomes = self._commit([p.item for p in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"commit returned {len(outcomes)} outcomes for "
                                   f"{len(batch)} items")
        except Exception as exc:  # a bug or a failed sync must not strand the sessions
            log.exception("%s: a batch of %d failed", self.name, len(batch))
            outcomes = [exc] * len(batch)
        self.batches += 1
        self.written += sum(not isinstance(o, Exception) for o in outcomes)
        wake(batch, outcomes)


def wake(waiters: Sequence[Waiter[_Item, _Result]],
         outcomes: Sequence[_Result | Exception]) -> None:
    """Give each waiter its outcome (an exception is raised in its session), from any
    thread: one wake-up of each waiting event loop for all its sessions, not one a write."""
    by_loop: dict[asyncio.AbstractEventLoop,
                  list[tuple[asyncio.Future[_Result], _Result | Exception]]] = {}
    for waiter, outcome in zip(waiters, outcomes, strict=True):
        by_loop.setdefault(waiter.loop, []).append((waiter.future, outcome))
    for loop, settled in by_loop.items():
        # RuntimeError: the caller's loop is closed, nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle_all, settled)
