"""The one context every ``congvu`` sub-command shares: the configuration, once.

The root command makes one :class:`CommandContext` per run (click's context object).
Every package's commands reach the configuration through it, by the loaders the root
gives them: the source is found by configsource.py's rule, named once on stderr, and
loaded once, however many tables and hooks of one command read it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from congvu.config import CongvuConfig
from congvu.configsource import ConfigSource, find_config, load_source


class CommandContext:
    """The configuration of one command run, by ``--config`` value (None: the rule)."""

    def __init__(self) -> None:
        self._loaded: dict[Path | None, tuple[CongvuConfig, ConfigSource]] = {}
        self._announced: set[ConfigSource] = set()

    def configured(self, path: Path | None) -> tuple[CongvuConfig, ConfigSource]:
        """The configuration for ``--config path`` and where it came from.

        :raises ConfigError: the source cannot be read or is invalid (the root's error
            mapper makes that exit code 2).
        """
        if path not in self._loaded:
            source = find_config(path)
            self.announce(source)
            self._loaded[path] = (load_source(source), source)
        return self._loaded[path]

    def settings(self, path: Path | None) -> CongvuConfig:
        """:meth:`configured` without the source: what the packages' loaders return."""
        return self.configured(path)[0]

    def announce(self, source: ConfigSource) -> None:
        """Say on stderr, once per run, which configuration the command uses."""
        if source not in self._announced:
            self._announced.add(source)
            print(f"congvu: configuration: {source.describe()}", file=sys.stderr)


def current() -> CommandContext:
    """The running command's :class:`CommandContext` (the root command made it)."""
    found = click.get_current_context().find_object(CommandContext)
    if found is None:  # only a command run outside ``congvu`` could get here
        raise RuntimeError("a congvu command ran outside the congvu root command")
    return found
