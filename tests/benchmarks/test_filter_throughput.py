"""Throughput of the pass-through filter against smtp-sink and a Postfix relay.

Run by `make bench`. Prints messages/s and ratios measured in the same run; asserts
nothing about speed (the suite has no timed asserts).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support import postfix
from support.process import ServeProcess

MESSAGES, SESSIONS, SIZE = 2000, 20, 10240

reason = postfix.missing()
pytestmark = pytest.mark.skipif(reason is not None, reason=f"LOUD SKIP: {reason}")


def _rate(sink: postfix.SmtpSink, port: int, *, reuse: bool) -> float:
    target = sink.count + MESSAGES
    started = time.perf_counter()
    postfix.smtp_source(port, messages=MESSAGES, sessions=SESSIONS, size=SIZE,
                        reuse_connections=reuse)
    sink.wait_for(target)
    return MESSAGES / (time.perf_counter() - started)


PASS_THROUGH = "[pipeline]\nstages = []\naudit = false\n"


def _filter(tmp_path: Path, sink_port: int, workers: int, pipeline: str = PASS_THROUGH
            ) -> ServeProcess:
    config = tmp_path / f"filter-{workers}-{len(pipeline)}.toml"
    config.write_text(
        f'[service]\ndata_dir = "{tmp_path}/var"\n[[listeners]]\nname = "f"\n'
        f'role = "outbound"\nport = 0\n[next_hop]\nkind = "smtp"\nport = {sink_port}\n'
        + pipeline,
        encoding="utf-8",
    )
    process = ServeProcess(config, workers=workers)
    for _ in range(workers):
        process.wait_for("worker ready")
    return process


def test_filter_throughput_against_smtp_sink_and_postfix(tmp_path: Path) -> None:
    sink = postfix.SmtpSink()
    relay = postfix.PostfixInstance(relayhost=f"[127.0.0.1]:{sink.port}")
    relay.start()
    results: dict[str, float] = {}
    try:
        def measure(port: int, reuse: bool) -> float:
            return _rate(sink, port, reuse=reuse)

        results["smtp-sink directly"] = measure(sink.port, True)
        results["Postfix relay"] = measure(relay.port, True)
        filter2 = _filter(tmp_path, sink.port, 2)
        try:
            results["congvu, 2 workers"] = measure(filter2.port, True)
            results["congvu, 2 workers, 1 msg/connection"] = measure(filter2.port, False)
        finally:
            filter2.stop()
        filter1 = _filter(tmp_path, sink.port, 1)
        try:
            results["congvu, 1 worker"] = measure(filter1.port, True)
        finally:
            filter1.stop()
        # The embedded default pipeline: units, policy (smtp-source's bodies are plain
        # text), the audit record and its completion committed before every reply.
        default = _filter(tmp_path, sink.port, 2, pipeline="")
        try:
            results["congvu default pipeline + audit, 2 workers"] = measure(default.port, True)
        finally:
            default.stop()
    finally:
        relay.stop()
        sink.stop()
    baseline = results["Postfix relay"]
    print(f"\n{MESSAGES} messages of {SIZE} bytes over {SESSIONS} connections "
          "(smtp-source -d unless noted), pass-through pipeline unless noted, SMTP next hop:")
    print(f"{'path':42} {'msg/s':>8} {'x Postfix relay':>16}")
    for name, rate in results.items():
        print(f"{name:42} {rate:8.0f} {rate / baseline:16.2f}")
