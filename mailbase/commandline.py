"""What every package's commands share: the two failures and the ``--config`` option.

ARCHITECTURE.md, "Command line": exit 0 success, 1 the check found something (or the
store refused), 2 usage or configuration errors. A command says which of the two went
wrong by raising :class:`CommandFailed` or :class:`UsageProblem` with a message for
the administrator; click prints it on stderr (``Error: ...``) and exits with the code,
also when a package's commands run on their own, outside ``congvu``. Errors a command
does not convert reach the root command (congvu/cli.py), which maps each package's
root exception to the same two codes.

Both are click exceptions because click maps nothing else to an exit code; click is
the command line of every package, so this is no new dependency.
"""

from __future__ import annotations

import copy
import os
import pwd
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["CommandFailed", "UsageProblem", "command_line_actor", "config_option", "wired"]

_F = TypeVar("_F", bound=Callable[..., Any])
_C = TypeVar("_C", bound=click.Command)


class CommandFailed(click.ClickException):
    """The check found something, or the store refused: exit code 1."""

    exit_code = 1


class UsageProblem(click.ClickException):
    """A usage or configuration problem: exit code 2."""

    exit_code = 2


_CONFIG = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The congvu.toml file (default: $CONGVU_CONFIG, else /etc/congvu/congvu.toml if "
    "it exists, else the embedded defaults; CONGVU_CONFIG=none means the defaults).",
)


def config_option(command: _F) -> _F:
    """``--config FILE`` for a command that reads the configuration: the command gets
    the path as ``config_path`` and hands it to its loader (the root decides what None
    means: congvu/configsource.py's rule)."""
    return _CONFIG(command)


def wired(command: _C, obj: object) -> _C:
    """A copy of the module-level ``command`` whose click context object is ``obj``.

    A package's ``commands(load, ...)`` gives its commands what it was given (the
    loader, the root's hooks) this way, so the commands themselves can be module-level
    functions that take ``obj`` with ``click.make_pass_decorator``. A group's copy has
    its own table of sub-commands: adding one to it leaves the module's group alone.
    """
    copied = copy.copy(command)
    copied.context_settings = {**command.context_settings, "obj": obj}
    if isinstance(copied, click.Group):
        copied.commands = dict(copied.commands)
    return copied


def command_line_actor() -> str:
    """Who runs this command, as the audit chain records an act of the command line:
    the administrator behind sudo (``SUDO_USER``), else the user the process runs as
    (its real uid's name, which no environment variable changes; ``uid N`` when the
    system has no name for it)."""
    behind_sudo = os.environ.get("SUDO_USER", "").strip()
    if behind_sudo:
        return behind_sudo
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
