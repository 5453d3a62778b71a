"""A click group whose sub-commands are imported only when one of them runs.

Each package's commands import what they work with (the DKIM, PDF and PostgreSQL
libraries, the web framework): built all at once, they made every run of ``congvu``,
``--help`` included, import about a thousand modules. :class:`LazyGroup` knows each
sub-command by its name, where it lives and its line in ``--help``, and imports it when
it is asked for (click's documented lazy-loading pattern); ``--help`` lists the table
without importing any of it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """Where a sub-command lives and what ``--help`` says of it, before it is imported.

    ``home`` is ``"module:attribute"``: the attribute is the command itself, or a
    function that builds it given its name (a package's commands need the root's
    loaders and hooks). ``summary`` is the first sentence of its help, as ``--help``
    lists it (a test holds the two together).
    """

    home: str
    summary: str

    def load(self, name: str) -> click.Command:
        """The command, imported now."""
        module, _, attribute = self.home.partition(":")
        found: click.Command | Callable[[str], click.Command] = getattr(
            importlib.import_module(module), attribute)
        command = found if isinstance(found, click.Command) else found(name)
        if command.name != name:
            raise RuntimeError(f"{self.home} gives the command {command.name!r}, not {name!r}")
        return command


class LazyGroup(click.Group):
    """A group whose sub-commands, given as :class:`LazyCommand`, load on first use."""

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, LazyCommand] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self.lazy[cmd_name].load(cmd_name))
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section of ``--help``, from the table for the commands not
        imported yet: the same lines their own help would give."""
        listed = {name: self.commands.get(name) or click.Command(name, help=entry.summary)
                  for name, entry in self.lazy.items()}
        listed.update(self.commands)
        shown = [(name, command) for name, command in sorted(listed.items())
                 if not command.hidden]
        if not shown:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in shown)
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.get_short_help_str(limit))
                                for name, command in shown])
