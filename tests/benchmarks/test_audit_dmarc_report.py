"""What the periodic report costs: one month, all 100 units, over 1,000,000 records each
completed (relayed) with a PDF attached, first with no DMARC entries (outbound mail:
only a substring test per record for DMARC, its attachments parsed for the document
columns), then with a DMARC entry in every record (every detail parsed as JSON).
Figures only, no timed asserts."""

from __future__ import annotations

import json
import sqlite3
import statistics
import time
from pathlib import Path

import pytest

from audit.store import AuditLog
from mailbase import parse_period
from support.audit import bulk_fill

RECORDS = 1_000_000
DMARC = json.dumps([{"method": "dmarc", "operation": "verify", "result": "pass",
                     "domain": "example.org", "policy": "reject"}])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "million.sqlite3"
    start = time.perf_counter()
    bulk_fill(path, RECORDS, has_completions=True)
    print(f"\n(setup: {RECORDS:,} records bulk-filled in {time.perf_counter() - start:.1f} s)")
    return path


def _report_seconds(path: Path, runs: int = 3) -> float:
    period = parse_period("2026-03")
    timings = []
    for _ in range(runs):
        with AuditLog.open_readonly(path) as log:
            start = time.perf_counter()
            report = log.report(period)
            timings.append(time.perf_counter() - start)
    assert len(report.units) == 100
    assert report.total.documents_sent == report.total.sent > 0
    return statistics.median(timings)


def test_report_with_and_without_dmarc_entries(store: Path) -> None:
    without = _report_seconds(store)
    # the bench only: rewrite each detail with a passing DMARC entry (the chain is not
    # verified here; the report reads the detail as stored)
    conn = sqlite3.connect(store)
    with conn:
        conn.execute("UPDATE events SET detail = json_set(detail, '$.authentication', "
                     "json(?)) WHERE kind = 'message'", (DMARC,))
    conn.close()
    with_dmarc = _report_seconds(store)
    with AuditLog.open_readonly(store) as log:
        unit = log.report(parse_period("2026-03"), ("u17",)).units[0]
    assert unit.counts.dmarc_pass == unit.counts.dmarc_checked == unit.counts.received > 0
    print(f"\naudit report, all 100 units, one month of {RECORDS:,} records: "
          f"{without:.2f} s without DMARC entries, {with_dmarc:.2f} s with one in every "
          f"record ({with_dmarc / without:.2f}x)")
