"""The audit store's reads on both backends over the same records: the unit+month query,
``audit verify`` and ``audit verify --since-verified``, at 1,000,000 and 3,000,000 records
(``CONGVU_BENCH_STORE_RECORDS``, comma-separated: other sizes; ``make bench-scale``:
10,000,000). Figures only, each backend's time and PostgreSQL's over SQLite's.

The data: :func:`~support.audit.bulk_fill`'s records (100 units writing to each other
over 12 months, chained with the store's own row hash, a checkpoint at the head), then a
tail of 10,000 records the store writes itself (``AuditLog.write``, batches of 500, a
checkpoint every 1,000 as the filter signs them), in a SQLite file; then the same rows,
hashes and checkpoints copied by COPY into a PostgreSQL database
(:func:`~support.audit.copy_to_postgres`). Written once and kept under ``build/bench/``
(or ``$CONGVU_BENCH_DATA``, tests/support/benchdata.py) with the cluster's own data
directory, which later runs start as it is: the start is printed beside what pg_dump
(custom format) and pg_restore of the same database took, the other way to keep it,
measured once when the data was written (the database kept is the restored one).

The reads are congvu's own: ``AuditLog.query`` on the configured store (PostgreSQL: a
pooled read-only session over loopback TCP, as the console's), and ``audit verify`` run
in process with and without ``--since-verified``. The incremental verify starts from the
bulk's head checkpoint, remembered in its state file as the full verify that ran before
the tail was written would have left it, so at every size it walks the same 10,000
records: the last test prints its times side by side, and they must not grow with the
log. The cluster is the tests' own (fsync off, shared_buffers 32 MB), over loopback.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.query import Filters
from audit.store import AuditLog
from audit.verified import VerifiedState, store_id
from audit.verify import checkpoints_of
from mailbase import parse_period
from support import postgres
from support.audit import T0, bulk_fill, copy_to_postgres, make_record
from support.benchdata import complete, kept

SIZES = [int(n) for n in
         os.environ.get("CONGVU_BENCH_STORE_RECORDS", "1000000,3000000").split(",")]
TAIL, TAIL_BATCH = 10_000, 500
UNITS = ("u1", "u17", "u42", "u63", "u99")
ROUNDS = 3  # of the five units' queries, after one that fills the caches
MONTH = "2026-03"
STORE, DATABASE = "audit.sqlite3", "bench"
BACKENDS = ("SQLite", "PostgreSQL")
#: what each size's kept data was written by: change it whenever the data changes
RECIPE = "audit-backends 1: bulk_fill seed 7, 100 units, 12 months; {records} + {tail} tail"
#: each size's figures, for the comparison of the incremental verifies
FIGURES: dict[int, dict[str, dict[str, float]]] = {}


def _tail(place: Path) -> None:
    """The tail, written by the store (its checkpoints signed as the filter's are)."""
    config = AuditConfig(path=place / STORE, keys_dir=place / "keys")
    with AuditLog.open(config) as log:
        for start in range(0, TAIL, TAIL_BATCH):
            log.write([make_record(queue_id=f"T{n:05d}", received_at=T0 + timedelta(seconds=n),
                                   subject=f"Công văn số {n}/STC")
                       for n in range(start, start + TAIL_BATCH)])


def _megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _dump_and_restore(cluster: postgres.PostgresCluster) -> dict[str, float]:
    """The other way to keep the database, measured: pg_dump's custom format, then the
    database dropped and restored from it by pg_restore, then VACUUM ANALYZE as the copy
    had; seconds each. The restored database is the one kept (the same rows: one copy of
    it on disk at a time, which at 10,000,000 records matters)."""
    dump = cluster.root / "bench.dump"  # the cluster's user writes it
    socket = ["-h", str(cluster.socket_dir), "-p", str(cluster.port), "-U", cluster.superuser]
    started = time.perf_counter()
    subprocess.run(cluster._command(str(cluster.bin / "pg_dump"), *socket, "-Fc",
                                    "-f", str(dump), DATABASE), check=True, capture_output=True)
    dumped = time.perf_counter()
    with cluster.admin() as conn:
        conn.execute(f"DROP DATABASE {DATABASE}")
        conn.execute(f"CREATE DATABASE {DATABASE} OWNER {postgres.ROLE}")
    restoring = time.perf_counter()
    subprocess.run(cluster._command(str(cluster.bin / "pg_restore"), *socket, "-j", "2",
                                    "-d", DATABASE, str(dump)),
                   check=True, capture_output=True)
    with cluster.admin(DATABASE) as conn:
        conn.execute("VACUUM ANALYZE")
    restored = time.perf_counter()
    facts = {"dump_s": dumped - started, "restore_s": restored - restoring,
             "dump_mb": dump.stat().st_size / 2**20}
    dump.unlink()
    return facts


def _written(records: int) -> tuple[Path, dict[str, Any]]:
    """The size's kept data: written now unless a run completed it before."""
    recipe = RECIPE.format(records=records, tail=TAIL)
    place, facts = kept(f"audit-backends-{records}", recipe)
    if facts is not None:
        return place, facts
    started = time.perf_counter()
    bulk_fill(place / STORE, records)
    _tail(place)
    tail = time.perf_counter()
    cluster = postgres.PostgresCluster(data=place / "pgdata")
    try:
        cluster.start()
        with cluster.admin() as conn:
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {postgres.ROLE}")
        copy_to_postgres(place / STORE, cluster.url(DATABASE), postgres.PASSWORD)
        copied = time.perf_counter()
        other_way = _dump_and_restore(cluster)
    finally:
        cluster.stop()
    return place, complete(place, recipe, sqlite_s=tail - started, copy_s=copied - tail,
                           written_s=copied - started, **other_way)


@contextmanager
def _stores(records: int, secrets: Path) -> Iterator[tuple[dict[str, AuditConfig],
                                                           dict[str, Any]]]:
    """Both backends' configurations of the size's kept stores, the cluster running."""
    place, facts = _written(records)
    cluster = postgres.PostgresCluster(data=place / "pgdata")
    started = time.perf_counter()
    try:
        cluster.start()
        facts = {**facts, "start_s": time.perf_counter() - started, "place": place}
        keys = place / "keys"
        configs = {"SQLite": AuditConfig(path=place / STORE, keys_dir=keys),
                   "PostgreSQL": AuditConfig(url=cluster.url(DATABASE), keys_dir=keys,
                                             password_file=postgres.password_file(secrets))}
        started = time.perf_counter()
        for config in configs.values():
            # a store kept from an earlier release brought up to date, as the filter
            # does when it starts (nothing is written when it is)
            AuditLog.open(config).close()
        facts.update(migrate_s=time.perf_counter() - started,
                     sqlite_mb=(place / STORE).stat().st_size / 2**20,
                     pg_mb=_megabytes(place / "pgdata"))
        yield configs, facts
    finally:
        cluster.stop()


def _query(config: AuditConfig) -> tuple[list[float], list[tuple[int, list[int]]]]:
    """The five units' March queries, ROUNDS times after a first round (the caches):
    each one's seconds, and what each found (its total and its first page's records)."""
    period = parse_period(MONTH)
    timings, found = [], []
    with AuditLog.open_readonly(config) as log:
        for round_ in range(ROUNDS + 1):
            for unit in UNITS:
                filters = Filters(units=(unit,), since=period.start, until=period.end)
                started = time.perf_counter()
                page = log.query(filters)
                if round_:
                    timings.append(time.perf_counter() - started)
                else:
                    found.append((page.total, [item.id for item in page.items]))
    return timings, found


def _verify(config: AuditConfig, *args: str) -> tuple[float, str]:
    """``congvu audit verify ARGS`` on ``config``'s store: its seconds and its output."""
    [group] = commands(lambda _path: config)
    assert isinstance(group, click.Group)
    started = time.perf_counter()
    result = CliRunner().invoke(group, ["verify", *args])
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    return seconds, result.stdout


def _remember_bulk_head(config: AuditConfig, records: int, state: Path) -> None:
    """The state a full verify of the bulk alone leaves: its head checkpoint."""
    with AuditLog.open_readonly(config) as log:
        head = checkpoints_of(log.db.conn)[records]
        VerifiedState(state).remember(store_id(log), head, now=datetime.now(UTC))


def _line(what: str, sqlite: float, pg: float, unit: str) -> str:
    scale, digits = (1000, 1) if unit == "ms" else (1, 2)
    return (f"  {what:<34} {scale * sqlite:9.{digits}f} {unit:2} "
            f"{scale * pg:9.{digits}f} {unit:2}  {pg / sqlite:6.2f}")


@pytest.mark.parametrize("records", SIZES, ids=[f"{n:_}" for n in SIZES])
def test_reads_on_both_backends(records: int, tmp_path: Path) -> None:
    if postgres.missing() is not None:
        pytest.fail(f"PostgreSQL cannot run here: {postgres.missing()}")
    events = records + TAIL
    figures: dict[str, dict[str, float]] = {name: {} for name in BACKENDS}
    answers = {}
    with _stores(records, tmp_path) as (configs, facts):
        for name, config in configs.items():
            timings, answers[name] = _query(config)
            figures[name]["query median"] = statistics.median(timings)
            figures[name]["query worst"] = max(timings)
        for name, config in configs.items():
            figures[name]["verify"], out = _verify(
                config, "--state", str(tmp_path / f"{name}-full.json"))
            assert f"intact: {events} events (seq 1-{events})" in out, out
        for name, config in configs.items():
            state = tmp_path / f"{name}-since.json"
            _remember_bulk_head(config, records, state)
            figures[name]["verify --since-verified"], out = _verify(
                config, "--since-verified", "--state", str(state))
            assert f"intact: {TAIL} events (seq {records + 1}-{events})" in out, out
            assert f"from the checkpoint at record {records} " in out, out
    # the same records found by both, each unit's month holding some
    assert answers["SQLite"] == answers["PostgreSQL"] and all(t for t, _ in answers["SQLite"])
    FIGURES[records] = figures
    sqlite, pg = figures["SQLite"], figures["PostgreSQL"]
    print(f"\naudit store, {records:,} bulk records + a tail of {TAIL:,} written by the store "
          f"(kept in {facts['place']}: SQLite {facts['sqlite_mb'] / 1024:.1f} GB, "
          f"PostgreSQL {facts['pg_mb'] / 1024:.1f} GB)")
    print(f"  written once in {facts['written_s']:.0f} s: SQLite (bulk and tail) "
          f"{facts['sqlite_s']:.0f} s, COPY into PostgreSQL {facts['copy_s']:.0f} s; "
          f"kept cluster started in {facts['start_s']:.1f} s, against pg_dump "
          f"{facts['dump_s']:.0f} s ({facts['dump_mb']:,.0f} MB) + pg_restore and VACUUM "
          f"ANALYZE {facts['restore_s']:.0f} s; both opened for writing (migrations) in "
          f"{facts['migrate_s']:.1f} s")
    print(f"  {'':34} {'SQLite':>12} {'PostgreSQL':>12}  PG/SQLite")
    print(_line(f"query unit+month (median of {ROUNDS * len(UNITS)})",
                sqlite["query median"], pg["query median"], "ms"))
    print(_line("query unit+month (worst)", sqlite["query worst"], pg["query worst"], "ms"))
    print(_line(f"audit verify ({events:,} events)", sqlite["verify"], pg["verify"], "s"))
    print(_line(f"verify --since-verified ({TAIL:,})", sqlite["verify --since-verified"],
                pg["verify --since-verified"], "s"))
    print(f"  load average {' '.join(f'{n:.1f}' for n in os.getloadavg())}, "
          f"{shutil.disk_usage(facts['place']).free / 2**30:.0f} GB free")


def test_incremental_verify_does_not_grow_with_the_log() -> None:
    """Printed: each size's incremental verify of the same tail, against the smallest's."""
    if len(FIGURES) < 2:
        pytest.skip("one size measured: nothing to compare (CONGVU_BENCH_STORE_RECORDS)")
    smallest = min(FIGURES)
    print(f"\naudit verify --since-verified, the same {TAIL:,}-record tail after the log:")
    for name in BACKENDS:
        base = FIGURES[smallest][name]["verify --since-verified"]
        print(f"  {name:<10} " + ", ".join(
            f"{FIGURES[n][name]['verify --since-verified']:.2f} s at {n:,} "
            f"({FIGURES[n][name]['verify --since-verified'] / base:.2f}x)"
            for n in sorted(FIGURES)))
