"""The audit writer's commit delay: a batch waits for the completions other messages owe,
never for a message alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.writer import AuditWriter
from support.audit import make_record

# Long enough that the test's write arrives within it on a loaded machine; the writer
# stops waiting as soon as it has joined, so the test does not last this long.
DELAY_MS = 1000


def _writer(config: AuditConfig, delay_ms: float,
            clock: Callable[[], float] = time.monotonic) -> AuditWriter:
    writer = AuditWriter(config.model_copy(update={"commit_delay_ms": delay_ms}),
                         clock=clock)
    writer.start()
    return writer


async def _held(writer: AuditWriter) -> None:
    """Return once the writer holds a batch for the delay (the guard only ends a hang)."""
    held = await asyncio.get_running_loop().run_in_executor(
        None, writer.delaying.wait, 60)
    assert held, "the writer never held the batch"


async def test_a_completion_arriving_within_the_delay_joins_the_batch(
        audit_config: AuditConfig) -> None:
    writer = _writer(audit_config, DELAY_MS)
    try:
        first = await writer.record(make_record(queue_id="A"))  # alone: committed at once
        assert (writer.batches, writer.delays) == (1, 0)
        # A second message's record: the first message owes its completion, so the
        # batch waits for it.
        second = asyncio.ensure_future(writer.record(make_record(queue_id="B")))
        await _held(writer)
        await writer.complete(Completion(record_id=first, outcome=Fate.RELAYED))
        await second
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
    writer = _writer(audit_config, DELAY_MS)
    await writer.record(make_record(queue_id="A"))
    second = asyncio.ensure_future(writer.record(make_record(queue_id="B")))
    await _held(writer)
    await writer.close()
    assert await second == 2
    assert (writer.batches, writer.written) == (2, 2)


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
