"""Benchmark: what reading each event's row from its hashed text costs the database
server, against the previous release's congvu_append, which was sent the row as JSON
beside the text (tests/data/audit-previous), on the same batches in the same run.

Both functions append one batch of records and roll it back, alternately, in one
session; the processor time of that session's server process is read from /proc. The
writer's side of it: building each record's row as JSON, which this release no longer
does for a batch the server links.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit.config import AuditConfig
from audit.pgstore import _rows_doc, _Shipped
from audit.pgwrite import json_members
from audit.rows import iso
from audit.store import AuditLog
from support import postgres
from support.audit import make_record

BATCH = 40
CALLS = 150
PREVIOUS = Path(__file__).parents[1] / "data" / "audit-previous" / "congvu_append-summary.sql"
_PREVIOUS_CALL = ("SELECT seqs FROM congvu_append(%s::json, %s::bytea[], %s::bytea[], "
                  "%s::json, %s::json, %s::json, %s::json, NULL, NULL, '{}', false, %s, %s, %s)")
_CALL = ("SELECT seqs FROM congvu_append(%s::bytea[], %s::bytea[], %s::json, %s::json, "
         "%s::json, %s::json, NULL, NULL, '{}', false, %s, %s, %s)")


def _cpu(pid: int) -> float:
    """Processor seconds (user and system) of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_servers_reading_of_rows_from_their_text(
        postgres_cluster: postgres.PostgresCluster, postgres_url: str, tmp_path: Path) -> None:
    config = AuditConfig(url=postgres_url, password_file=postgres.password_file(tmp_path),
                         keys_dir=tmp_path / "keys")
    with AuditLog.open(config) as log:
        log.record(make_record())  # a checkpoint signed: a batch is not due one
    shipped = [_Shipped.ship(make_record(queue_id=f"Q{n}")) for n in range(BATCH)]
    started = time.process_time()
    rows = [json_members(each.rows.event) for each in shipped]
    writer_us = (time.process_time() - started) / BATCH * 1e6
    placed = list(enumerate(shipped, 1))
    texts = [[each.prefix for each in shipped], [each.after for each in shipped]]
    indexes = [_rows_doc(placed, table)
               for table in ("memberships", "recipients", "attachments", "search")]
    events = "[" + ",".join(f'{{"seq":{n}{row}}}' for n, row in enumerate(rows, 1)) + "]"
    with postgres_cluster.admin(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute(f"SET ROLE {postgres.ROLE}")
        db.execute(PREVIOUS.read_text())  # beside this release's, as a store upgraded has it
        schedule = db.execute("SELECT every_records, every_seconds FROM checkpoints "
                              "ORDER BY seq DESC LIMIT 1").fetchone()
        assert schedule is not None
        pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
        now = iso(datetime.now(UTC))
        calls: dict[str, tuple[str, list[Any]]] = {
            "previous": (_PREVIOUS_CALL, [events, *texts, *indexes, *schedule, now]),
            "this": (_CALL, [*texts, *indexes, *schedule, now])}
        spent = dict.fromkeys(calls, 0.0)
        for n in range(CALLS):
            for name in sorted(calls, reverse=n % 2 == 1):  # each goes first half the time
                sql, params = calls[name]
                db.execute("BEGIN")
                before = _cpu(pid)
                [seqs] = db.execute(sql, params).fetchone()
                spent[name] += _cpu(pid) - before
                db.execute("ROLLBACK")
                assert len(seqs) == BATCH
    previous, this = (spent[name] / CALLS / BATCH * 1e6 for name in ("previous", "this"))
    print(f"\ncongvu_append, {CALLS} batches of {BATCH} records each way, alternating: the "
          f"server's processor time an event {this:.0f} us reading the row from its hashed "
          f"text, {previous:.0f} us taking it as sent (the previous release), ratio "
          f"{this / previous:.2f}x; the writer's JSON of a record's row, no longer built: "
          f"{writer_us:.0f} us; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          "processors")
