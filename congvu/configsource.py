"""Which configuration a command uses: one rule for every ``congvu`` command.

In this order: ``--config FILE``; else ``$CONGVU_CONFIG`` (``none`` means the embedded
defaults); else ``/etc/congvu/congvu.toml`` when that file exists; else the embedded
defaults. A file that is named or exists but cannot be read is an error naming the file
and the user, never a silent fall back to the defaults: a server whose real
configuration went unread must not run on defaults. Each command says once on stderr
which source it used (congvu/context.py).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from congvu.config import CongvuConfig, load_config
from milter.errors import ConfigError

CONFIG_ENV = "CONGVU_CONFIG"
#: the file a packaged installation reads when nothing else is named
SYSTEM_CONFIG = Path("/etc/congvu/congvu.toml")


@dataclass(frozen=True, slots=True)
class ConfigSource:
    """Where the configuration comes from: a file (``path``) or the embedded defaults."""

    path: Path | None
    how: str

    def describe(self) -> str:
        """``/etc/congvu/congvu.toml (the system file)``, ``the embedded defaults (...)``."""
        if self.path is None:
            return f"the embedded defaults ({self.how})"
        return f"{self.path} ({self.how})"


def find_config(explicit: Path | None, *, environ: Mapping[str, str] | None = None,
                system: Path | None = None) -> ConfigSource:
    """The source the rule picks (see the module docstring)."""
    environ = os.environ if environ is None else environ
    system = SYSTEM_CONFIG if system is None else system
    if explicit is not None:
        return ConfigSource(explicit, "--config")
    named = environ.get(CONFIG_ENV, "").strip()
    if named.lower() == "none":
        return ConfigSource(None, f"${CONFIG_ENV}=none")
    if named:
        return ConfigSource(Path(named), f"${CONFIG_ENV}")
    if os.path.lexists(system):
        return ConfigSource(system, "the system file")
    return ConfigSource(None, f"no --config, no ${CONFIG_ENV}, no {system}")


def load_source(source: ConfigSource) -> CongvuConfig:
    """Load what ``source`` names.

    :raises ConfigError: the file cannot be read (the message names the user) or is
        invalid.
    """
    if source.path is not None and os.path.lexists(source.path) and not _readable(source.path):
        raise ConfigError(str(source.path), [
            f"cannot be read by user {getpass.getuser()} (chosen by {source.how}); fix its "
            "permissions or name another file with --config"])
    return load_config(source.path)


def _readable(path: Path) -> bool:
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False
