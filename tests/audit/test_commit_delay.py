"""The audit writer's commit delay: a batch waits for the completions other messages owe,
never for a message alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError

from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.writer import AuditWriter
from support.audit import make_record

# What a held batch waits for is queued before it waits (_Arming), so the delay only
# bounds a test of code gone wrong; the writer stops waiting once it has joined.
DELAY_MS = 1000


def _writer(config: AuditConfig, delay_ms: float,
            clock: Callable[[], float] = time.monotonic) -> AuditWriter:
    writer = AuditWriter(config.model_copy(update={"commit_delay_ms": delay_ms}),
                         clock=clock)
    writer.start()
    return writer


class _Arming:
    """The writer's clock, which, once armed, runs ``act`` on the test's loop the first
    time it is read, and lets the writer go on only once ``act`` has queued what it
    writes. The writer reads it when it looks whether the batch it has taken should be
    held (``_siblings``): what ``act`` queues is then found by that batch's hold at
    once, never left to arrive within the delay's real time on a loaded machine."""

    def __init__(self, act: Callable[[], Awaitable[object]]) -> None:
        self.loop = asyncio.get_running_loop()
        self.act: Callable[[], Awaitable[object]] | None = act
        self.armed = False
        self.task: asyncio.Future[object] | None = None

    def __call__(self) -> float:
        if self.armed and self.act is not None:
            act, self.act = self.act, None
            asyncio.run_coroutine_threadsafe(self._queue(act), self.loop).result(60)
        return time.monotonic()

    async def _queue(self, act: Callable[[], Awaitable[object]]) -> None:
        self.task = asyncio.ensure_future(act())
        await asyncio.sleep(0)  # its first step: the write is queued


async def _acted(clock: _Arming) -> object:
    assert clock.task is not None, "the writer never looked whether to hold the batch"
    return await clock.task


async def test_a_completion_arriving_within_the_delay_joins_the_batch(
        audit_config: AuditConfig) -> None:
    first = 0
    clock = _Arming(lambda: writer.complete(Completion(record_id=first,
                                                       outcome=Fate.RELAYED)))
    writer = _writer(audit_config, DELAY_MS, clock)
    try:
        first = await writer.record(make_record(queue_id="A"))  # alone: committed at once
        assert (writer.batches, writer.delays) == (1, 0)
        # A second message's record: the first message owes its completion, so the
        # batch waits for it; the completion comes once the batch is taken.
        clock.armed = True
        assert await writer.record(make_record(queue_id="B")) == 2
        assert await _acted(clock) == 3
        assert (writer.batches, writer.written, writer.delays) == (2, 3, 1)
    finally:
        await writer.close()


async def test_a_lone_message_is_not_delayed(audit_config: AuditConfig) -> None:
    writer = _writer(audit_config, DELAY_MS)
    try:
        for n in range(3):
            rid = await writer.record(make_record(queue_id=f"L{n}"))
            await writer.complete(Completion(record_id=rid, outcome=Fate.RELAYED))
    finally:
        await writer.close()
    assert (writer.batches, writer.written, writer.delays) == (6, 6, 0)
    assert not writer.delaying.is_set()


async def test_a_message_not_due_within_the_delay_does_not_hold_the_batch(
        audit_config: AuditConfig) -> None:
    # The writer's clock, set by the test: the next hop has taken 0.9 s, so a message
    # whose record was committed just now is not due within a 100 ms delay.
    now = [0.0]
    writer = _writer(audit_config, 100, clock=lambda: now[0])
    try:
        first = await writer.record(make_record(queue_id="A"))
        now[0] = 0.9
        await writer.complete(Completion(record_id=first, outcome=Fate.RELAYED))
        await writer.record(make_record(queue_id="B"))  # open, due at 1.8
        await writer.record(make_record(queue_id="C"))  # would wait for B's completion
    finally:
        await writer.close()
    assert (writer.batches, writer.written, writer.delays) == (4, 4, 0)


async def test_zero_turns_the_delay_off(audit_config: AuditConfig) -> None:
    writer = _writer(audit_config, 0)
    try:
        first = await writer.record(make_record(queue_id="A"))
        await writer.record(make_record(queue_id="B"))  # the first still owes its completion
        await writer.complete(Completion(record_id=first, outcome=Fate.RELAYED))
    finally:
        await writer.close()
    assert (writer.batches, writer.written, writer.delays) == (3, 3, 0)


async def test_a_stop_during_the_delay_commits_the_held_batch(
        audit_config: AuditConfig) -> None:
    clock = _Arming(lambda: writer.close())
    writer = _writer(audit_config, DELAY_MS, clock)
    await writer.record(make_record(queue_id="A"))
    clock.armed = True  # the stop comes once B's batch is taken
    assert await writer.record(make_record(queue_id="B")) == 2
    await _acted(clock)
    assert (writer.batches, writer.written, writer.delays) == (2, 2, 1)


@pytest.mark.parametrize("delay_ms", [-0.5, 1000.5])
def test_the_delay_out_of_bounds_is_refused(audit_config: AuditConfig,
                                            delay_ms: float) -> None:
    with pytest.raises(ValidationError, match="commit_delay_ms"):
        AuditConfig.model_validate({**audit_config.model_dump(), "commit_delay_ms": delay_ms})


@pytest.mark.parametrize("delay_ms", [0, 1000])
def test_the_delay_within_bounds_is_taken(audit_config: AuditConfig, delay_ms: float) -> None:
    config = AuditConfig.model_validate({**audit_config.model_dump(),
                                         "commit_delay_ms": delay_ms})
    assert config.commit_delay_ms == delay_ms
