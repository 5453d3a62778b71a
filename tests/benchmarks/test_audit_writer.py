"""Benchmark: durable audit records per second through the group commit.

Target: at least 2,000 records/s with 20 concurrent writers. Baseline in the
same run: one writer awaiting each record (one fsync per record).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from audit.config import AuditConfig
from audit.store import AuditLog
from audit.writer import AuditWriter
from support.audit import make_record

RECORDS = 10_000


async def _run(config: AuditConfig, sessions: int, per_session: int) -> tuple[float, int]:
    writer = AuditWriter(config)
    writer.start()
    records = [make_record(queue_id=f"Q{i}") for i in range(per_session)]

    async def session() -> None:
        for rec in records:
            await writer.record(rec)

    start = time.perf_counter()
    await asyncio.gather(*(session() for _ in range(sessions)))
    elapsed = time.perf_counter() - start
    await writer.close()
    return elapsed, writer.batches


def test_group_commit_throughput(tmp_path: Path) -> None:
    base = AuditConfig(path=tmp_path / "one.sqlite3", keys_dir=tmp_path / "keys")
    one, _ = asyncio.run(_run(base, 1, 500))
    config = base.model_copy(update={"path": tmp_path / "many.sqlite3"})
    many, batches = asyncio.run(_run(config, 20, RECORDS // 20))
    with AuditLog.open_readonly(config.path, trust=config.key_trust()) as log:
        report = log.verify()
    assert report.is_intact and report.events == RECORDS
    print(f"\naudit group commit: 1 writer {500 / one:,.0f} records/s (fsync each); "
          f"20 writers {RECORDS / many:,.0f} durable records/s "
          f"({RECORDS / batches:.1f} records per transaction, synchronous=FULL, WAL); "
          f"ratio {(RECORDS / many) / (500 / one):.1f}x")
