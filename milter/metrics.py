"""Prometheus metrics of the filter, summed over its worker processes.

prometheus_client's multiprocess mode keeps each worker's values in files under
``<data dir>/metrics``; the parent process serves them, summed, on
``[metrics] listen``. The mode is chosen when prometheus_client is first imported, so
:func:`prepare` must run before anything imports it; with metrics off it is never
imported and recording costs nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from audit import Fate
from milter.settings import Settings

_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds: from a fraction of a millisecond (pass-through) to the next hop's timeout.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def prepare(config: Settings) -> Path | None:
    """Set up the metrics directory (emptied: values of a previous run are stale)."""
    if config.metrics.listen is None:
        return None
    directory = config.data_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[_ENV] = str(directory)
    return directory


def serve(config: Settings) -> None:
    """Serve /metrics (the parent process, or the only one), summed over workers."""
    if config.metrics.listen is None:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    host, _, port = config.metrics.listen.rpartition(":")
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(int(port), addr=host.strip("[]"), registry=registry)


def worker_exited(config: Settings, pid: int) -> None:
    """Fold a dead worker's live gauges away (its counters stay counted)."""
    if config.metrics.listen is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class Recorder:
    """What the handler records; every method is a no-op when metrics are off."""

    def __init__(self, config: Settings) -> None:
        self.is_enabled = config.metrics.listen is not None
        self._messages: Any = None
        if not self.is_enabled:
            return
        from prometheus_client import Counter, Histogram

        self._messages = Counter(
            "congvu_messages", "Messages answered, by listener role, direction and fate.",
            ["role", "direction", "fate"])
        self._latency = Histogram(
            "congvu_message_seconds", "Time from the end of DATA to the reply.",
            ["direction"], buckets=_BUCKETS)
        self._next_hop_errors = Counter(
            "congvu_next_hop_errors", "Next hop failures and refusals, by SMTP class.",
            ["kind"])
        self._smtp_refusals = Counter(
            "congvu_smtp_refusals", "Protocol-level refusals of bad input, by reason.",
            ["reason"])
        self._audit_commit = Histogram(
            "congvu_audit_commit_seconds", "Time for an audit record or completion to commit.",
            buckets=_BUCKETS)

    def message(self, role: str, direction: str, fate: Fate, seconds: float) -> None:
        """One message answered, with its fate (as its audit completion names it)."""
        if self.is_enabled:
            self._messages.labels(role, direction, fate.value).inc()
            self._latency.labels(direction).observe(seconds)

    def next_hop_error(self, code: int) -> None:
        """The next hop refused (4xx/5xx) or failed."""
        if self.is_enabled:
            self._next_hop_errors.labels(f"{str(code)[0]}xx").inc()

    def smtp_refusal(self, reason: str) -> None:
        """The protocol layer refused bad input (milter/refusals.py names the reasons)."""
        if self.is_enabled:
            self._smtp_refusals.labels(reason).inc()

    def audit_commit(self, seconds: float) -> None:
        """One audit write committed."""
        if self.is_enabled:
            self._audit_commit.observe(seconds)
