"""What the ``congvu`` root gives signer/'s commands (``commands(load, ...)``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from signer.config import SignerConfig

ConfigLoader = Callable[[Path | None], SignerConfig]
OwnDomains = Callable[[Path | None], Sequence[str]]
"""The province's own domains (the root supplies the directory's); given the --config path."""


def _no_domains(_config: Path | None) -> Sequence[str]:
    return ()


@dataclass(frozen=True, slots=True)
class Wiring:
    """The ``[signer]`` table for ``--config``, and the province's own domains."""

    load: ConfigLoader
    own_domains: OwnDomains = _no_domains


pass_wiring = click.make_pass_decorator(Wiring)
