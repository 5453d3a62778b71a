"""Where a message's CPU goes: each stage of the full default pipeline, in-process.

The race against OpenDKIM (test_postfix_race.py) measures the whole filter under load;
this one says which stage costs what. The runtime is the one ``congvu serve`` builds
from a configuration with a DKIM key and an S/MIME identity for the sender's unit
(every default stage on, the archive included); the race's message (10 KB of text
from a unit) goes through each stage in order, one message at a time, and each stage's
process CPU (every thread: the archive and the audit writer sync in threads of their
own) is summed, then the audit record and its completion. A batch of one is the worst
case for the archive's and the audit's group commits: under load they share syncs; the
archive's CPU a message is also measured with sessions storing at once. The archive's
text index, which the filter writes after the reply a batch at a time
(archive/backlog.py), is written here once every message is stored (one transaction,
where the filter writes one once 256 wait, at most 1,024: no cheaper a message) and
charged to the archive. The archive stage is also measured taking the index's words
from the pipeline's reading of the message (the header read at the door, the parts
walked once) against reading the stored bytes again, as it did before and still does
when that reading is absent.
Prints figures; asserts only that every message went through.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

from audit.records import Fate
from congvu.config import load_config
from milter.config import ListenerConfig
from milter.context import Envelope, MessageContext
from milter.direction import direction_of
from milter.pipeline import Outcome
from milter.recording import build_completion, build_record
from milter.runtime import Runtime, build_runtime
from milter.stages.archive import ArchiveStage
from policies import SharedParts
from support.unitconfig import unit_config

MESSAGES = 300
#: sessions storing at once, as the race's 20 connections over two workers
SESSIONS = 10
DOMAIN = "binhthuan.gov.vn"
SENDER = f"bench@{DOMAIN}"
BODY = "".join(f"La de da de da {i}.\r\n" for i in range(1, 600))[:10_000]


def _config(work: Path) -> Path:
    return unit_config(work, SENDER)


def _message(runtime: Runtime, listener: ListenerConfig, number: int) -> MessageContext:
    """The race's message number ``number``, as the listener hands it to the pipeline."""
    return MessageContext.received(
        (f"From: <{SENDER}>\r\nTo: <sink@example.org>\r\n"
         f"Date: Mon, 7 Dec 2026 09:00:00 +0700\r\nMessage-Id: <{number}@bench>\r\n"
         f"Subject: bench\r\n\r\n{BODY}").encode(),
        listener=listener.name, role=listener.role,
        direction=direction_of(listener.role, is_trusted_client=False),
        envelope=Envelope(mail_from=SENDER, mail_options=(), recipients=("sink@example.org",)),
        provincial=runtime.units.provincial())


async def _measure(config_path: Path) -> tuple[collections.Counter[str], int]:
    config = load_config(config_path)
    runtime = build_runtime(config)
    listener = config.listeners[0]
    spent: collections.Counter[str] = collections.Counter()
    relayed = 0
    archive = runtime.pipeline.stages[-1]
    assert isinstance(archive, ArchiveStage)
    # the index waits for the end, so its thread's CPU falls in no other stage's time
    archive.archive.index_later(batch=MESSAGES + 1, delay=3600.0)
    try:
        for number in range(MESSAGES):
            ctx = _message(runtime, listener, number)
            for stage in runtime.pipeline.stages:
                started = time.process_time()
                verdict = await stage.run(ctx)
                spent[stage.name] += time.process_time() - started
                assert not verdict.is_final, (stage.name, verdict)
            assert runtime.audit is not None
            started = time.process_time()
            record_id = await runtime.audit.record(build_record(ctx, Outcome.CONTINUE))
            await runtime.audit.complete(build_completion(record_id, Fate.RELAYED, "250 ok", 1.0))
            spent["audit record + completion"] += time.process_time() - started
            relayed += ctx.archived_sha256 is not None
        started = time.process_time()
        archive.archive.stop_indexing()
        spent["archive"] += time.process_time() - started
    finally:
        await runtime.close()
    return spent, relayed


