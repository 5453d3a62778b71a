"""A directory that refuses new entries, even to root (who ignores permission bits)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """``directory`` refuses new entries for the block: mode 0500, and for root the
    immutable attribute (chattr +i, e2fsprogs)."""
    mode = directory.stat().st_mode
    os.chmod(directory, 0o500)
    immutable = os.geteuid() == 0
    if immutable:
        if shutil.which("chattr") is None:
            pytest.fail("running as root needs chattr (e2fsprogs) to make a directory "
                        "unwritable")
        subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        os.chmod(directory, mode)
