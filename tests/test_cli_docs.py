"""Every command has help text and is named in README (sqlite-utils' test_docs idea)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from congvu.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


Path_ = tuple[str, ...]


def _walk(command: click.Command, path: Path_ = ()) -> Iterator[tuple[Path_, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        # a group's commands by its own lookup: the root imports each one when asked
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{name} is listed but not found"
            yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(main))


IDS = [" ".join(path) or "congvu" for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_help(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), f"congvu {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip() or param.name in {"help", "version"}, (
                f"congvu {' '.join(path)} {param.opts[0]} has no help text"
            )


@pytest.mark.parametrize("name", main.list_commands(click.Context(main)))
def test_every_top_level_command_is_in_readme(name: str) -> None:
    assert f"congvu {name}" in README
