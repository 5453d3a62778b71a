"""Command-line sub-commands of signer/ (composed into ``congvu`` by milter/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from signer.cli.dkim import dkim_group
from signer.cli.smime import smime_group
from signer.config import SignerConfig

ConfigLoader = Callable[[Path | None], SignerConfig]


def commands(load: ConfigLoader) -> list[click.Command]:
    """The top-level command groups this package adds to ``congvu``."""
    return [dkim_group(load), smime_group(load)]
