"""Command-line sub-commands of audit/ (composed into `congvu` by milter/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from audit.config import AuditConfig

ConfigLoader = Callable[[Path | None], AuditConfig]


def commands(load: ConfigLoader) -> list[click.Command]:
    """The top-level command groups this package adds to `congvu`."""
    return []
