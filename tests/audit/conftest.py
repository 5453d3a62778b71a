"""Fixtures for audit/ tests: a real SQLite file and key directory in tmp_path, and the
same store on each backend (SQLite, the session's private PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.config import AuditConfig
from audit.store import AuditLog
from support.postgres import password_file


@pytest.fixture
def audit_config(tmp_path: Path) -> AuditConfig:
    """A configuration whose store and keys live in tmp_path."""
    return AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def backend_config(request: pytest.FixtureRequest, tmp_path: Path) -> AuditConfig:
    """The store on each backend: a SQLite file, then a PostgreSQL database of its own
    (the session's private cluster), reached with a password file as a server would."""
    if request.param == "sqlite":
        return AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
    url = request.getfixturevalue("postgres_url")
    return AuditConfig(url=url, password_file=password_file(tmp_path),
                       keys_dir=tmp_path / "keys")


@pytest.fixture
def backend_db(backend_config: AuditConfig) -> Iterator[AuditLog]:
    """A writable audit store on each backend."""
    with AuditLog.open(backend_config) as log:
        yield log


@pytest.fixture
def audit_db(audit_config: AuditConfig) -> Iterator[AuditLog]:
    """A writable audit store on a real file."""
    with AuditLog.open(audit_config) as log:
        yield log
