"""``congvu store migrate``: a data directory's SQLite stores copied into PostgreSQL.

The composition root's command, since it spans packages: each store's own package
copies it (audit/importlog.py for the audit log), and this module opens the stores a
configuration names, runs the copies in order and maps their outcomes to the exit
codes of ARCHITECTURE.md's command-line contract: 0 copied, or already there (a second
run changes nothing and says so); 1 a store is not intact, cannot be read or written,
or its copy does not verify; 2 usage (a URL with a password, a chain id that is not
one or is taken, a target whose live chain is another log's without ``--chain-id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

import audit
from congvu.config import CongvuConfig
from congvu.context import current
from mailbase import CommandFailed, UsageProblem, check_store_url, command_line_actor, config_option


@dataclass(frozen=True, slots=True)
class Target:
    """Where the stores go: the database and the password file of its user."""

    url: str
    password_file: Path | None


def migrate_audit(config: CongvuConfig, target: Target, *, chain_id: str | None,
                  actor: str) -> audit.CopyOutcome:
    """The data directory's SQLite audit log into ``target``: as the start of its live
    chain when that is empty and no ``chain_id`` is given, else as the imported chain
    ``chain_id``; verified before (with this server's pins, else its own key) and after.

    :raises audit.ChainError: a bad or taken chain id, or a live chain of another log.
    :raises audit.AuditError: the log is missing or not intact, or a store failed.
    """
    mine = config.audit
    source = audit.AuditLog.open_readonly(mine.path)
    try:
        into = audit.AuditConfig(
            url=target.url, password_file=target.password_file, keys_dir=mine.keys_dir,
            checkpoint_every_records=mine.checkpoint_every_records,
            checkpoint_every_seconds=mine.checkpoint_every_seconds,
            checkpoint_public_keys=mine.checkpoint_public_keys)
        with audit.AuditLog.open(into) as log:
            return audit.copy_log(source, log, trust=mine.key_trust(), chain_id=chain_id,
                                  actor=actor)
    finally:
        source.close()


@click.group("store")
def group() -> None:
    """The stores several mail servers share: copy this server's into PostgreSQL."""


@group.command("migrate")
@click.option("--to", "url", required=True,
              help="The PostgreSQL database, postgresql://USER@HOST:PORT/DATABASE (no "
              "password in it: see --password-file).")
@click.option("--chain-id", default=None,
              help="Import the audit log as a read-only chain of this id (the former "
              "server's or domain's name, e.g. daknong) beside the live chain; without "
              "it the target's live chain must be empty and the log becomes its start.")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None,
              help="A file holding only the password of the URL's user, mode 0600 "
              "(default: [store] password_file, else libpq's passfile ~/.pgpass).")
@config_option
def migrate_cmd(url: str, chain_id: str | None, password_file: Path | None,
                config_path: Path | None) -> None:
    """Copy this data directory's SQLite stores into PostgreSQL, verifying before and
    after; safe to run again (a second run changes nothing and says so)."""
    try:
        check_store_url(url)
    except ValueError as exc:
        raise UsageProblem(f"--to: {exc}") from exc
    config = current().settings(config_path)
    target = Target(url, password_file or config.audit.password_file)
    try:
        outcome = migrate_audit(config, target, chain_id=chain_id, actor=command_line_actor())
    except audit.ChainError as exc:
        raise UsageProblem(f"audit log: {exc}") from exc
    except audit.AuditError as exc:
        raise CommandFailed(f"audit log: {exc}") from exc
    click.echo(f"audit log: {outcome.describe()}")
    if not outcome.has_changed:
        click.echo("nothing changed")
