"""Benchmark: the writer's CPU for a completion counted from the rows it kept of its record.

The filter's completions come through the writer that appended their record, which
keeps the record's row as the report reads it (audit/reportsql.py's ``columns_of``),
so the completion's summary upkeep reads only the record's stretch and completions
back. Baseline in the same run: a second store (a file of its own) that keeps nothing
and reads each record back, as every completion did before and as a completion of
another writer's record still does. Each message is a record (one transaction) then
its completion (another), as in a batch of one; the two stores alternate message by
message; the figures are each one's median thread CPU a completion transaction, and a
record plus its completion.
Prints figures; asserts only that the summary is what a rebuild counts.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from support.audit import make_record

MESSAGES = 3000


def _summary(log: AuditLog) -> list[tuple[object, ...]]:
    return sorted(tuple(r) for table in ("summary_sent", "summary_talk")
                  for r in log.db.conn.execute(f"SELECT * FROM {table}"))


def test_completion_cpu_from_kept_rows(tmp_path: Path) -> None:
    configs = {way: AuditConfig(path=tmp_path / f"{n}.sqlite3", keys_dir=tmp_path / "keys")
               for n, way in enumerate(("kept", "read back"))}
    record = make_record(recipient_units=[], envelope_recipients=["sink@example.org"],
                         attachments=[])
    spent: dict[str, list[float]] = {"kept": [], "read back": []}
    whole: dict[str, list[float]] = {"kept": [], "read back": []}
    stores = {way: AuditLog.open(config) for way, config in configs.items()}
    stores["read back"]._messages = None  # the store as it was before it kept rows
    try:
        for n in range(MESSAGES):
            way = "kept" if n % 2 else "read back"
            store = stores[way]
            started = time.thread_time()
            seq = store.write([record.model_copy(update={"queue_id": f"Q{n}"})])[0]
            completing = time.thread_time()
            store.write(
                [Completion(record_id=seq, outcome=Fate.RELAYED, reply="250 2.0.0 Ok", ms=1.0)])
            done = time.thread_time()
            spent[way].append(done - completing)
            whole[way].append(done - started)
        for store in stores.values():
            counted = _summary(store)
            store.rebuild_summary()
            assert _summary(store) == counted and counted
    finally:
        for store in stores.values():
            store.close()
    kept, back = (statistics.median(spent[w]) * 1e6 for w in ("kept", "read back"))
    kept_all, back_all = (statistics.median(whole[w]) * 1e6 for w in ("kept", "read back"))
    print(f"\naudit completion, median thread CPU over {MESSAGES // 2} each: from the kept "
          f"rows {kept:.0f} us, reading the record back {back:.0f} us ({kept / back:.2f}x); "
          f"record and completion {kept_all:.0f} us against {back_all:.0f} us "
          f"({kept_all / back_all:.2f}x)")
