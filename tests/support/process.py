"""``congvu serve`` as a real process, with its JSON log lines readable by tests."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CONGVU = [sys.executable, "-m", "congvu"]


class ServeProcess:
    """A running ``congvu serve``; ``wait_for(event)`` reads its log until that event.

    It runs in a session and process group of its own, so that :meth:`stop` and
    :meth:`kill_all` end its workers too, even those its main process left behind.
    """

    def __init__(
        self, config: Path, *, workers: int = 1, env: dict[str, str] | None = None,
    ) -> None:
        self.process = subprocess.Popen(
            [*CONGVU, "serve", "--config", str(config), "--workers", str(workers)],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
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
        """SIGKILL the service and its workers at once."""
        self._kill_group()
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, wait for the exit code, and SIGKILL whatever of its process group
        is left (workers of a main process that was killed, or that did not drain in
        30 s); safe to call again, and after :meth:`kill_all`."""
        if self.process.returncode is not None:
            return self.process.returncode
        pidfd = os.pidfd_open(self.process.pid)
        try:
            self.process.send_signal(signal.SIGTERM)
            # readable once it has exited; not reaped yet, so its pid, hence its group's
            # id, cannot be reused before the group is killed
            select.select([pidfd], [], [], 30)
        finally:
            os.close(pidfd)
            self._kill_group()
        return self.process.wait(timeout=30)

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group has exited
            os.killpg(self.process.pid, signal.SIGKILL)


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
