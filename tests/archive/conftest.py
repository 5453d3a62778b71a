"""Fixtures for archive/ tests: an archive on a real directory, an audit store's
configuration, both in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive import Archive
from audit import AuditConfig


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    """A new archive under tmp_path."""
    return Archive.open(tmp_path / "archive")


@pytest.fixture
def audit_config(tmp_path: Path) -> AuditConfig:
    """An audit store and key directory in tmp_path."""
    return AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
