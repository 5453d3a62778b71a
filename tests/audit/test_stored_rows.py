"""Every stored byte of a varied set of events, frozen (tests/data/audit-stored/rows.json).

The chain vectors pin the hashed text of six events; this pins everything a write
stores, on both backends: each event's columns and hash, the query indexes
(memberships, recipients, attachments, the search words) and the report's summary,
for records that take every path of the rows' making (Vietnamese and undecodable
text, many recipients with and without units, documents with their signatures and
completeness, an edXML package, authentication results with DMARC dispositions and
reason codes, violations with nested reasons, raw headers, mail sent as another unit,
archived messages, a forgery, a held message released) and their completions, written
in batches as the filter writes them (records alone, completions alone, a record with
its completion, administrative events). The file was written by the code before the
writer's work was cut down: the rows a change makes must be these.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audit.config import AuditConfig
from audit.store import AuditLog
from support.stored_events import batches

FROZEN = Path(__file__).parents[1] / "data" / "audit-stored" / "rows.json"
_TABLES = {
    "events": "SELECT * FROM events ORDER BY seq",
    "memberships": "SELECT * FROM memberships ORDER BY record_id, unit_id, role",
    "recipients": "SELECT * FROM recipients ORDER BY record_id, position",
    "attachments": "SELECT * FROM attachments ORDER BY record_id, position",
    "summary_sent": "SELECT * FROM summary_sent ORDER BY day, stretch, unit, mailbox",
    "summary_received": "SELECT * FROM summary_received ORDER BY day, stretch, units",
    "summary_boxes": "SELECT * FROM summary_boxes ORDER BY day, stretch, units, unit, address",
    "summary_talk": "SELECT * FROM summary_talk ORDER BY day, stretch, side, units, address",
    "summary_state": "SELECT * FROM summary_state",
}
_SEARCH = {"sqlite": "SELECT rowid, text FROM search ORDER BY rowid",
           "postgresql": "SELECT seq, words FROM search ORDER BY seq"}


def stored(config: AuditConfig, backend: str) -> dict[str, list[list[Any]]]:
    """Write :func:`batches` to a new store and read back every table they fill."""
    with AuditLog.open(config) as log:
        for batch in batches():
            results = log.write_each(batch)
            assert all(isinstance(r, int) for r in results), results
        report = log.verify()
        assert report.is_intact, report.describe()
        # the shared store links most batches in the database server: that path too
        assert backend == "sqlite" or getattr(log, "linked_in_server", 0) > 0
        conn = log.db.conn
        tables = {name: [list(row) for row in conn.execute(sql).fetchall()]
                  for name, sql in {**_TABLES, "search": _SEARCH[backend]}.items()}
    return json.loads(json.dumps(tables, ensure_ascii=False))  # as the file holds them


def test_every_stored_row_is_as_frozen(backend_config: AuditConfig) -> None:
    backend = "sqlite" if backend_config.url is None else "postgresql"
    frozen = json.loads(FROZEN.read_text("utf-8"))[backend]
    found = stored(backend_config, backend)
    for table, rows in frozen.items():
        assert found[table] == rows, table
    assert found.keys() == frozen.keys()
