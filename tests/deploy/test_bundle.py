"""``make dist``'s offline bundle, built once per session from this tree and installed by
its install.sh into a temporary prefix with no network: congvu runs from there, an
upgrade keeps the environment that ran before, and a bundle whose wheel was altered is
refused without touching what runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]


def _python() -> str:
    """Debian's python3 when it is the bundle's version (as on a server), else ours."""
    debian = Path("/usr/bin/python3")
    if debian.exists() and subprocess.run(
            [debian, "-c", f"import sys; assert sys.version_info[:2] == {sys.version_info[:2]}"],
            check=False).returncode == 0:
        return str(debian)
    return sys._base_executable  # type: ignore[attr-defined]


def _offline(command: list[str]) -> list[str]:
    """``command`` in a network namespace of its own (no interface but loopback, down)
    when this user may make one; pip is told there is no index either way."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return ["unshare", "-n", *command] if probe.returncode == 0 else command


def install(bundle: Path, prefix: Path, bindir: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(prefix.parent), "PIP_NO_INDEX": "1",
           "LANG": "C.UTF-8"}
    command = [str(bundle / "install.sh"), "--prefix", str(prefix), "--bindir", str(bindir),
               "--python", _python()]
    return subprocess.run(_offline(command), capture_output=True, text=True, env=env,
                          timeout=600, check=False)


def congvu(bindir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "CONGVU_CONFIG": "none", "LANG": "C.UTF-8",
           "CONGVU_VAR": str(bindir.parent / "var")}
    return subprocess.run([str(bindir / "congvu"), *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_the_bundle_installs_offline_upgrades_and_refuses_an_altered_wheel(
        bundle: Path, tmp_path: Path) -> None:
    prefix, bindir = tmp_path / "opt" / "congvu", tmp_path / "bin"
    first = install(bundle, prefix, bindir)
    assert first.returncode == 0, first.stdout + first.stderr
    assert congvu(bindir, "--version").stdout == f"congvu, version {VERSION}\n"
    checked = congvu(bindir, "config", "check")
    assert checked.returncode == 0, checked.stderr
    assert "configuration is valid" in checked.stdout
    assert (bindir / "congvu").resolve().is_relative_to(prefix / "venvs")
    assert (prefix / "deploy" / "systemd" / "congvu.service").is_file()
    # doctor finds the package list install.sh put beside the environment
    doctor = congvu(bindir, "doctor", "--no-postfix")
    assert "OK      package libarchive13: libarchive loads " in doctor.stdout, doctor.stdout

    # an upgrade (or a rollback: the same step) is a new environment; the one that ran
    # before stays until the next install
    running = (prefix / "venv").readlink()
    second = install(bundle, prefix, bindir)
    assert second.returncode == 0, second.stdout + second.stderr
    now = (prefix / "venv").readlink()
    assert now != running
    assert sorted(p.name for p in (prefix / "venvs").iterdir()) == sorted(
        [running.name, now.name])

    # a wheel changed after the lock was made: pip refuses it, nothing moves
    altered = tmp_path / "altered"
    shutil.copytree(bundle, altered)
    [wheel] = (altered / "wheels").glob("olefile-*.whl")
    with wheel.open("ab") as stream:
        stream.write(b"\0")
    third = install(altered, prefix, bindir)
    assert third.returncode != 0
    assert "DO NOT MATCH THE HASHES" in third.stderr, third.stderr
    assert (prefix / "venv").readlink() == now
    assert sorted(p.name for p in (prefix / "venvs").iterdir()) == sorted(
        [running.name, now.name])
    assert congvu(bindir, "--version").returncode == 0


def test_a_python_of_another_version_is_refused_with_the_reason(
        bundle: Path, tmp_path: Path) -> None:
    other = tmp_path / "python3.9"
    other.write_text("#!/bin/sh\necho 3.9\n")
    other.chmod(0o755)
    done = subprocess.run([str(bundle / "install.sh"), "--prefix", str(tmp_path / "opt"),
                           "--bindir", str(tmp_path / "bin"), "--python", str(other)],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 1
    wanted = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert done.stderr == (f"install.sh: this bundle's wheels are for Python {wanted}, {other} "
                           f"is 3.9: build the bundle on a machine with Python {wanted} "
                           "(make dist)\n")
    assert not (tmp_path / "opt").exists()
