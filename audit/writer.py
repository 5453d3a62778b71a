"""Group commit for the SMTP service: many sessions' writes, one fsync'd transaction.

:class:`AuditWriter` owns a dedicated thread and its own :class:`~audit.store.AuditLog`.
Each ``await writer.record(rec)`` queues the write and waits; the thread takes
everything queued (up to ``group_commit_max_batch``), commits it in one transaction (WAL,
``synchronous=FULL``: one fsync per batch) and only then resolves each caller's future,
with the record id or the :class:`AuditError` milter turns into a 451.

How long a batch waits for more to join adapts to the load, within
``group_commit_max_wait_ms``: the sessions a batch answers are the likeliest to write
next, so the next batch waits until as many writes as the last one carried have joined,
and no longer. A lone session's write goes at once; twenty busy sessions make batches of
twenty, each committed as soon as the twentieth has joined, not when a fixed window
closes; more writers make larger batches, since whatever queued during a commit joins the
next one. On SQLite, what queues while the writer waits for the lock (another worker's
commit holds it through its fsync) joins the batch once the lock is taken.

``commit_delay_ms`` (PostgreSQL's commit_delay, with commit_siblings counted by the
writer): a batch about to commit waits, at most that long, for the completions of the
other messages whose record it committed and whose completion it has not seen yet (the
next hop is answering them) and is due within the delay by the usual time from a record
to its completion, as many writes as there are such messages; a message alone never
waits.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable

from audit.config import AuditConfig
from audit.errors import AuditError
from audit.interface import AuditStore, Item
from audit.records import AdminEvent, AdminKind, AuditRecord, Completion
from audit.store import AuditLog
from mailbase.groupcommit import Waiter, wake

log = logging.getLogger("congvu.audit")


_Pending = Waiter[Item, int]
_STOP = object()
# A message whose record was committed longer ago than this no longer counts as about to
# write its completion: its next hop is slow, or its session ended without one.
_OPEN_HORIZON = 1.0


class AuditWriter:
    """The asyncio-facing audit writer with group commit (one per worker process)."""

    def __init__(
        self, config: AuditConfig, *,
        open_store: Callable[[AuditConfig], AuditStore] = AuditLog.open,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock  # when records commit and completions join, for the delay
        self._open_store = open_store
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._log: AuditStore | None = None
        self.batches = 0
        self.written = 0
        self.delays = 0  # batches held by commit_delay_ms
        self.delaying = threading.Event()  # set when a batch starts to be held
        # record id -> when committed, for the messages whose completion is still to come
        self._open: dict[int, float] = {}
        # seconds from a record's commit to its completion joining a batch (a moving
        # average; None until one is seen): who is due soon, for the commit delay
        self._hop: float | None = None

    def start(self) -> None:
        """Open the store (migrating it, loading the key) and start the thread.

        :raises AuditError: the store cannot be opened (refuse to start).
        :raises KeyFileError: the checkpoint key is unusable.
        """
        if self._thread is not None:
            raise RuntimeError("AuditWriter already started")
        self._log = self._open_store(self.config)
        self._thread = threading.Thread(target=self._run, name="congvu-audit", daemon=True)
        self._thread.start()

    async def record(self, rec: AuditRecord) -> int:
        """Write one message record durably; return its id once committed.

        :raises AuditError: it was not committed (answer 451).
        """
        return await self._submit(rec)

    async def complete(self, done: Completion) -> int:
        """Write a completion durably; return its event id once committed.

        :raises AuditError: it was not committed (answer 451).
        """
        return await self._submit(done)

    async def admin(self, event: AdminEvent) -> int:
        """Write an administrative event durably; return its id once committed."""
        return await self._submit(event)

    async def service_stopped(self, *, host: str, pid: int) -> None:
        """Append the chained ``service-stop`` event of a clean stop, signed at once.

        verify reports a stop that no checkpoint covers as tampering. A failure is
        logged, not raised: the service stops anyway.
        """
        event = AdminEvent(kind=AdminKind.SERVICE_STOP, actor="system", target=host,
                           details={"pid": pid})
        try:
            await self._submit(event)
        except AuditError as exc:
            log.error("could not record the service stop in the audit log: %s", exc)

    async def _submit(self, item: Item) -> int:
        if self._thread is None or not self._thread.is_alive():
            raise AuditError("the audit writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._queue.put(_Pending(item, future, loop))
        return await future

    async def close(self) -> None:
        """Commit what is queued, stop the thread and close the store."""
        thread = self._thread
        if thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        self._thread = None

    def _run(self) -> None:
        assert self._log is not None
        store = self._log
        max_batch = self.config.group_commit_max_batch
        max_wait = self.config.group_commit_max_wait_ms / 1000
        delay = self.config.commit_delay_ms / 1000
        idle = self.config.checkpoint_every_seconds
        expected = 1  # writes the next batch waits for: as many as the last one carried
        stopping = False
        try:
            while not stopping:
                try:
                    first = self._queue.get(timeout=idle)
                except queue.Empty:
                    self._idle_checkpoint(store)
                    continue
                if first is _STOP:
                    break
                assert isinstance(first, Waiter)
                batch = [first]
                stopping = self._join(batch, expected, time.monotonic() + max_wait, max_batch)
                if not stopping and delay and (siblings := self._siblings(batch, delay)):
                    self.delays += 1
                    self.delaying.set()
                    stopping = self._join(batch, len(batch) + siblings,
                                          time.monotonic() + delay, max_batch)
                expected = len(batch)
                self._commit(store, batch)
        finally:
            self._fail_queued()
            self._final_checkpoint(store)
            store.close()

    def _commit(self, store: AuditStore, batch: list[_Pending]) -> None:
        results: list[int | AuditError]
        items = [p.item for p in batch]
        try:
            if isinstance(store, AuditLog) and store.joins_late:
                results = store.write_joining(items, lambda: self._late(batch))
            else:
                results = store.write_each(items)
        except AuditError as exc:
            log.error("audit store write failed, %d message(s) get 451: %s", len(batch), exc)
            results = [exc] * len(batch)
        except Exception as exc:  # a bug must not strand the waiting sessions
            log.exception("audit writer failed")
            results = [AuditError(f"audit writer failed: {exc}")] * len(batch)
        self.batches += 1
        self.written += sum(isinstance(r, int) for r in results)
        if self.config.commit_delay_ms:  # before the wake: a record's time is its commit's
            self._track(batch, results)
        wake(batch, results)

    def _join(self, batch: list[_Pending], wanted: int, deadline: float,
              max_batch: int) -> bool:
        """Add to ``batch`` what is queued, then wait until it holds ``wanted`` writes or
        ``deadline`` passes (up to ``max_batch``); return whether a stop came."""
        while len(batch) < max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if len(batch) >= wanted or remaining <= 0:
                    break
                try:
                    nxt = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if nxt is _STOP:
                return True
            assert isinstance(nxt, Waiter)
            batch.append(nxt)
        return False

    def _siblings(self, batch: list[_Pending], delay: float) -> int:
        """The messages whose completion is not in ``batch`` and is due within ``delay``
        (their record committed at least the usual next hop's time less ``delay`` ago):
        a message whose next hop is slow does not hold the others' writes."""
        now = self._clock()
        while self._open and next(iter(self._open.values())) < now - _OPEN_HORIZON:
            del self._open[next(iter(self._open))]
        completing = [p.item.record_id for p in batch if isinstance(p.item, Completion)]
        for rid in completing:
            if (committed := self._open.get(rid)) is not None:
                hop = now - committed
                self._hop = hop if self._hop is None else self._hop + (hop - self._hop) / 8
        due = now - (self._hop or 0.0) + delay  # committed no later than this
        return sum(committed <= due for rid, committed in self._open.items()
                   if rid not in completing)

    def _track(self, batch: list[_Pending], results: list[int | AuditError]) -> None:
        """Note the committed records whose completion is to come, and forget the
        messages this batch completed."""
        now = self._clock()
        for pending, result in zip(batch, results, strict=True):
            if isinstance(pending.item, Completion):
                self._open.pop(pending.item.record_id, None)
            elif isinstance(pending.item, AuditRecord) and isinstance(result, int):
                self._open[result] = now

    def _late(self, batch: list[_Pending]) -> list[Item]:
        """The writes queued since ``batch`` was taken, added to it (up to
        ``group_commit_max_batch``); a stop stays queued for the loop to find."""
        late: list[Item] = []
        while len(batch) < self.config.group_commit_max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(nxt, Waiter):
                self._queue.put(nxt)  # the stop: after whatever else is queued
                break
            batch.append(nxt)
            late.append(nxt.item)
        return late

    def _idle_checkpoint(self, store: AuditStore) -> None:
        try:
            store.checkpoint_if_due()
        except AuditError as exc:
            log.error("audit checkpoint failed: %s", exc)

    def _final_checkpoint(self, store: AuditStore) -> None:
        # A clean stop signs the head, so the tail written since the last scheduled
        # checkpoint is covered too.
        if self.written:
            try:
                store.checkpoint()
            except AuditError as exc:
                log.error("audit checkpoint at shutdown failed: %s", exc)

    def _fail_queued(self) -> None:
        while True:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(pending, Waiter):
                wake([pending], [AuditError("the audit writer stopped before committing "
                                            "this")])
