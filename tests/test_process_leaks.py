"""The end-of-run check finds a process a test started and left running."""

from __future__ import annotations

import os
import subprocess
import sys

from support import leaks

TEST_RUN = os.environ[leaks.VARIABLE]


def test_a_process_left_running_is_found_and_one_that_ended_is_not() -> None:
    left = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    try:
        found = {p.pid: p.command for p in leaks.leftovers(TEST_RUN, grace=0.2)}
        assert "time.sleep(600)" in found[left.pid]
        assert ended.pid not in found
        leaks.kill([leaks.Leftover(left.pid, found[left.pid])])
        left.wait(timeout=10)
        assert left.pid not in [p.pid for p in leaks.leftovers(TEST_RUN, grace=0.2)]
    finally:
        left.kill()
        left.wait()


def test_a_process_started_with_its_own_environment_is_not_the_runs() -> None:
    # (what a daemon that clears its environment looks like: its fixture stops it)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             env={"PATH": "/usr/bin:/bin"})
    try:
        assert other.pid not in [p.pid for p in leaks.leftovers(TEST_RUN, grace=0.2)]
    finally:
        other.kill()
        other.wait()
