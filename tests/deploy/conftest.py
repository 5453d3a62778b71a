"""The offline bundle ``make dist`` builds, made once per session for the tests that
install it (tests/deploy/test_bundle.py, and the deployment guide run as written)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked bundle directory; its tarball is beside it."""
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run([sys.executable, str(ROOT / "tools" / "bundle.py"), "--out", str(out)],
                           capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (out / f"congvu-{VERSION}-bundle.tar.gz").is_file()
    return out / f"congvu-{VERSION}-bundle"
