"""Fixtures for directory/: real SQLite files in tmp_path and a generated province."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from directory import Directory
from support.province import province_csv


@pytest.fixture(scope="session")
def province_text() -> str:
    """The CSV of a generated province of 1,000 units."""
    return province_csv(1000)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Directory]:
    """An empty directory store in tmp_path."""
    directory = Directory.open(tmp_path / "directory.sqlite3")
    yield directory
    directory.close()


@pytest.fixture
def province(store: Directory, province_text: str) -> Directory:
    """The store with the generated province imported."""
    store.import_csv(province_text, actor="fixture")
    return store


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory, province_text: str) -> Path:
    """The generated province published once, for the consumers' tests."""
    base = tmp_path_factory.mktemp("published")
    with Directory.open(base / "directory.sqlite3") as directory:
        directory.import_csv(province_text, actor="fixture")
        directory.publish(base / "out")
    return base / "out"
