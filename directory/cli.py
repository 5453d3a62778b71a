"""Command-line sub-commands of directory/ (composed into `congvu` by milter/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from directory.config import DirectoryConfig

ConfigLoader = Callable[[Path | None], DirectoryConfig]


def commands(load: ConfigLoader) -> list[click.Command]:
    """The top-level command groups this package adds to `congvu`."""
    return []
