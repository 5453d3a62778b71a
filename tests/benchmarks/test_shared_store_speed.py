"""Benchmark: durable audit records per second with two servers writing one chain.

Two processes, each one server's audit writer (group commit) with 20 concurrent
sessions, append to one store: a PostgreSQL database (its own cluster, fsync and
synchronous_commit on, over loopback TCP) and, as the baseline in the same run, one
SQLite file (WAL, synchronous=FULL). Target: at least 2,000 combined records/s on
PostgreSQL. The chain is verified afterwards (the report's summary with it), and no two
rows may link to one row. Run twice: records alone, and each record followed by its
completion, as the filter writes them (every relayed message has both).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from audit.chain import CheckpointSigner
from audit.config import AuditConfig
from audit.keys import KeyTrust
from audit.records import Completion, Fate
from audit.store import AuditLog
from audit.writer import AuditWriter
from support import postgres
from support.audit import make_record

SESSIONS = 20
PER_SESSION = 150
SERVERS = 2


async def _server(config: AuditConfig, go: Event, completing: bool) -> None:
    writer = AuditWriter(config)
    writer.start()
    records = [make_record(queue_id=f"Q{i}") for i in range(PER_SESSION)]

    async def session() -> None:
        for rec in records:
            record_id = await writer.record(rec)
            if completing:
                await writer.complete(Completion(record_id=record_id, outcome=Fate.RELAYED,
                                                 reply="250 2.0.0 Ok: queued"))

    await asyncio.get_running_loop().run_in_executor(None, go.wait)
    await asyncio.gather(*(session() for _ in range(SESSIONS)))
    await writer.close()


def _run_server(config: AuditConfig, go: Event, completing: bool) -> None:
    asyncio.run(_server(config, go, completing))


def _cpu_of_children() -> float:
    """Processor seconds (user and system) of this process's children waited for."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _cpu_of_server(cluster: postgres.PostgresCluster) -> float:
    """Processor seconds of the cluster's postmaster and the backends it has reaped (each
    writer's session ends with its process)."""
    pid = (cluster.data / "postmaster.pid").read_text().split()[0]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(n) for n in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _combined(configs: list[AuditConfig], completing: bool) -> tuple[float, float]:
    """Records per second of the servers together (each with its completion when
    ``completing``), from the start signal to the last, and their writers' processor
    time a record (microseconds)."""
    context = multiprocessing.get_context("fork")
    go = context.Event()
    processes = [context.Process(target=_run_server, args=(c, go, completing))
                 for c in configs]
    cpu = _cpu_of_children()
    for process in processes:
        process.start()
    AuditLog.open(configs[0]).close()  # both are up once the store is (opened by each)
    start = time.perf_counter()
    go.set()
    for process in processes:
        process.join()
        assert process.exitcode == 0
    elapsed = time.perf_counter() - start
    records = SERVERS * SESSIONS * PER_SESSION
    return records / elapsed, (_cpu_of_children() - cpu) / records * 1e6


def _check(configs: list[AuditConfig]) -> None:
    # whichever server wrote first signed the store's first checkpoint and the other
    # enrolled: a chain several servers sign is verified with all their keys pinned
    trust = KeyTrust.pinned([CheckpointSigner.load_or_create(c.keys_dir).public_key
                             for c in configs])
    with AuditLog.open_readonly(configs[0], trust=trust) as log:
        report = log.verify()
        assert report.is_intact, report.describe()
        assert "the report summary matches the records" in report.notes
        assert log.count(__import__("audit").Filters()) == SERVERS * SESSIONS * PER_SESSION
        forks = list(log.db.query("SELECT prev_hash FROM events GROUP BY prev_hash "
                                  "HAVING count(*) > 1"))
    assert forks == []


@pytest.mark.parametrize("completing", [False, True], ids=["records", "with-completions"])
def test_two_servers_durable_records_per_second(
        durable_postgres_cluster: postgres.PostgresCluster, tmp_path: Path,
        completing: bool) -> None:
    url = durable_postgres_cluster.database()
    secret = postgres.password_file(tmp_path)
    sqlite = [AuditConfig(path=tmp_path / "shared.sqlite3", keys_dir=tmp_path / f"keys{n}")
              for n in range(SERVERS)]
    pg = [AuditConfig(url=url, password_file=secret, keys_dir=tmp_path / f"pgkeys{n}")
          for n in range(SERVERS)]
    load = os.getloadavg()[0]
    baseline, baseline_cpu = _combined(sqlite, completing)
    server_cpu = _cpu_of_server(durable_postgres_cluster)
    shared, shared_cpu = _combined(pg, completing)
    server_cpu = _cpu_of_server(durable_postgres_cluster) - server_cpu
    load = max(load, os.getloadavg()[0])  # the machine's other work, which skews both
    _check(sqlite)
    _check(pg)
    records = SERVERS * SESSIONS * PER_SESSION
    # on a machine whose processors are busy with other work the rates say how much of
    # them each store got; the processor time a record says what each one costs
    each = "records, each with its completion" if completing else "records"
    print(f"\nshared audit store, {SERVERS} servers x {SESSIONS} sessions, "
          f"{records} {each}: PostgreSQL {shared:,.0f} durable "
          f"records/s (fsync, synchronous_commit on, loopback TCP); SQLite, one file, "
          f"{baseline:,.0f} records/s (WAL, synchronous=FULL); ratio {shared / baseline:.2f}x; "
          f"target 2,000 records/s {'met' if shared >= 2000 else 'NOT met'}; "
          f"processor time a record: PostgreSQL's writers {shared_cpu:.0f} us and its "
          f"server {server_cpu / records * 1e6:.0f} us, SQLite's writers {baseline_cpu:.0f} us; "
          f"load average up to {load:.1f} on {os.cpu_count()} processors")
