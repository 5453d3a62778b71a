"""The root ``congvu`` command: the service's own commands plus each package's.

Exit codes (ARCHITECTURE.md, "Command line"): 0 success, 1 "the check found something", 2 usage or
configuration errors.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import click

import audit
import directory
import policies
import signer
import web
from milter.config import CongvuConfig
from milter.configsource import ConfigSource, configured, load_source
from milter.errors import ConfigError

_Section = TypeVar("_Section")

CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The congvu.toml file (default: $CONGVU_CONFIG, else /etc/congvu/congvu.toml if "
    "it exists, else the embedded defaults; CONGVU_CONFIG=none means the defaults).",
)


class ConfigUsageError(click.ClickException):
    """A configuration problem on the command line: exit code 2."""

    exit_code = 2


def load_or_exit(path: Path | None) -> CongvuConfig:
    """Load the configuration the rule of milter/configsource.py picks (``path`` is the
    --config option), or stop the command with exit code 2."""
    return source_or_exit(path)[0]


def source_or_exit(path: Path | None) -> tuple[CongvuConfig, ConfigSource]:
    """:func:`load_or_exit`, and where the configuration came from."""
    try:
        return configured(path)
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
    from milter.settings import Reload

    config, source = source_or_exit(config_path)
    # a reload (SIGHUP) reads the same file again, wherever it was found
    reload = Reload(str(source.path or "<embedded defaults>"), lambda: load_source(source))
    sys.exit(run_service(config, reload=reload, workers=workers))


@main.group("config")
def config_group() -> None:
    """Check or show the configuration."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
def config_check(file: Path | None) -> None:
    """Validate FILE (default: the file every command would read); list every error
    with its key path (exit 2) or say it is valid.

    Warnings (a listener taking inbound mail without the spoof guard, or behind the
    queue) are printed on stderr and leave the exit code 0: the file is valid, only
    less protective.
    """
    from milter.checks import check_locally, config_warnings

    config, source = source_or_exit(file)
    name = str(source.path) if source.path is not None else "embedded defaults"
    problems = check_locally(config)
    if problems:
        raise ConfigUsageError(str(ConfigError(name, problems)))
    for warning in config_warnings(config):
        click.echo(f"{name}: warning: {warning}", err=True)
    click.echo(f"{name}: configuration is valid")


@config_group.command("show")
@CONFIG_OPTION
@click.option("--defaults", "is_defaults", is_flag=True,
              help="Print the embedded defaults, whatever file is given.")
def config_show(config_path: Path | None, is_defaults: bool) -> None:
    """Print the effective configuration, defaults included, as JSON, with ``source``:
    where it came from."""
    if is_defaults:
        source = ConfigSource(None, "--defaults")
        config = load_source(source)
    else:
        config, source = source_or_exit(config_path)
    shown = {"source": source.describe(), **config.model_dump(mode="json")}
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@config_group.command("reference")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the reference to this file instead of standard output.")
def config_reference(out: Path | None) -> None:
    """Print every option of congvu.toml, its type, default and meaning (Markdown)."""
    from milter.reference import reference

    text = reference()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def _current_config() -> CongvuConfig:
    """The configuration named by the running command's --config option."""
    context = click.get_current_context()
    return load_or_exit(context.params.get("config_path"))


def _directory_units() -> list[directory.Unit]:
    store = directory.Directory.open(_current_config().directory.path, read_only=True)
    try:
        return store.units()
    finally:
        store.close()


def unit_chain(unit_id: str) -> Sequence[str]:
    """A unit and its ancestors from the configured directory (policy inheritance)."""
    units = {unit.id: unit for unit in _directory_units()}
    if unit_id not in units:
        raise LookupError(f"unknown unit {unit_id!r} (not in the directory)")
    chain = [unit_id]
    while (parent := units[chain[-1]].parent) is not None and parent not in chain:
        chain.append(parent)
    return chain


def own_domains(config_path: Path | None) -> Sequence[str]:
    """The province's own domains: the directory's units' and [directory] domains."""
    config = load_or_exit(config_path)
    if not config.directory.path.exists():
        return list(config.directory.domains)
    index = directory.DirectoryIndex.open(config.directory.path,
                                          domains=config.directory.domains)
    try:
        return sorted(index.domains)
    finally:
        index.close()


def unit_descendants(unit_id: str) -> Sequence[str]:
    """A unit and every unit below it (an auditor's grant covers descendants)."""
    children: dict[str, list[str]] = {}
    units = _directory_units()
    for unit in units:
        if unit.parent is not None:
            children.setdefault(unit.parent, []).append(unit.id)
    if unit_id not in {unit.id for unit in units}:
        raise LookupError(f"unknown unit {unit_id!r} (not in the directory)")
    found, todo = [], [unit_id]
    while todo:
        current = todo.pop()
        if current not in found:
            found.append(current)
            todo.extend(children.get(current, []))
    return found


def unit_names() -> Mapping[str, str]:
    """Unit id -> name from the configured directory, for the report's human formats
    (empty without a directory: units are then shown by id)."""
    try:
        return {unit.id: unit.name for unit in _directory_units()}
    except directory.DirectoryError:
        return {}


def _quarantine_commands(group: click.Group) -> None:
    """Release (through the signing stages and the next hop) and audited delete."""
    from milter.quarantine import ReleaseError, delete, run_release

    actor = click.option("--actor", default=lambda: os.environ.get("USER", "admin"),
                         show_default="$USER", help="Who does this, for the audit log.")

    @group.command("release")
    @CONFIG_OPTION
    @actor
    @click.argument("qids", nargs=-1, required=True)
    def release_command(config_path: Path | None, actor: str, qids: tuple[str, ...]) -> None:
        """Release held messages: sign (outbound), relay to the next hop, audit."""
        config = load_or_exit(config_path)
        for qid in qids:
            try:
                reply = run_release(config, qid, actor=actor)
            except ReleaseError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"released {qid}: {reply}")

    @group.command("delete")
    @CONFIG_OPTION
    @actor
    @click.argument("qids", nargs=-1, required=True)
    def delete_command(config_path: Path | None, actor: str, qids: tuple[str, ...]) -> None:
        """Delete held messages for good (each deletion is audited)."""
        config = load_or_exit(config_path)
        for qid in qids:
            try:
                delete(config, qid, actor=actor)
            except ReleaseError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"deleted {qid}")


def _web_releaser(config: CongvuConfig) -> web.Releaser:
    """Quarantine release for the web console: the same path as the command line."""
    from milter.quarantine import run_release

    return lambda qid, actor: run_release(config, qid, actor=actor)


for _command in (
    *policies.commands(section_loader(lambda c: c.policies), unit_chain=unit_chain),
    *signer.commands(section_loader(lambda c: c.signer), own_domains=own_domains),
    *directory.commands(section_loader(lambda c: c.directory)),
    *audit.commands(section_loader(lambda c: c.audit), descendants=unit_descendants,
                    unit_names=unit_names),
    *web.commands(load_or_exit, release=_web_releaser),
):
    if _command.name == "quarantine" and isinstance(_command, click.Group):
        _quarantine_commands(_command)
    main.add_command(_command)

# Operations: doctor, probe, backup and restore; the try-out province (make run).
from milter.backup import backup_command, restore_command  # noqa: E402
from milter.doctor import doctor_command  # noqa: E402
from milter.example import example_command  # noqa: E402
from milter.probe import probe_command  # noqa: E402

for _command in (doctor_command, probe_command, backup_command, restore_command, example_command):
    main.add_command(_command)
