"""Fixtures for directory/: real SQLite files in tmp_path, the same store on each
backend (SQLite, the session's private PostgreSQL), and a generated province."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from directory import Directory, DirectoryConfig
from support.postgres import PostgresCluster, password_file
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


@pytest.fixture(scope="session")
def _directory_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.database()
    yield url
    postgres_cluster.drop(url)


@pytest.fixture
def pg_directory(_directory_database: str, postgres_cluster: PostgresCluster,
                 tmp_path: Path) -> DirectoryConfig:
    """A ``[directory]`` table naming the session's PostgreSQL database (the private
    cluster), reached with a password file as a server would, its directory schema
    dropped first: a new store per test, without the cost of a new database."""
    with postgres_cluster.admin(_directory_database.rsplit("/", 1)[1]) as db:
        db.execute("DROP SCHEMA IF EXISTS directory CASCADE")
    return DirectoryConfig(url=_directory_database, password_file=password_file(tmp_path))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def backend_where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | DirectoryConfig:
    """Where a directory store is on each backend: a SQLite file, then PostgreSQL."""
    if request.param == "postgresql":
        config: DirectoryConfig = request.getfixturevalue("pg_directory")
        return config
    return tmp_path / "directory.sqlite3"


@pytest.fixture
def backend_store(backend_where: Path | DirectoryConfig) -> Iterator[Directory]:
    """An empty directory store on each backend."""
    directory = Directory.open(backend_where)
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
