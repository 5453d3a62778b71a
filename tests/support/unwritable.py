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
    """``directory`` and every directory below it refuse new entries for the block: mode
    0500, and for root the immutable attribute too (chattr +i, e2fsprogs)."""
    directories = [directory, *(p for p in directory.rglob("*") if p.is_dir())]
    modes = {d: d.stat().st_mode for d in directories}
    for d in directories:
        os.chmod(d, 0o500)
    immutable = os.geteuid() == 0
    if immutable:
        if shutil.which("chattr") is None:
            pytest.fail("running as root needs chattr (e2fsprogs) to make a directory "
                        "unwritable")
        subprocess.run(["chattr", "+i", *map(str, directories)], check=True)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", *map(str, directories)], check=True)
        for d, mode in modes.items():
            os.chmod(d, mode)
