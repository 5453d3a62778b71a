"""Command-line sub-commands of policies/ (composed into `congvu` by milter/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from policies.config import PoliciesConfig

ConfigLoader = Callable[[Path | None], PoliciesConfig]


def commands(load: ConfigLoader) -> list[click.Command]:
    """The top-level command groups this package adds to `congvu`."""
    return []
