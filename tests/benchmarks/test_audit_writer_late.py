"""Benchmark: two workers' audit writers on one SQLite store, the writes queued while a
writer waits for the lock joining its transaction (``AuditLog.write_joining``), against
the same writers leaving them for the next one.

Each worker process (forked, as ``congvu serve`` makes them) has its writer and 10
sessions, each a record, a wait for the next hop (1-4 ms), then the completion; the
two ways alternate run by run. Figures: each way's process CPU a message (record and
completion, the writer's thread included), writes a transaction and messages a second,
medians over the runs. Prints figures; asserts only that every write was committed.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import statistics
import time
from multiprocessing.queues import Queue
from pathlib import Path

from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from audit.writer import AuditWriter
from support.audit import make_record

RUNS = 4
SESSIONS = 10
MESSAGES = 100  # a session's


def _worker(config: AuditConfig, joins_late: bool, out: Queue[tuple[float, float, float]]
            ) -> None:
    async def main() -> None:
        writer = AuditWriter(config)
        writer.start()
        assert isinstance(writer._log, AuditLog)
        writer._log.joins_late = joins_late  # the baseline: the store as it was before
        record = make_record(recipient_units=[], envelope_recipients=["sink@example.org"],
                             attachments=[])

        async def session(n: int) -> None:
            rng = random.Random(n)
            for _ in range(MESSAGES):
                seq = await writer.record(record)
                await asyncio.sleep(rng.uniform(0.001, 0.004))  # the next hop
                await writer.complete(Completion(record_id=seq, outcome=Fate.RELAYED,
                                                 reply="250 2.0.0 Ok"))

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(session(n) for n in range(SESSIONS)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        await writer.close()
        assert writer.written == 2 * SESSIONS * MESSAGES
        out.put((1000 * cpu / (SESSIONS * MESSAGES), writer.written / writer.batches,
                 SESSIONS * MESSAGES / wall))

    asyncio.run(main())


def _run(work: Path, joins_late: bool) -> list[tuple[float, float, float]]:
    config = AuditConfig(path=work / "audit.sqlite3", keys_dir=work / "keys")
    AuditLog.open(config).close()
    forks = multiprocessing.get_context("fork")
    out: Queue[tuple[float, float, float]] = forks.Queue()
    workers = [forks.Process(target=_worker, args=(config, joins_late, out)) for _ in range(2)]
    for each in workers:
        each.start()
    found = [out.get(timeout=300) for _ in workers]
    for each in workers:
        each.join(timeout=60)
        assert each.exitcode == 0
    return found


def test_writes_joining_once_the_lock_is_held(tmp_path: Path) -> None:
    figures: dict[bool, list[tuple[float, float, float]]] = {False: [], True: []}
    for n in range(RUNS):
        for joins_late in (False, True):
            work = tmp_path / f"{n}-{joins_late}"
            work.mkdir()
            figures[joins_late].extend(_run(work, joins_late))
    medians = {way: [statistics.median(f[i] for f in found) for i in range(3)]
               for way, found in figures.items()}
    (cpu, per, rate), (cpu_late, per_late, rate_late) = medians[False], medians[True]
    print(f"\ntwo workers' audit writers, {SESSIONS} sessions each, a record and its "
          f"completion a message: late writes joining {cpu_late:.3f} ms of CPU a message, "
          f"{per_late:.1f} writes a transaction, {rate_late:.0f} messages/s a worker; "
          f"left for the next transaction {cpu:.3f} ms, {per:.1f}, {rate:.0f}/s "
          f"(CPU {cpu_late / cpu:.2f}x, messages/s {rate_late / rate:.2f}x)")
