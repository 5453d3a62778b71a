"""Fixtures for the console's tests: one data directory per test, real stores.

The stores are built once per session (three Argon2 hashes, a directory import, an
audit store with its keys) and copied into each test's tmp_path, which keeps the
suite fast without sharing state between tests. Passwords are hashed at argon2's
cheapest cost (support/webconsole.py says why). The generated province (100 units, a
month of mail) is built once per session too, read by the report tests as it is and
copied by a test that changes it; Chromium is launched once per module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from congvu.config import parse_config
from support.usage import Province
from support.webconsole import Env, cheap_settings, make_env
from support.webprovince import province_console


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("web-template")
    built = make_env(base)
    return base / "var", built.held


@pytest.fixture(scope="session")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Province, Path]:
    """The generated province (300 officials) and its console's data directory: read it
    as it is, or copy the directory to change it."""
    return province_console(tmp_path_factory.mktemp("web-province"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright."""
    from support.browsing import ARGS, CHROMIUM

    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def env(tmp_path: Path, _template: tuple[Path, str]) -> Env:
    """A directory of four units, five audit events, one held message, three users."""
    source, held = _template
    shutil.copytree(source, tmp_path / "var")
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")}})
    return Env(config, cheap_settings(config), held)
