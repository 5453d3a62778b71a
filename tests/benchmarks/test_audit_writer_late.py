"""Benchmark: two workers' audit writers on one SQLite store, the writes queued while a
writer waits for the lock joining its transaction (``AuditLog.write_joining``), against
the same writers leaving them for the next one.

Each worker process (forked, as ``congvu serve`` makes them) has its writer and 10
sessions, each a record, a wait for the next hop (1-4 ms), then the completion; the
two ways alternate run by run. Figures: each way's process CPU a message (record and
completion, the writer's thread included), writes a transaction, messages a second and
a write's time to durable (median and p99, from the session's call to its return),
medians over the runs. Prints figures; asserts only that every write was committed.

The second benchmark runs the same workers with the late join on, ``commit_delay_ms``
off against on (``CONGVU_BENCH_COMMIT_DELAYS``: the delays tried, in milliseconds,
default 1 and 2), alternating run by run. ``CONGVU_BENCH_AUDIT_SESSIONS`` sets a worker's
sessions (default 10).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
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
SESSIONS = int(os.environ.get("CONGVU_BENCH_AUDIT_SESSIONS", "10"))  # a worker's
MESSAGES = 100  # a session's
DELAYS = [float(ms) for ms in os.environ.get("CONGVU_BENCH_COMMIT_DELAYS", "1 2").split()]

# CPU ms a message, writes a transaction, messages/s, a write's ms to durable: median, p99
Figures = tuple[float, float, float, float, float]


def _worker(config: AuditConfig, joins_late: bool, out: Queue[Figures]) -> None:
    async def main() -> None:
        writer = AuditWriter(config)
        writer.start()
        assert isinstance(writer._log, AuditLog)
        writer._log.joins_late = joins_late  # the baseline: the store as it was before
        record = make_record(recipient_units=[], envelope_recipients=["sink@example.org"],
                             attachments=[])

        durable: list[float] = []

        async def session(n: int) -> None:
            rng = random.Random(n)
            for _ in range(MESSAGES):
                asked = time.perf_counter()
                seq = await writer.record(record)
                durable.append(time.perf_counter() - asked)
                await asyncio.sleep(rng.uniform(0.001, 0.004))  # the next hop
                asked = time.perf_counter()
                await writer.complete(Completion(record_id=seq, outcome=Fate.RELAYED,
                                                 reply="250 2.0.0 Ok"))
                durable.append(time.perf_counter() - asked)

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(session(n) for n in range(SESSIONS)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - started
        await writer.close()
        assert writer.written == 2 * SESSIONS * MESSAGES
        durable.sort()
        out.put((1000 * cpu / (SESSIONS * MESSAGES), writer.written / writer.batches,
                 SESSIONS * MESSAGES / wall, 1000 * statistics.median(durable),
                 1000 * durable[int(0.99 * len(durable))]))

    asyncio.run(main())


def _run(work: Path, joins_late: bool, delay_ms: float = 0.0) -> list[Figures]:
    config = AuditConfig(path=work / "audit.sqlite3", keys_dir=work / "keys",
                         commit_delay_ms=delay_ms)
    AuditLog.open(config).close()
    forks = multiprocessing.get_context("fork")
    out: Queue[Figures] = forks.Queue()
    workers = [forks.Process(target=_worker, args=(config, joins_late, out)) for _ in range(2)]
    for each in workers:
        each.start()
    found = [out.get(timeout=300) for _ in workers]
    for each in workers:
        each.join(timeout=60)
        assert each.exitcode == 0
    return found


def _medians(found: list[Figures]) -> list[float]:
    return [statistics.median(f[i] for f in found) for i in range(5)]


def _said(figures: list[float]) -> str:
    cpu, per, rate, median, p99 = figures
    return (f"{cpu:.3f} ms of CPU a message, {per:.1f} writes a transaction, "
            f"{rate:.0f} messages/s a worker, a write durable in {median:.2f} ms "
            f"(p99 {p99:.2f})")


def test_writes_joining_once_the_lock_is_held(tmp_path: Path) -> None:
    figures: dict[bool, list[Figures]] = {False: [], True: []}
    for n in range(RUNS):
        for joins_late in (False, True):
            work = tmp_path / f"{n}-{joins_late}"
            work.mkdir()
            figures[joins_late].extend(_run(work, joins_late))
    old, new = _medians(figures[False]), _medians(figures[True])
    print(f"\ntwo workers' audit writers, {SESSIONS} sessions each, a record and its "
          f"completion a message: late writes joining {_said(new)}; left for the next "
          f"transaction {_said(old)} (CPU {new[0] / old[0]:.2f}x, messages/s "
          f"{new[2] / old[2]:.2f}x)")


def test_commit_delay(tmp_path: Path) -> None:
    figures: dict[float, list[Figures]] = {delay: [] for delay in [0.0, *DELAYS]}
    for n in range(RUNS):
        for delay in figures:
            work = tmp_path / f"{n}-{delay}"
            work.mkdir()
            figures[delay].extend(_run(work, True, delay))
    old = _medians(figures[0.0])
    print(f"\ntwo workers' audit writers, {SESSIONS} sessions each, late writes joining: "
          f"no commit delay {_said(old)}")
    for delay in DELAYS:
        new = _medians(figures[delay])
        print(f"commit_delay_ms = {delay:g}: {_said(new)} (CPU {new[0] / old[0]:.2f}x, "
              f"messages/s {new[2] / old[2]:.2f}x, median {new[3] / old[3]:.2f}x, "
              f"p99 {new[4] / old[4]:.2f}x)")
