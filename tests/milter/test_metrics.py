"""Prometheus metrics summed over the worker processes."""

from __future__ import annotations

import os
import re
import signal
import smtplib
import urllib.request
from pathlib import Path

import pytest

from support.postfix import free_port
from support.process import ServeProcess, serve_with_metrics

# Each test starts `congvu serve` with two workers: fresh interpreters.
pytestmark = pytest.mark.slow


def test_metrics_count_messages_of_every_worker(tmp_path, next_hop) -> None:
    port = free_port()
    config = serve_with_metrics(tmp_path, next_hop.port, port, name="out",
                                role="outbound")
    process = ServeProcess(config, workers=2)
    try:
        process.wait_for("worker ready")
        process.wait_for("worker ready")
        for number in range(6):  # new connections: the kernel spreads them over workers
            with smtplib.SMTP("127.0.0.1", process.port) as client:
                client.sendmail("a@b.vn", [f"{number}@d.vn"],
                                b"From: a@b.vn\r\nSubject: m\r\n\r\nx\r\n")
        for _ in range(6):
            next_hop.get()
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    finally:
        assert process.stop() == 0
    page = text.decode()
    relayed = re.search(
        r'congvu_messages_total\{direction="outbound",fate="relayed",role="outbound"\} (\S+)',
        page)
    assert relayed is not None, page[:2000]
    assert float(relayed.group(1)) == 6.0
    assert "congvu_audit_commit_seconds_bucket" in page
    assert "congvu_message_seconds_count" in page


def _blocked_signals(pid: int, tid: str) -> int:
    status = Path(f"/proc/{pid}/task/{tid}/status").read_text(encoding="ascii")
    found = re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.M)
    assert found is not None, status
    return int(found.group(1), 16)


def test_every_thread_of_the_supervisor_blocks_the_signals_it_waits_for(
        tmp_path, next_hop) -> None:
    # The metrics server's thread runs beside the supervisor's sigtimedwait; a signal the
    # kernel gives that thread instead is lost (SIGCHLD: a stop that waits an hour) or
    # fatal (SIGTERM: workers left running).
    config = serve_with_metrics(tmp_path, next_hop.port, free_port(), name="out",
                                role="outbound")
    process = ServeProcess(config, workers=2)
    try:
        process.wait_for("worker ready")
        process.wait_for("worker ready")
        pid = process.process.pid
        # The main thread itself is in sigtimedwait, which unblocks what it waits for.
        threads = sorted(set(os.listdir(f"/proc/{pid}/task")) - {str(pid)})
        watched = sum(1 << (s - 1) for s in (signal.SIGTERM, signal.SIGINT,
                                             signal.SIGHUP, signal.SIGCHLD))
        masks = {tid: _blocked_signals(pid, tid) & watched for tid in threads}
    finally:
        assert process.stop() == 0
    assert threads, "the metrics server runs in a thread of its own"
    assert masks == dict.fromkeys(threads, watched)
