"""The service's operating commands: ``doctor``, ``probe``, ``backup``, ``restore`` and
``quarantine release|delete`` (the root command composes them into ``congvu``).

Each reads the configuration through the root's context object (:func:`_settings`),
which finds, announces and loads it once; errors they do not convert (ConfigError,
ReleaseError, BackupError) reach the root's error mapper. doctor and probe report a
configuration they cannot read in their own formats: doctor as findings (exit 2),
probe as a Nagios UNKNOWN (exit 3).

Each command imports the modules its work needs when it runs: this module is imported for
any one of them (``--help`` included), and the doctor's checks, the backup's stores and the
probe's SMTP and IMAP clients would otherwise cost every other command their import time.
"""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mailbase import UsageProblem, command_line_actor, config_option
from milter.errors import ConfigError
from milter.findings import EXPIRY_DAYS, Level

if TYPE_CHECKING:
    from milter.settings import Settings, SettingsLoader

__all__ = ["backup_command", "delete_command", "doctor_command", "probe_command",
           "release_command", "restore_command"]

_F = TypeVar("_F", bound=Callable[..., Any])

DEFAULT_POSTFIX_DIR = Path("/etc/postfix")
#: Nagios UNKNOWN (milter.probe.Status.UNKNOWN; tests/milter/test_probe.py holds a usage
#: error to it): ``probe`` exits with it on a usage error, before its module is imported.
_UNKNOWN = 3


def _settings(config_path: Path | None) -> Settings:
    """The configuration ``--config`` names (None: the root's rule), loaded once by the
    root command, whose context object lends its loader to every sub-command."""
    load: SettingsLoader = click.get_current_context().find_root().obj.settings
    return load(config_path)


def _default_postfix_dir() -> Path | None:
    if (DEFAULT_POSTFIX_DIR / "main.cf").exists() and shutil.which("postconf"):
        return DEFAULT_POSTFIX_DIR
    return None


