"""Fixtures for the console's tests: one data directory per test, real stores.

The stores are built once per session (three Argon2 hashes, a directory import, an
audit store with its keys) and copied into each test's tmp_path, which keeps the
suite fast without sharing state between tests. Passwords are hashed at argon2's
cheapest cost (support/webconsole.py says why).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from congvu.config import parse_config
from support.webconsole import Env, cheap_settings, make_env


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("web-template")
    built = make_env(base)
    return base / "var", built.held


@pytest.fixture
def env(tmp_path: Path, _template: tuple[Path, str]) -> Env:
    """A directory of four units, five audit events, one held message, three users."""
    source, held = _template
    shutil.copytree(source, tmp_path / "var")
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")}})
    return Env(config, cheap_settings(config), held)
