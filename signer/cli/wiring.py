"""What the ``congvu`` root gives signer/'s commands (``commands(load, ...)``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import click

from mailbase import DEFAULT_ZONE
from signer.config import SignerConfig
from signer.documents.roles import UnitDirectory

ConfigLoader = Callable[[Path | None], SignerConfig]
OwnDomains = Callable[[Path | None], Sequence[str]]
"""The province's own domains (the root supplies the directory's); given the --config path."""


TimeZoneName = Callable[[Path | None], str]
"""The province's time zone (the root supplies ``[audit] time_zone``); given the
--config path. `document verify --explain` shows times in it, as the other commands do."""


UnitsOpener = Callable[[Path | None], AbstractContextManager[UnitDirectory | None]]
"""The configured directory, open while the context lasts (None: no directory);
given the --config path. `document verify` reads whose each signature is from it."""


def _no_domains(_config: Path | None) -> Sequence[str]:
    return ()


def _no_units(_config: Path | None) -> AbstractContextManager[UnitDirectory | None]:
    return nullcontext(None)


def _default_zone(_config: Path | None) -> str:
    return DEFAULT_ZONE


@dataclass(frozen=True, slots=True)
class Wiring:
    """The ``[signer]`` table for ``--config``, the province's own domains, its
    directory and its time zone."""

    load: ConfigLoader
    own_domains: OwnDomains = _no_domains
    units: UnitsOpener = _no_units
    time_zone: TimeZoneName = _default_zone


pass_wiring = click.make_pass_decorator(Wiring)
