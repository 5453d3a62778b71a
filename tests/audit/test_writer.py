"""Group commit: many sessions, few transactions; several processes, one chain."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from audit.config import AuditConfig
from audit.errors import AuditError
from audit.interface import Item
from audit.records import Completion, Fate
from audit.store import AuditLog
from audit.writer import AuditWriter
from support.audit import make_record
from support.loopthread import LoopThread

ROOT = Path(__file__).resolve().parents[2]


async def test_concurrent_sessions_share_transactions(audit_config: AuditConfig) -> None:
    writer = AuditWriter(audit_config)
    writer.start()
    try:
        async def session(n: int) -> list[int]:
            ids = []
            for _ in range(10):
                rid = await writer.record(make_record(queue_id=f"Q{n}"))
                await writer.complete(Completion(record_id=rid, outcome=Fate.RELAYED))
                ids.append(rid)
            return ids

        results = await asyncio.gather(*(session(n) for n in range(20)))
    finally:
        await writer.close()
    ids = [rid for ids in results for rid in ids]
    assert len(set(ids)) == 200
    assert writer.written == 400
    assert writer.batches < 400  # several sessions per transaction
    with AuditLog.open_readonly(audit_config.path, trust=audit_config.key_trust()) as log:
        assert log.verify().is_intact
        assert log.db.execute("SELECT count(*) FROM events").fetchone()[0] == 400
        # A clean stop signs the head.
        assert log.latest_checkpoint().seq == 400  # type: ignore[union-attr]


async def test_callers_on_several_loops_each_get_their_own_ids(
        audit_config: AuditConfig) -> None:
    # A batch wakes each waiting loop once, with the results of that loop's callers.
    writer = AuditWriter(audit_config)
    writer.start()
    other = LoopThread()

    async def session(n: int) -> list[tuple[int, str]]:
        ids = []
        for i in range(10):
            rid = await writer.record(make_record(queue_id=f"L{n}-{i}"))
            ids.append((rid, f"L{n}-{i}"))
        return ids

    async def sessions(numbers: range) -> list[list[tuple[int, str]]]:
        return await asyncio.gather(*(session(n) for n in numbers))

    try:
        elsewhere = asyncio.get_running_loop().run_in_executor(
            None, lambda: other.run(sessions(range(5))))
        here = await sessions(range(5, 10))
        results = [*await elsewhere, *here]
    finally:
        other.close()
        await writer.close()
    written = {rid: queue_id for ids in results for rid, queue_id in ids}
    assert len(written) == 100
    with AuditLog.open_readonly(audit_config.path, trust=audit_config.key_trust()) as log:
        stored = dict(log.db.execute("SELECT seq, queue_id FROM events WHERE kind = 'message'"))
    assert stored == written


async def test_failed_item_fails_only_its_caller(audit_config: AuditConfig) -> None:
    writer = AuditWriter(audit_config)
    writer.start()
    try:
        good, bad = await asyncio.gather(
            writer.record(make_record()),
            writer.complete(Completion(record_id=777, outcome=Fate.RELAYED)),
            return_exceptions=True,
        )
    finally:
        await writer.close()
    assert good == 1
    assert isinstance(bad, AuditError)


async def test_store_failure_reaches_every_waiting_caller(
    audit_config: AuditConfig, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3

    writer = AuditWriter(audit_config.model_copy(update={"busy_timeout_ms": 0}))
    writer.start()
    blocker = sqlite3.connect(audit_config.path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        results = await asyncio.gather(
            *(writer.record(make_record()) for _ in range(5)), return_exceptions=True
        )
    finally:
        blocker.rollback()
        blocker.close()
        await writer.close()
    assert all(isinstance(r, AuditError) for r in results)
    assert "audit store write failed, " in caplog.text and "get 451" in caplog.text


async def test_writes_queued_while_the_lock_is_taken_join_its_transaction(
        audit_config: AuditConfig) -> None:
    """Another process holds the lock (its commit's fsync, in the filter): the writes
    queued while the writer waits for it go in the transaction the writer was taking,
    not in one more after it."""
    import sqlite3

    taking = threading.Event()  # the writer's batch is fixed: it is taking the lock
    joined: list[Item] = []  # what joined it once the lock was held

    class Watched(AuditLog):
        def write_joining(self, items: Sequence[Item],
                          joining: Callable[[], Sequence[Item]] | None
                          ) -> list[int | AuditError]:
            def watched() -> Sequence[Item]:
                late = joining() if joining is not None else []
                joined.extend(late)
                return late

            taking.set()
            return super().write_joining(items, watched)

    # the lock is held as long as the test needs, whatever the machine's load
    writer = AuditWriter(audit_config.model_copy(update={"busy_timeout_ms": 600_000}),
                         open_store=Watched.open)
    writer.start()
    blocker = sqlite3.connect(audit_config.path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        first = asyncio.ensure_future(writer.record(make_record(queue_id="first")))
        # the guard only ends a hang
        assert await asyncio.get_running_loop().run_in_executor(None, taking.wait, 60)
        assert not first.done()  # held by the lock
        late = [asyncio.ensure_future(writer.record(make_record(queue_id=f"late{n}")))
                for n in range(3)]
        while writer._queue.qsize() < 3:  # each task queues its write on its first step
            await asyncio.sleep(0)
        blocker.rollback()
        ids = [await first, *[await each for each in late]]
    finally:
        blocker.close()
        await writer.close()
    assert ids == [1, 2, 3, 4]
    assert writer.batches == 1
    # queued after the batch was fixed, they came through the joining, not the batching
    assert [getattr(item, "queue_id", None) for item in joined] == ["late0", "late1",
                                                                    "late2"]


def test_writes_joining_once_the_lock_is_held(audit_config: AuditConfig) -> None:
    """write_joining asks for the late writes with the write lock held, appends them
    after the batch in its transaction (a completion of the batch's own record too),
    and gives their results after the batch's."""
    import sqlite3

    asked: list[str] = []

    def joining() -> list[object]:
        other = sqlite3.connect(audit_config.path, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            asked.append(str(exc))
        finally:
            other.close()
        return [Completion(record_id=1, outcome=Fate.RELAYED, reply="250 ok"),
                Completion(record_id=99, outcome=Fate.RELAYED)]

    with AuditLog.open(audit_config) as log:
        results = log.write_joining([make_record(), make_record()], joining)  # type: ignore[arg-type]
        assert log.write_joining([make_record()], lambda: []) == [4]
    assert asked == ["database is locked"]
    assert results[:3] == [1, 2, 3] and isinstance(results[3], AuditError)
    with AuditLog.open_readonly(audit_config.path, trust=audit_config.key_trust()) as log:
        assert log.verify().is_intact
        assert log.db.execute("SELECT kind, record_id FROM events WHERE seq = 3").fetchone() \
            == ("completion", 1)


async def test_writer_not_started_is_an_audit_error(audit_config: AuditConfig) -> None:
    with pytest.raises(AuditError, match="not running"):
        await AuditWriter(audit_config).record(make_record())


def test_writer_refuses_to_start_on_a_bad_store(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    writer = AuditWriter(AuditConfig(path=tmp_path / "a", keys_dir=tmp_path / "k"))
    with pytest.raises(AuditError):
        writer.start()


_CHILD = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, sys.argv[3])
    from pathlib import Path
    from audit.config import AuditConfig
    from audit.writer import AuditWriter
    from support.audit import make_record

    async def main() -> None:
        config = AuditConfig(path=Path(sys.argv[1]), keys_dir=Path(sys.argv[2]),
                             checkpoint_every_records=50)
        writer = AuditWriter(config)
        writer.start()
        async def session() -> None:
            for _ in range(40):
                await writer.record(make_record())
        await asyncio.gather(*(session() for _ in range(5)))
        await writer.close()

    asyncio.run(main())
""")


@pytest.mark.slow
def test_two_processes_write_one_chain(audit_config: AuditConfig) -> None:
    args = [str(audit_config.path), str(audit_config.keys_dir), str(ROOT / "tests")]
    children = [
        subprocess.Popen([sys.executable, "-c", _CHILD, *args], cwd=ROOT,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for child in children:
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    with AuditLog.open_readonly(audit_config.path, trust=audit_config.key_trust()) as log:
        report = log.verify()
        assert report.is_intact, report.describe()
        assert report.events == 400
        assert report.checkpoints >= 8
