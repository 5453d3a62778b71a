"""The quarterly report of a province: 100 units, 3,000 officials on the roster,
3,000,000 records in the quarter (and 100,000 in the month before), each completed,
against the report code before use per official and the documents columns (the
commit named in BASELINE, run from `git archive` in a subprocess) on the same store in
the same run. Figures only, no timed asserts; the baseline's figures must equal ours.

The store is bulk-written (chained rows hashed with the store's own row_hash,
executemany, no pydantic): 70% of the mail is officials' (on the trusted path), 30%
from outside; half of it carries PDFs, some signed (a government, a public or an
unrecorded root; some signed twice), 2% refused, 1% deferred. Writing 3,100,000 records
takes about an hour on this 2-core machine, so the store is written once and kept for
later runs under ``build/bench/`` (or ``$CONGVU_BENCH_DATA``), named by its size, with a
marker naming its recipe written last: a run finding it complete reuses it (opened
once by this release, which brings its schema up to date, as the filter would on
starting); one finding it cut short or of another recipe writes it again.
``CONGVU_BENCH_REPORT_RECORDS`` sets the quarter's records (default 3,000,000).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import time
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path

import pytest

from audit.config import AuditConfig
from audit.report import FIELDS, Report
from audit.reportfiled import render_file
from audit.reportfmt import render
from audit.reportuse import RosterMailbox
from audit.store import AuditLog
from mailbase import parse_period, zone
from support.audit import BulkStore
from support.benchdata import complete, kept

#: The report code this benchmark compares against (the parent of the commit that
#: added use per official and the documents columns).
BASELINE = "63eaab0c672fbe94edd5aacd15ead72d8d847392"
RECORDS = int(os.environ.get("CONGVU_BENCH_REPORT_RECORDS", "3000000"))
BEFORE = 100_000
UNITS, OFFICIALS = 100, 3_000
QUARTER = "2026-Q1"
#: Runs of each report (one report over 3M records takes minutes on a busy 2-core machine).
RUNS = 1
TZ = zone("Asia/Ho_Chi_Minh")
REPO = Path(__file__).resolve().parents[2]
#: What the kept store was written by: change it whenever bulk_write's traffic changes.
RECIPE = f"report-quarter 1: {RECORDS} + {BEFORE} records, {UNITS} units, seed 12"


def official(n: int) -> str:
    return f"cb{n:04d}@u{n % UNITS}.gov.vn"


def _signature(family: str | None, serial: int) -> dict[str, object]:
    found: dict[str, object] = {
        "verdict": "valid", "reason": "chained to a trust anchor", "signer": f"Cán bộ {serial}",
        "issuer": "CN=Issuing CA,O=Ban Cơ yếu Chính phủ,C=VN", "serial": f"{serial:x}",
        "chain": ["CN=Cán bộ", "CN=Root"], "is_timestamp": False, "time_source": "claimed",
    }
    if family is not None:
        found["root_family"] = family
    return found


def _attachments(rng: random.Random, seq: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    for position in range(rng.choice((0, 0, 0, 0, 1, 1, 1, 2))):
        attachment: dict[str, object] = {
            "path": str(position + 2), "filename": f"CV {seq}-{position}.pdf",
            "declared_type": "application/pdf", "detected_type": "application/pdf",
            "size": 40_000, "sha256": f"{rng.getrandbits(256):064x}"}
        kind = rng.random()
        if kind < 0.4:
            attachment.update(document="unsigned", signatures=[])
        elif kind < 0.9:
            family = rng.choice(("gov", "gov", "public", None))
            signatures = [_signature(family, seq)]
            if kind > 0.8:  # signed and sealed
                signatures.append(_signature(family, seq + 1))
            attachment.update(document="valid", signatures=signatures)
        found.append(attachment)
    return found


def bulk_write(path: Path) -> None:
    """The quarter, and the month before, into a new store at ``path``."""
    rng = random.Random(12)
    store = BulkStore(path, flush_every=100_000)
    quarter = parse_period(QUARTER, TZ)
    start, end = quarter.start.timestamp(), quarter.end.timestamp()
    before = start - 31 * 86400
    offsets = sorted([*(rng.uniform(before, start) for _ in range(BEFORE)),
                      *(rng.uniform(start, end) for _ in range(RECORDS))])
    for offset in offsets:
        seq = store.seq + 1
        at = datetime.fromtimestamp(offset, UTC).isoformat(timespec="microseconds")
        sender_n = rng.randrange(300, OFFICIALS)  # the first 300 send nothing this quarter
        if offset < start:
            sender_n = rng.randrange(OFFICIALS)
        is_outbound = rng.random() < 0.7
        sender = official(sender_n) if is_outbound else f"van-thu@doi-tac{seq % 50}.vn"
        unit = f"u{sender_n % UNITS}" if is_outbound else None
        to_n = rng.randrange(OFFICIALS)
        to, to_unit = ((official(to_n), f"u{to_n % UNITS}") if not is_outbound
                       or rng.random() < 0.7 else ("lien-he@doanh-nghiep.vn", None))
        attachments = _attachments(rng, seq)
        detail = {
            "envelope_recipients": [to], "header_to": to, "header_cc": None,
            "header_date": None, "attachments": attachments, "violations": [],
            "authentication": [], "recipient_units": [to_unit] if to_unit else [],
        }
        if to_unit:
            detail["envelope_recipient_units"] = [to_unit]
        record = store.message({
            "at": at, "decided_at": at, "listener": "submission" if is_outbound else "mx",
            "role": "outbound" if is_outbound else "inbound",
            "direction": "outbound" if is_outbound else "inbound",
            "client_address": "10.0.0.5", "queue_id": f"Q{seq:09d}",
            "message_id": f"<{seq}@gov.vn>", "envelope_sender": sender, "header_from": sender,
            "subject": f"Công văn số {seq}", "size": 40_000, "action": "accept",
            "dkim": "pass", "smime": "pass" if is_outbound else None, "processing_ms": 12.5,
            "sender_unit": unit,
        }, detail, members=[*([(unit, "sent")] if unit else []),
                            *([(to_unit, "received")] if to_unit else [])],
            recipients=[(to, to_unit)],
            attachments=[(str(a["sha256"]), str(a["filename"]), 40_000,
                          a.get("document")) for a in attachments])
        fate = rng.random()
        store.completion(record, "rejected" if fate < 0.02 else "tempfailed" if fate < 0.03
                         else "relayed", at)
    store.close()


def roster() -> list[RosterMailbox]:
    """3,000 officials: a tenth made during the quarter, some who logged in."""
    return [RosterMailbox(
        address=official(n), unit_id=f"u{n % UNITS}", full_name=f"Cán bộ {n:04d}",
        created=date(2026, 2, 1) if n % 10 == 3 else None,
        last_login=datetime(2026, 3, 1, tzinfo=UTC) if n % 7 == 0 else None)
        for n in range(OFFICIALS)]


@pytest.fixture(scope="module")
def store() -> Path:
    """The store, written once and kept (see the module's docstring)."""
    place, facts = kept(f"report-quarter-{RECORDS}", RECIPE)
    path = place / "audit.sqlite3"
    if facts is not None:
        AuditLog.open(AuditConfig(path=path, keys_dir=place / "keys")).close()
        print(f"\n(setup: the store kept at {place} reused)")
        return path
    start = time.perf_counter()
    bulk_write(path)
    seconds = time.perf_counter() - start
    complete(place, RECIPE, written_s=round(seconds))
    print(f"\n(setup: {RECORDS + BEFORE:,} records and their completions bulk-written in "
          f"{seconds:.0f} s, kept at {place})")
    return path


_BASELINE_RUN = """
import json, sys, time
import audit
from audit.config import AuditConfig
from audit.store import AuditLog
from mailbase import parse_period, zone
assert audit.__file__.startswith(sys.argv[1]), audit.__file__
with AuditLog.open_readonly(__import__("pathlib").Path(sys.argv[2])) as log:
    start = time.perf_counter()
    report = log.report(parse_period(sys.argv[3], zone("Asia/Ho_Chi_Minh")))
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "units": len(report.units),
                  "total": {k: getattr(report.total, k) for k in sys.argv[4].split(",")}}))
"""


def baseline(tree: Path, store: Path, fields: list[str]) -> dict[str, object]:
    """One run of the baseline's report in its own interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _BASELINE_RUN, str(tree), str(store), QUARTER, ",".join(fields)],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
        text=True, check=True)
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_quarterly_report_against_the_baseline(store: Path, tmp_path: Path) -> None:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BASELINE, "audit", "mailbase"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    common = list(FIELDS[:14])  # the columns the baseline has
    period, people = parse_period(QUARTER, TZ), roster()
    timings: dict[str, list[float]] = {"baseline": [], "ours": [], "ours with the roster": []}
    reports = {}
    for _ in range(RUNS):
        old = baseline(tmp_path, store, common)
        timings["baseline"].append(float(str(old["seconds"])))
        for name, kw in (("ours", {}), ("ours with the roster", {"roster": people})):
            with AuditLog.open_readonly(store) as log:
                start = time.perf_counter()
                reports[name] = log.report(period, tz=TZ, **kw)  # type: ignore[arg-type]
                timings[name].append(time.perf_counter() - start)
    ours = reports["ours with the roster"]
    assert old["units"] == len(ours.units) == UNITS
    assert old["total"] == {k: getattr(ours.total, k) for k in common}
    assert ours.use is not None and 0 < ours.use.regular < ours.use.activated < OFFICIALS
    assert ours.total.documents_valid_gov and ours.total.documents_received_complete
    print(f"\nquarterly report, {UNITS} units, {OFFICIALS:,} officials, {RECORDS:,} records "
          f"in the quarter (median of {RUNS} run(s), same store, same run): " + "; ".join(
              f"{name} {statistics.median(t):.1f} s ({', '.join(f'{x:.1f}' for x in t)})"
              for name, t in timings.items()))
    print(f"use: {ours.use.mailboxes} mailboxes, {ours.use.activated} activated, "
          f"{ours.use.regular} regular; documents valid {ours.total.documents_valid} "
          f"(gov {ours.total.documents_valid_gov}, public {ours.total.documents_valid_public}"
          f"), received complete {ours.total.documents_received_complete}")
    rendered = render_every_format(ours)
    print("rendered from that report: " + "; ".join(
        f"{fmt} {seconds * 1000:.0f} ms ({size:,} bytes)"
        for fmt, (seconds, size) in rendered.items()))


#: Every format `audit report --format` writes: the text ones, then the filed ones.
TEXT_FORMATS, FILED_FORMATS = ("table", "csv", "json", "html"), ("xlsx", "docx")


def render_every_format(report: Report) -> dict[str, tuple[float, int]]:
    """Each format's time and size for ``report``, as `audit report --format` makes it
    (units by name, the idle officials' list with the roster), each checked for the
    province's total and a unit's name or id."""
    names = {f"u{n}": f"Sở số {n}" for n in range(UNITS)}
    found: dict[str, tuple[float, int]] = {}
    for fmt in TEXT_FORMATS + FILED_FORMATS:
        start = time.perf_counter()
        if fmt in TEXT_FORMATS:
            data = render(report, fmt, TZ.key, names).encode()
        else:
            data = render_file(report, fmt, TZ.key, names)
        found[fmt] = (time.perf_counter() - start, len(data))
        if fmt in TEXT_FORMATS:
            text = data.decode()
            assert ("Sở số 7" if fmt in ("table", "html") else "u7") in text, fmt
            assert f"{report.total.sent}" in text.replace(".", "").replace(",", ""), fmt
        else:
            assert data.startswith(b"PK"), fmt  # both are ZIP packages
    return found
