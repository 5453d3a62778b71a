"""Benchmarks over 1,000,000 records: a unit+month query and a full chain verify.

Targets: the query under 200 ms, the verify under 60 s. The store is filled
by the bulk path in tests/support/audit.py (chained rows, no pydantic), once.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from audit.keys import KeyTrust
from audit.query import Filters
from audit.store import AuditLog
from mailbase import parse_period
from support.audit import bulk_fill

RECORDS = 1_000_000


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "million.sqlite3"
    start = time.perf_counter()
    bulk_fill(path, RECORDS)
    print(f"\n(setup: {RECORDS:,} records bulk-filled in {time.perf_counter() - start:.1f} s)")
    return path


def test_query_by_unit_and_month(million: Path) -> None:
    period = parse_period("2026-03")
    with AuditLog.open_readonly(million) as log:
        timings, totals = [], []
        for unit in ("u1", "u17", "u42", "u63", "u99"):
            filters = Filters(units=(unit,), since=period.start, until=period.end)
            start = time.perf_counter()
            page = log.query(filters)
            timings.append(time.perf_counter() - start)
            totals.append(page.total)
        report = log.report(period, ("u17",))
    # no completions in this store: the named unit is reported, with zeros
    assert all(totals) and [u.unit_id for u in report.units] == ["u17"]
    print(f"\naudit query unit+month over {RECORDS:,}: median "
          f"{1000 * statistics.median(timings):.1f} ms, worst {1000 * max(timings):.1f} ms "
          f"(first page of 50 + total of ~{statistics.mean(totals):,.0f})")
    start = time.perf_counter()
    with AuditLog.open_readonly(million) as log:
        log.report(period)
    print(f"audit report, all 100 units, one month: {time.perf_counter() - start:.2f} s")


def test_verify_a_million(million: Path) -> None:
    with AuditLog.open_readonly(million) as log:
        start = time.perf_counter()
        report = log.verify(trust=KeyTrust.from_config([], million.parent / "keys"))
        elapsed = time.perf_counter() - start
    assert report.is_intact and report.events == RECORDS
    print(f"\naudit verify over {RECORDS:,} records: {elapsed:.1f} s "
          f"({RECORDS / elapsed:,.0f} records/s)")
