"""``congvu serve`` as a real process, with its JSON log lines readable by tests."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CONGVU = [sys.executable, "-m", "congvu"]


class ServeProcess:
    """A running ``congvu serve``; ``wait_for(event)`` reads its log until that event."""

    def __init__(
        self, config: Path, *, workers: int = 1, env: dict[str, str] | None = None,
        own_session: bool = False,
    ) -> None:
        self.process = subprocess.Popen(
            [*CONGVU, "serve", "--config", str(config), "--workers", str(workers)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=own_session,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.port = int(self.wait_for("listening")["port"])

    def _read(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            try:
                line = json.loads(raw)
            except ValueError:
                line = {"event": "raw", "text": raw.decode(errors="replace")}
            self.lines.put(line)
        self.lines.put({"event": "<exit>"})

    def wait_for(self, name: str, timeout: float = 20) -> dict[str, Any]:
        """Block until the process logs event ``name``; return that line."""
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if line.get("event") == name:
                return line
            if line.get("event") == "<exit>":
                raise AssertionError(f"process exited before {name!r}: {self.seen}")

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal to the main process."""
        self.process.send_signal(signum)

    def kill_all(self) -> None:
        """SIGKILL the service and its workers at once (needs ``own_session``)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def serve_with_metrics(tmp_path: Path, next_hop_port: int, metrics_port: int, *,
                       name: str, role: str) -> Path:
    """A congvu.toml for ``serve``: one listener ``name`` of ``role`` on a free port,
    relaying to ``next_hop_port``, with Prometheus metrics on ``metrics_port``."""
    config = tmp_path / "congvu.toml"
    config.write_text(f"""
[service]
data_dir = "{tmp_path / 'var'}"
[[listeners]]
name = "{name}"
role = "{role}"
port = 0
[next_hop]
kind = "smtp"
port = {next_hop_port}
[metrics]
listen = "127.0.0.1:{metrics_port}"
""", encoding="utf-8")
    return config
