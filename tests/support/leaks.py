"""The processes a test run started that are still alive when it ends.

Every process the suite starts inherits ``CONGVU_TEST_RUN``, one value per run (set
before pytest-xdist starts its workers, so theirs is the same); the pytest processes
themselves register their pids. At the end, any other process that still carries the
run's value was started by a test and never stopped: a server a fixture forgot, the
workers of a killed ``congvu serve``. (Daemons that clear their environment, Postfix
and Dovecot, are stopped by their fixtures' own commands and do not show here.)
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

VARIABLE = "CONGVU_TEST_RUN"


@dataclass(frozen=True)
class Leftover:
    """A process of the run still alive at its end."""

    pid: int
    command: str


def _run_dir(token: str) -> Path:
    return Path(tempfile.gettempdir()) / f"congvu-test-run-{token}"


def mark_run() -> str:
    """This process's run value, with this process registered as one of the run's
    pytest processes: a new value, unless this is a pytest-xdist worker of the run (a
    pytest that a test starts is a run of its own, and checks only its own processes)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(VARIABLE):
        token = os.environ[VARIABLE]
    else:
        token = os.environ[VARIABLE] = uuid.uuid4().hex
    pids = _run_dir(token)
    pids.mkdir(mode=0o700, exist_ok=True)
    (pids / str(os.getpid())).touch()
    return token


def _carries(pid: int, marker: bytes) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:  # gone, or another user's
        return False
    return marker in b"\0" + environ


def _command(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace").strip()
    return "?"


def leftovers(token: str, grace: float = 10.0) -> list[Leftover]:
    """The run's processes other than pytest's still alive once each has had ``grace``
    seconds to finish exiting (a fixture's stop may return while its children end)."""
    marker = f"\0{VARIABLE}={token}\0".encode()
    ours = {int(p.name) for p in _run_dir(token).iterdir()}
    candidates = [int(entry) for entry in os.listdir("/proc")
                  if entry.isdigit() and int(entry) not in ours
                  and _carries(int(entry), marker)]
    deadline = time.monotonic() + grace
    alive = []
    for pid in candidates:
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            # readable once the process has exited
            ready, _, _ = select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(pidfd)
        if not ready and _carries(pid, marker):
            alive.append(Leftover(pid, _command(pid)))
    return alive


def kill(found: list[Leftover]) -> None:
    """SIGKILL what a run left, so the next run starts clean."""
    for leftover in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(leftover.pid, signal.SIGKILL)


def forget_run(token: str) -> None:
    """Remove the run's registry of pytest processes."""
    shutil.rmtree(_run_dir(token), ignore_errors=True)
