"""A real full disk for tests: a tmpfs of a few megabytes mounted on a test directory,
filled to the last byte (or to the last inode). Needs root; callers skip loudly when
``missing()`` says why."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def missing() -> str | None:
    """Why a tmpfs cannot be mounted here, or None when it can."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    if shutil.which("mount") is None:
        return "mount is missing"
    return None


@contextlib.contextmanager
def tmpfs(directory: Path, *, size: str = "4m", inodes: int | None = None) -> Iterator[Path]:
    """``directory`` (made if need be) as a tmpfs of ``size`` (and at most ``inodes``
    files) of its own, mode 0700, unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0700" + (f",nr_inodes={inodes}" if inodes else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "congvu-full", str(directory)],
                   check=True)
    try:
        yield directory
    finally:
        subprocess.run(["umount", "--lazy", str(directory)], check=False)


@contextlib.contextmanager
def data_dir(tmp_path: Path, *, size: str = "4m", inodes: int | None = None
             ) -> Iterator[Path]:
    """``tmp_path/var`` as a tmpfs of ``size`` (and ``inodes``) of its own, to be filled
    by the test; the test is skipped, loudly, where no tmpfs can be mounted."""
    reason = missing()
    if reason is not None:
        pytest.skip(f"LOUD SKIP: a full disk needs a tmpfs of its own: {reason}")
    with tmpfs(tmp_path / "var", size=size, inodes=inodes) as mounted:
        yield mounted


def serve_config(var: Path, next_hop_port: int, *, hostname: str = "mail.lamdong.gov.vn",
                 max_message_size: int = 1048576, extra: str = "") -> Path:
    """A configuration beside ``var`` for ``congvu serve`` on the data directory ``var``:
    one outbound listener on a free port relaying to ``next_hop_port``, then ``extra``."""
    path = var.parent / "congvu.toml"
    path.write_text(f"""
[service]
data_dir = "{var}"
hostname = "{hostname}"

[limits]
max_message_size = {max_message_size}

[[listeners]]
name = "inbound"
role = "outbound"
port = 0

[next_hop]
kind = "smtp"
port = {next_hop_port}
{extra}""", encoding="utf-8")
    return path


def fill(directory: Path) -> Path:
    """A file that takes every byte left on ``directory``'s file system."""
    filler = directory / "filler"
    for chunk in (b"\0" * 65536, b"\0" * 512):  # then the last partial chunk
        with filler.open("ab", buffering=0) as stream:
            while True:
                try:
                    stream.write(chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break
    return filler


def use_every_inode(directory: Path) -> list[Path]:
    """Empty files in ``directory`` until its file system has no inode left."""
    made: list[Path] = []
    while True:
        path = directory / f"inode-{len(made)}"
        try:
            path.touch()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
            return made
        made.append(path)
