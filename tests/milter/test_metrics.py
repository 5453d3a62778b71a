"""Prometheus metrics summed over the worker processes."""

from __future__ import annotations

import re
import smtplib
import urllib.request

from support.postfix import free_port
from support.process import ServeProcess, serve_with_metrics


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
