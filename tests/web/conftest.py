"""Fixtures for the console's tests: one data directory per test, real stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.webconsole import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    """A directory of four units, five audit events, one held message, three users."""
    return make_env(tmp_path)
