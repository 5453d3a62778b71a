"""Benchmark: a former server's SQLite audit log copied into the shared PostgreSQL store.

20,000 messages and their completions (40,000 events, checkpoints as the filter signs
them), copied by ``audit.copy_log`` as the start of an empty live chain, then into a
store with a live chain as an imported chain; each copy verifies the log before and
the copy after, which the figures include. Then each again: a re-run, which finds the
log there, verifies and writes nothing. A cluster of its own with fsync and
synchronous_commit on, over loopback TCP. No timed assert: the figures are printed.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from audit.config import AuditConfig
from audit.importlog import copy_log
from audit.records import Completion, Fate
from audit.store import AuditLog
from support import postgres
from support.audit import T0, make_record

MESSAGES = 20_000
BATCH = 500


def _former_log(root: Path) -> AuditConfig:
    config = AuditConfig(path=root / "former" / "audit.sqlite3", keys_dir=root / "former")
    with AuditLog.open(config) as log:
        for start in range(0, MESSAGES, BATCH):
            ids = log.write([make_record(received_at=T0 + timedelta(seconds=n),
                                         subject=f"Công văn số {n}/STC")
                             for n in range(start, start + BATCH)])
            log.write([Completion(record_id=seq, outcome=Fate.RELAYED, reply="250 2.0.0 Ok")
                       for seq in ids])
    return config


def test_import_speed(durable_postgres_cluster: postgres.PostgresCluster, tmp_path: Path) -> None:
    former = _former_log(tmp_path)
    secret = postgres.password_file(tmp_path)
    for label, chain in (("as the live chain", None), ("as an imported chain", "former")):
        target = AuditConfig(url=durable_postgres_cluster.database(), password_file=secret,
                             keys_dir=tmp_path / "shared")
        if chain is not None:
            with AuditLog.open(target) as live:
                live.record(make_record(subject="the live chain's own"))
        for run in ("copy", "re-run"):
            with AuditLog.open_readonly(former.path) as source:
                started = time.perf_counter()
                outcome = copy_log(source, target, trust=former.key_trust(), chain_id=chain)
                took = time.perf_counter() - started
            assert outcome.after is not None and outcome.after.is_intact
            assert outcome.has_changed == (run == "copy")
            print(f"\n{label}, {run}: {outcome.events} events in {took:.1f} s "
                  f"({outcome.events / took:.0f} events/s, both verifies included)")