def test_cpu_of_each_stage(tmp_path: Path) -> None:
    spent, archived = asyncio.run(_measure(_config(tmp_path)))
    assert archived == MESSAGES
    print(f"\nCPU a message, {MESSAGES} messages of 10 KB text from a unit, one at a time:")
    for name, seconds in spent.most_common():
        print(f"  {name:28} {1000 * seconds / MESSAGES:7.3f} ms")
    print(f"  {'total':28} {1000 * sum(spent.values()) / MESSAGES:7.3f} ms")


async def _archived(config_path: Path, sessions: int) -> float:
    """The archive stage's process CPU a message (every thread: its preparing, its group
    commit and its syncs), ``sessions`` sessions storing at once as a worker's do under
    load: their messages share batches."""
    config = load_config(config_path)
    runtime = build_runtime(config)
    listener = config.listeners[0]
    try:
        ready = []
        for number in range(MESSAGES):
            ctx = _message(runtime, listener, number)
            for stage in runtime.pipeline.stages[:-1]:
                assert not (await stage.run(ctx)).is_final, stage.name
            ready.append(ctx)
        archive = runtime.pipeline.stages[-1]
        assert isinstance(archive, ArchiveStage)
        waiting = list(ready)

        async def session() -> None:
            while waiting:
                assert not (await archive.run(waiting.pop())).is_final

        started = time.process_time()
        await asyncio.gather(*(session() for _ in range(sessions)))
        archive.archive.stop_indexing()  # the index written after the replies, included
        spent = time.process_time() - started
        assert all(ctx.archived_sha256 is not None for ctx in ready)
    finally:
        await runtime.close()
    return spent / MESSAGES


def test_cpu_of_the_archive_with_sessions_at_once(tmp_path: Path) -> None:
    for name in ("alone", "together"):
        (tmp_path / name).mkdir()
    alone = asyncio.run(_archived(_config(tmp_path / "alone"), 1))
    together = asyncio.run(_archived(_config(tmp_path / "together"), SESSIONS))
    print(f"\nthe archive stage's CPU a message, {MESSAGES} messages of 10 KB text: one "
          f"at a time {1000 * alone:.3f} ms, {SESSIONS} sessions at once "
          f"{1000 * together:.3f} ms ({together / alone:.2f} x)")


#: rounds of the archive stage with the pipeline's reading against without it
ROUNDS = 4


async def _reading_reused(config_path: Path) -> list[tuple[float, float]]:
    """The archive stage's process CPU a message (one at a time), taking the words from
    the pipeline's reading on the event loop, against the same stage without that
    reading (a fresh ``SharedParts``, as a quarantine release has), which reads the
    stored bytes again in a thread, as every message was before: alternating blocks of
    distinct messages, one pair a round. The index's rows wait for the end (the same
    words either way); their reading is in the figures."""
    config = load_config(config_path)
    runtime = build_runtime(config)
    listener = config.listeners[0]
    archive = runtime.pipeline.stages[-1]
    assert isinstance(archive, ArchiveStage)
    archive.archive.index_later(batch=2 * MESSAGES * ROUNDS + 1, delay=3600.0)
    block = MESSAGES // 2
    rounds = []
    try:
        for round_ in range(ROUNDS):
            spent = []
            for afresh in (False, True):
                ready = []
                for number in range(block):
                    ctx = _message(runtime, listener, (2 * round_ + afresh) * block + number)
                    for stage in runtime.pipeline.stages[:-1]:
                        assert not (await stage.run(ctx)).is_final, stage.name
                    if afresh:
                        ctx.parts = SharedParts()
                    assert (archive.reader_of(ctx) is None) is afresh
                    ready.append(ctx)
                started = time.process_time()
                for ctx in ready:
                    assert not (await archive.run(ctx)).is_final
                spent.append((time.process_time() - started) / block)
            rounds.append((spent[0], spent[1]))
    finally:
        await runtime.close()
    return rounds


def test_cpu_of_the_archive_with_the_pipelines_reading(tmp_path: Path) -> None:
    rounds = asyncio.run(_reading_reused(_config(tmp_path)))
    print(f"\nthe archive stage's CPU a message, 10 KB text signed (S/MIME, DKIM), "
          f"{MESSAGES // 2} a block, one at a time: the pipeline's reading, on the event "
          "loop, against reading the stored bytes again in a thread:")
    for reused, afresh in rounds:
        print(f"  {1000 * reused:.3f} ms against {1000 * afresh:.3f} ms "
              f"({reused / afresh:.2f} x)")
