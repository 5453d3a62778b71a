"""A clean stop of the filter leaves a signed ``service-stop`` event in the audit chain."""

from __future__ import annotations

import sqlite3

from audit import AuditLog


def test_a_clean_stop_is_chained_and_signed(filter_server) -> None:
    running = filter_server()
    running.stop()
    again = filter_server(running.server.config)  # the same data directory, restarted
    again.stop()
    config = running.server.config.audit
    with AuditLog.open_readonly(config.path, trust=config.key_trust()) as log:
        stop, first = log.admin_events(kind="service-stop")  # newest first
        checkpoint = log.latest_checkpoint()
        report = log.verify()
    assert (first["id"], stop["id"]) == (1, 2)
    assert stop["actor"] == "system" and isinstance(stop["details"]["pid"], int)
    assert checkpoint is not None and checkpoint.seq == stop["id"]
    assert report.is_intact, report.describe()
    # Whoever removes the checkpoint that covers the stop is caught.
    with sqlite3.connect(config.path) as conn:
        conn.execute("DELETE FROM checkpoints WHERE seq = ?", (stop["id"],))
    with AuditLog.open_readonly(config.path, trust=config.key_trust()) as log:
        report = log.verify()
    assert not report.is_intact
    assert report.problem is not None
    assert report.problem.startswith(f"the service stopped cleanly at record {stop['id']}")
