"""The root ``congvu`` command: every package's commands, one context, one error mapper.

Each package owns its sub-commands (``<package>/cli.py``, ``signer/cli/``); this module
composes them. They share one :class:`~congvu.context.CommandContext` (the
configuration found, announced and loaded once per run) through the loaders and hooks
given here, and one error mapper, :class:`Congvu`: whatever a command raises and does
not convert itself becomes exit code 1 or 2 (ARCHITECTURE.md, "Command line") with
the administrator-readable message on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

# the packages' roots import a name's module only when it is read (mailbase/lazyexports.py)
import archive
import audit
import directory
import policies
import web
from congvu.lazygroup import LazyCommand, LazyGroup
from mailbase import CommandFailed, UsageProblem, config_option

if TYPE_CHECKING:
    from congvu.config import CongvuConfig
    from congvu.context import CommandContext

_Section = TypeVar("_Section")

#: Every sub-command of ``congvu``: where it lives (``module:attribute``, a command or a
#: function that builds the one of that name) and its line in ``--help``. A command's
#: module is imported only when that command runs, so each run pays for its own.
SUBCOMMANDS: dict[str, LazyCommand] = {
    "archive": LazyCommand("congvu.cli:archive_command",
                           "The exact bytes of relayed official mail, proven by the audit log."),
    "audit": LazyCommand("congvu.cli:audit_command",
                         "The tamper-evident send/receive log: query, verify, report, export."),
    "auth": LazyCommand("congvu.cli:signer_command",
                        "Inbound authentication: SPF, DKIM, DMARC and ARC."),
    "backup": LazyCommand("milter.cli:backup_command", "Copy every store, online and "
                          "consistent, into the new directory OUT."),
    "config": LazyCommand("congvu.cli:config_group", "Check or show the configuration."),
    "directory": LazyCommand("congvu.cli:directory_command",
                             "The units of the province and their official addresses."),
    "dkim": LazyCommand("congvu.cli:signer_command",
                        "DKIM keys, signing and verification (RFC 6376, RFC 8463)."),
    "doctor": LazyCommand("milter.cli:doctor_command", "Check a running setup: exit 0 all "
                          "OK, 1 warnings only, 2 errors."),
    "document": LazyCommand("congvu.cli:signer_command", "Digital signatures inside "
                            "documents (PDF; Office files detected)."),
    "example": LazyCommand("congvu.example:example_command", "A fictional province to try "
                           "congvu out on (make run); never for real mail."),
    "policy": LazyCommand("congvu.cli:policies_command",
                          "Test attachment policies on messages."),
    "probe": LazyCommand("milter.cli:probe_command", "Send a canary through Postfix and "
                         "read it back: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios "
                         "plugin convention)."),
    "quarantine": LazyCommand("congvu.cli:policies_command",
                              "List, show, release and delete held messages."),
    "restore": LazyCommand("milter.cli:restore_command", "Restore a backup made by `congvu "
                           "backup` (its signature checked) and verify the audit chain."),
    "serve": LazyCommand("congvu.cli:serve", "Run the filter: listen for Postfix and relay "
                         "checked mail to the next hop."),
    "smime": LazyCommand("congvu.cli:signer_command", "Sign mail with S/MIME, verify S/MIME "
                         "signatures, explain a signed message."),
    # the shared store: this server's stores copied into PostgreSQL
    "store": LazyCommand("congvu.store_cli:group", "The stores several mail servers "
                         "share: copy this server's into PostgreSQL."),
    "user": LazyCommand("congvu.cli:web_command",
                        "Console users: add, grant units, set passwords, disable."),
    "web": LazyCommand("congvu.cli:web_command", "Serve the console: public directory, "
                       "auditors' log, administrators' quarantine."),
}

#: What an error no command converted means, first match first (a subclass before its
#: package's root): 2 usage or configuration, 1 the store refused or the work failed.
#: Named by module and class, so that mapping them imports no command's package.
EXIT_CODES: tuple[tuple[str, int], ...] = (
    ("milter.errors.ConfigError", 2),
    ("mailbase.timezones.PeriodError", 2),
    ("congvu.example.ExampleError", 2),
    ("audit.errors.QueryError", 2),
    ("directory.errors.StoreError", 2),
    ("signer.errors.NoSigningKeyError", 1),
    ("signer.errors.UnsignableMessageError", 1),
    ("signer.errors.DnsTemporaryError", 1),
    ("signer.errors.SignerError", 2),
    ("audit.errors.AuditError", 1),
    ("archive.errors.ArchiveError", 1),
    ("directory.errors.DirectoryError", 1),
    ("policies.errors.PolicyError", 1),
    ("milter.errors.MilterError", 1),
    ("web.errors.WebError", 1),
)


def exit_code(exc: Exception) -> int | None:
    """The exit code ``exc`` means, or None for an error of no package (a bug)."""
    kinds = {f"{kind.__module__}.{kind.__qualname__}" for kind in type(exc).__mro__}
    return next((code for kind, code in EXIT_CODES if kind in kinds), None)


def current() -> CommandContext:
    """The run's :class:`~congvu.context.CommandContext`; imported here, when a command
    reads the configuration (``--help`` reads none)."""
    from congvu.context import current as running

    return running()


class Congvu(LazyGroup):
    """The root group: maps the errors of every sub-command to exit codes, once."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            code = exit_code(exc)
            if code is None:
                raise
            raise (UsageProblem if code == 2 else CommandFailed)(str(exc)) from exc


