"""Fixtures for audit/ tests: a real SQLite file and key directory in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.config import AuditConfig
from audit.store import AuditLog


@pytest.fixture
def audit_config(tmp_path: Path) -> AuditConfig:
    """A configuration whose store and keys live in tmp_path."""
    return AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")


@pytest.fixture
def audit_db(audit_config: AuditConfig) -> Iterator[AuditLog]:
    """A writable audit store on a real file."""
    with AuditLog.open(audit_config) as log:
        yield log