@click.command("doctor")
@config_option
@click.option("--postfix-config", "postfix_dir",
              type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Postfix's configuration directory (default: /etc/postfix if it exists).")
@click.option("--no-postfix", "skip_postfix", is_flag=True,
              help="Skip the Postfix checks (Postfix runs on another host).")
@click.option("--server-ip", "server_ips", multiple=True,
              help="An address our mail leaves from, for the SPF check (repeatable).")
@click.option("--days", type=click.IntRange(1, 365), default=EXPIRY_DAYS, show_default=True,
              help="Warn about certificates and CRLs that expire within this many days.")
def doctor_command(config_path: Path | None, postfix_dir: Path | None, skip_postfix: bool,
                   server_ips: tuple[str, ...], days: int) -> None:
    """Check a running setup: exit 0 all OK, 1 warnings only, 2 errors."""
    from milter.doctor import run_checks
    from milter.findings import error as _error

    try:
        config = _settings(config_path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(_error(exc.source, problem, "correct the configuration").line())
        sys.exit(Level.ERROR)
    for ip in server_ips:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        except OSError as exc:
            raise click.BadParameter(f"{ip!r} is not an IP address",
                                     param_hint="--server-ip") from exc
    if not skip_postfix:
        postfix_dir = postfix_dir or _default_postfix_dir()
    findings = run_checks(config, postfix_dir=None if skip_postfix else postfix_dir,
                          server_ips=server_ips, days=days)
    for finding in findings:
        click.echo(finding.line())
    worst = max((finding.level for finding in findings), default=Level.OK)
    sys.exit(int(worst))


class _PluginUsageError(click.UsageError):
    """A usage error of a monitoring plugin: exit code 3 (UNKNOWN)."""

    exit_code = _UNKNOWN


class _PluginCommand(click.Command):
    """A command whose usage errors exit 3 (UNKNOWN), as monitoring plugins must."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: object) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _PluginUsageError(exc.message, ctx=exc.ctx) from exc


@click.command("probe", cls=_PluginCommand)
@config_option
def probe_command(config_path: Path | None) -> None:
    """Send a canary through Postfix and read it back: exit 0 OK, 1 WARNING, 2 CRITICAL,
    3 UNKNOWN (Nagios plugin convention)."""
    from milter.probe import Status, run_probe

    try:
        config = _settings(config_path)
    except ConfigError as exc:
        problems = "; ".join(exc.problems)
        click.echo(f"CONGVU UNKNOWN - {exc.source}: {problems}")
        sys.exit(Status.UNKNOWN)
    result = run_probe(config)
    click.echo(result.line(config.probe.warning_seconds, config.probe.timeout))
    sys.exit(int(result.status))


@click.command("backup")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@config_option
@click.option("--include-keys", is_flag=True,
              help="Also copy the private keys (keep such a backup as safe as the keys).")
@click.option("--previous", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="An earlier backup: archived messages it holds are "
              "hard-linked from it instead of copied (on the same file system).")
def backup_command(out: Path, config_path: Path | None, include_keys: bool,
                   previous: Path | None) -> None:
    """Copy every store, online and consistent, into the new directory OUT."""
    from milter.backup import MANIFEST, SIGNATURE, backup, postgresql_advice

    manifest = backup(_settings(config_path), out, include_keys=include_keys,
                      previous=previous)
    for store in manifest["stores"]:
        click.echo(f"{store['name']}: {store['source']} -> {out / store['file']}")
    in_database = {store["name"] for store in manifest["postgresql"]}
    if "quarantine" not in in_database:
        click.echo(f"quarantine: {len(manifest['quarantine_objects'])} messages")
    kept = manifest["archive"]
    if "archive" not in in_database:
        click.echo(f"archive: {kept['objects']} messages ({kept['copied']} copied, "
                   f"{kept['linked']} linked from --previous)")
    for item in manifest["files"]:
        click.echo(f"{item['name']}: {item['source']} -> {out / item['file']}")
    if manifest["document_evidence"]:
        click.echo(f"document evidence: {len(manifest['document_evidence'])} files")
    for store in manifest["postgresql"]:
        click.echo(f"{store['name']}: NOT in this backup: {store['what']} is in PostgreSQL "
                   f"({store['url']})")
    if manifest["postgresql"]:
        click.echo("PostgreSQL: " + postgresql_advice([s["url"] for s in manifest["postgresql"]]))
    for key in manifest["keys"]:
        if key["exists"]:
            state = "copied" if "file" in key else "NOT copied: keep it separately"
            click.echo(f"key {key['path']} ({key['what']}): {state}")
    click.echo(f"manifest: {out / MANIFEST}, signed in {out / SIGNATURE}")


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@config_option
@click.option("--force", is_flag=True,
              help="Overwrite existing stores (stop the filter first).")
@click.option("--accept-unsigned", is_flag=True,
              help="Restore even if MANIFEST.sig is missing or does not verify (only for "
              "backups made before congvu signed them).")
def restore_command(source: Path, config_path: Path | None, force: bool,
                    accept_unsigned: bool) -> None:
    """Restore a backup made by `congvu backup` (its signature checked) and verify the
    audit chain."""
    from milter.backup import restore, verify_audit

    config = _settings(config_path)
    for line in restore(config, source, force=force, accept_unsigned=accept_unsigned):
        click.echo(line)
    if config.audit.url is None and config.audit.path.exists():
        click.echo(f"audit: {verify_audit(config)}")


def _act(verb: str) -> Callable[[_F], _F]:
    """``--reason`` (required: how to give it is said when it is missing) and the
    actor's options of ``quarantine release`` and ``delete``."""
    def options(command: _F) -> _F:
        command = click.option(
            "--reason", default=None, metavar="TEXT",
            help=f"Why you {verb} these messages (required; recorded in the audit log "
            "with the act).")(command)
        return click.option(
            "--actor", default=None, metavar="NAME",
            help="Also record this name, as acting for them (the audit log's actor is "
            "you: the user behind sudo, else the one running the command).")(command)
    return options


def _actor_and_reason(verb: str, actor: str | None, reason: str | None) -> tuple[str, str]:
    """The audit log's actor (and for whom, when --actor names another) and the reason.

    :raises UsageProblem: no reason given, saying how to give one.
    """
    from policies import MissingReason, act_reason

    try:
        reason = act_reason(reason)
    except MissingReason as exc:
        raise UsageProblem(f"{exc}: add --reason \"why you {verb} it\", e.g. "
                           f"congvu quarantine {verb} --reason \"checked with the sender "
                           "by phone\" ID") from exc
    runner = command_line_actor()
    return (runner if actor in (None, runner) else f"{runner} for {actor}"), reason


@click.command("release")
@config_option
@_act("release")
@click.argument("qids", nargs=-1, required=True)
def release_command(config_path: Path | None, actor: str | None, reason: str | None,
                    qids: tuple[str, ...]) -> None:
    """Release held messages: sign (outbound), relay to the next hop, audit (with
    --reason, which is required)."""
    from milter.quarantine import run_release

    recorded, reason = _actor_and_reason("release", actor, reason)
    config = _settings(config_path)
    for qid in qids:
        reply = run_release(config, qid, actor=recorded, reason=reason)
        click.echo(f"released {qid}: {reply}")


@click.command("delete")
@config_option
@_act("delete")
@click.argument("qids", nargs=-1, required=True)
def delete_command(config_path: Path | None, actor: str | None, reason: str | None,
                   qids: tuple[str, ...]) -> None:
    """Delete held messages for good (each deletion is audited, with --reason, which is
    required)."""
    from milter.quarantine import delete

    recorded, reason = _actor_and_reason("delete", actor, reason)
    config = _settings(config_path)
    for qid in qids:
        delete(config, qid, actor=recorded, reason=reason)
        click.echo(f"deleted {qid}")