@click.group(cls=Congvu, lazy=SUBCOMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="congvu-mail")
@click.pass_context
def main(ctx: click.Context) -> None:
    """congvu: policy, signatures, directory and audit for official mail on Postfix."""
    from congvu.context import CommandContext

    ctx.ensure_object(CommandContext)


@click.command()
@config_option
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Worker processes (default: service.workers, else the number of cores).")
def serve(config_path: Path | None, workers: int | None) -> None:
    """Run the filter: listen for Postfix and relay checked mail to the next hop."""
    from congvu.configsource import load_source
    from milter.service import run_service
    from milter.settings import Reload

    config, source = current().configured(config_path)
    # a reload (SIGHUP) reads the same file again, wherever it was found
    reload = Reload(str(source.path or "<embedded defaults>"), lambda: load_source(source))
    sys.exit(run_service(config, reload=reload, workers=workers))


@click.group("config")
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
    from milter.errors import ConfigError

    config, source = current().configured(file)
    name = str(source.path) if source.path is not None else "embedded defaults"
    problems = check_locally(config)
    if problems:
        raise ConfigError(name, problems)
    for warning in config_warnings(config):
        click.echo(f"{name}: warning: {warning}", err=True)
    click.echo(f"{name}: configuration is valid")


@config_group.command("show")
@config_option
@click.option("--defaults", "is_defaults", is_flag=True,
              help="Print the embedded defaults, whatever file is given.")
def config_show(config_path: Path | None, is_defaults: bool) -> None:
    """Print the effective configuration, defaults included, as JSON, with ``source``:
    where it came from."""
    from congvu.configsource import ConfigSource, load_source

    if is_defaults:
        source = ConfigSource(None, "--defaults")
        config = load_source(source)
    else:
        config, source = current().configured(config_path)
    shown = {"source": source.describe(), **config.model_dump(mode="json")}
    click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@config_group.command("reference")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the reference to this file instead of standard output.")
def config_reference(out: Path | None) -> None:
    """Print every option of congvu.toml, its type, default and meaning (Markdown)."""
    from congvu.reference import reference

    text = reference()
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def _table(pick: Callable[[CongvuConfig], _Section]) -> Callable[[Path | None], _Section]:
    """A package's loader: its own table of the run's one configuration."""
    return lambda path: pick(current().settings(path))


def _running_config() -> CongvuConfig:
    """The configuration the running sub-command's --config names."""
    return current().settings(click.get_current_context().params.get("config_path"))


def _directory_units() -> list[directory.Unit]:
    store = directory.Directory.open(_running_config().directory, read_only=True)
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
    config = current().settings(config_path)
    if not config.directory.is_present():
        return list(config.directory.domains)
    index = directory.DirectoryIndex.open(config.directory,
                                          domains=config.directory.domains)
    try:
        return sorted(index.domains)
    finally:
        index.close()


@contextmanager
def document_units(config_path: Path | None) -> Iterator[directory.DirectoryIndex | None]:
    """The configured directory for `document verify`'s roles; None when it has none."""
    config = current().settings(config_path)
    if not config.directory.is_present():
        yield None
        return
    index = directory.DirectoryIndex.open(config.directory,
                                          domains=config.directory.domains)
    try:
        yield index
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
        below = todo.pop()
        if below not in found:
            found.append(below)
            todo.extend(children.get(below, []))
    return found


def unit_names() -> Mapping[str, str]:
    """Unit id -> name from the configured directory, for the report's human formats
    (empty without a directory: units are then shown by id)."""
    try:
        return {unit.id: unit.name for unit in _directory_units()}
    except directory.DirectoryError:
        return {}


