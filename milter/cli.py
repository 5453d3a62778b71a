"""The root ``congvu`` command: the service's own commands plus each package's.

Exit codes follow DESIGN.md: 0 success, 1 "the check found something", 2 usage or
configuration errors.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

import audit
import directory
import policies
import signer
from milter.config import CongvuConfig, load_config
from milter.errors import ConfigError

_Section = TypeVar("_Section")

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The congvu.toml file (default: the embedded defaults).",
)


class ConfigUsageError(click.ClickException):
    """A configuration problem on the command line: exit code 2."""

    exit_code = 2


def load_or_exit(path: Path | None) -> CongvuConfig:
    """Load the configuration, or stop the command with exit code 2."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise ConfigUsageError(str(exc)) from exc


def section_loader(pick: Callable[[CongvuConfig], _Section]) -> Callable[[Path | None], _Section]:
    """A loader that hands a package's CLI only its own table of the configuration."""

    def load(path: Path | None) -> _Section:
        return pick(load_or_exit(path))

    return load


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="congvu-mail")
def main() -> None:
    """congvu: policy, signatures, directory and audit for official mail on Postfix."""


@main.command()
@CONFIG_OPTION
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: service.workers, else the number of cores).")
def serve(config_path: Path | None, workers: int | None) -> None:
    """Run the filter: listen for Postfix and relay checked mail to the next hop."""
    from milter.service import run_service

    config = load_or_exit(config_path)
    sys.exit(run_service(config, config_path=config_path, workers=workers))


@main.group("config")
def config_group() -> None:
    """Check or show the configuration."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path) -> None:
    """Validate FILE; list every error with its key path (exit 2) or say it is valid."""
    from milter.checks import check_locally

    config = load_or_exit(file)
    problems = check_locally(config)
    if problems:
        raise ConfigUsageError(str(ConfigError(str(file), problems)))
    click.echo(f"{file}: configuration is valid")


@config_group.command("show")
@CONFIG_OPTION
def config_show(config_path: Path | None) -> None:
    """Print the effective configuration, defaults included, as JSON."""
    config = load_or_exit(config_path)
    click.echo(json.dumps(config.model_dump(mode="json"), indent=2, ensure_ascii=False))


for _command in (
    *policies.commands(section_loader(lambda c: c.policies)),
    *signer.commands(section_loader(lambda c: c.signer)),
    *directory.commands(section_loader(lambda c: c.directory)),
    *audit.commands(section_loader(lambda c: c.audit)),
):
    main.add_command(_command)