def unit_organ_ids() -> Mapping[str, str]:
    """Unit id -> identifier code in the document exchange, for the filed report's
    appendix (empty without a directory or codes)."""
    try:
        return {unit.id: unit.organ_id for unit in _directory_units() if unit.organ_id}
    except directory.DirectoryError:
        return {}


def unit_tree() -> Sequence[tuple[str, str | None]]:
    """The configured directory's units in its order, each with its parent's id, for
    the report's tree (empty without a directory: units with mail are then sorted)."""
    try:
        return [(unit.id, unit.parent) for unit in _directory_units()]
    except directory.DirectoryError:
        return []


def unit_predecessors(unit_id: str) -> Sequence[str]:
    """The units ``unit_id`` succeeds after a merger (their successor links lead to it)."""
    units = _directory_units()
    if unit_id not in {unit.id for unit in units}:
        raise LookupError(f"unknown unit {unit_id!r} (not in the directory)")
    return sorted(directory.predecessors(units, [unit_id]))


def unit_rollup(reported: Sequence[str]) -> Mapping[str, str]:
    """For a report of ``reported`` (none: every unit), each predecessor -> the
    successor it is counted under (directory/successors.py's ``rolled_into``)."""
    return directory.rolled_into(_directory_units(), reported)


def roster_mailboxes() -> Sequence[audit.RosterMailbox] | None:
    """The officials' mailboxes on the configured directory's roster, for the report's
    use columns (None without a directory or a roster: those columns are then empty)."""
    try:
        store = directory.Directory.open(_running_config().directory, read_only=True)
        try:
            found = store.mailboxes()
        finally:
            store.close()
    except directory.DirectoryError:
        return None
    return [audit.RosterMailbox(
        address=m.address.key, unit_id=m.unit_id, full_name=m.full_name,
        is_active=m.is_active, created=m.created, last_login=m.last_login)
        for m in found] or None


def directory_changed(change: directory.DirectoryChanged) -> None:
    """A directory import from the command line, written into the audit chain."""
    from congvu.directory_events import audit_change

    audit_change(_running_config().audit, change)


def _web_settings(config_path: Path | None) -> web.WebSettings:
    from congvu.config import web_settings

    return web_settings(current().settings(config_path))


def _web_releaser(config_path: Path | None) -> web.Releaser:
    """Quarantine release for the web console: the same path as the command line."""
    from milter.quarantine import run_release

    config = current().settings(config_path)
    return lambda qid, actor, reason: run_release(config, qid, actor=actor, reason=reason)


def _named(commands: Sequence[click.Command], name: str) -> click.Command:
    return {command.name: command for command in commands}[name]


# Each package's commands, given the loaders and hooks above, built when one runs.

def policies_command(name: str) -> click.Command:
    """``policy``, or ``quarantine`` with milter/'s release and delete."""
    command = _named(policies.commands(_table(lambda c: c.policies), unit_chain=unit_chain),
                     name)
    if isinstance(command, click.Group) and name == "quarantine":
        from milter.cli import delete_command, release_command

        command.add_command(release_command)
        command.add_command(delete_command)
    return command


def signer_command(name: str) -> click.Command:
    """``dkim``, ``smime``, ``document`` or ``auth``."""
    from signer.cli import command

    return command(
        name, _table(lambda c: c.signer), own_domains=own_domains, units=document_units,
        time_zone=lambda path: current().settings(path).audit.time_zone)


def directory_command(name: str) -> click.Command:
    """``directory``, its imports written into the audit chain."""
    return _named(directory.commands(_table(lambda c: c.directory),
                                     on_change=directory_changed), name)


def audit_command(name: str) -> click.Command:
    """``audit``, with the directory's tree, names and roster."""
    return _named(audit.commands(
        _table(lambda c: c.audit), descendants=unit_descendants, unit_names=unit_names,
        roster=roster_mailboxes, unit_tree=unit_tree, predecessors=unit_predecessors,
        rollup=unit_rollup, organ_ids=unit_organ_ids), name)


def web_command(name: str) -> click.Command:
    """``web`` or ``user``."""
    return _named(web.commands(_web_settings, release=_web_releaser), name)


def archive_command(name: str) -> click.Command:
    """``archive``, with the audit log's records and policies/' text reader."""
    from congvu.archive_records import AuditRecords

    return _named(archive.commands(_table(lambda c: c.archive), records=AuditRecords(),
                                   reader=policies.searchable_text), name)
