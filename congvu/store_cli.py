"""``congvu store migrate``: a data directory's stores copied into PostgreSQL.

The composition root's command, since it spans packages: each store's own package
copies it (audit/importlog.py the audit log, directory/, web/'s users, policies/'
quarantine, signer/'s DKIM rotation state, archive/), and this module opens the stores
a configuration names, runs the copies in that order and maps their outcomes to the
exit codes of ARCHITECTURE.md's command-line contract: 0 copied, or already there (a
second run changes nothing and says so); 1 a store is not intact, cannot be read or
written, or its copy does not verify (the copies before it stay: a new run goes on);
2 usage (a URL with a password, a chain id that is not one or is taken, a target whose
live chain is another log's without ``--chain-id``).

The province has one directory, one set of console users and one DKIM rotation state:
the first server's are copied, and a later server's are left out when the shared store
holds them already (said per store). Every server's held messages and archived
messages are copied (the quarantine by id, the archive by SHA-256, so nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

import archive
import audit
import directory
import policies
import signer
import web
from audit.summary import behind as summary_behind
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
        return audit.copy_log(source, _audit_target(config, target), trust=mine.key_trust(),
                              chain_id=chain_id, actor=actor)
    finally:
        source.close()


def _audit_target(config: CongvuConfig, target: Target) -> audit.AuditConfig:
    mine = config.audit
    return audit.AuditConfig(
        url=target.url, password_file=target.password_file, keys_dir=mine.keys_dir,
        checkpoint_every_records=mine.checkpoint_every_records,
        checkpoint_every_seconds=mine.checkpoint_every_seconds,
        checkpoint_public_keys=mine.checkpoint_public_keys)


def count_summary(config: CongvuConfig, target: Target) -> str:
    """The shared log's report summary counted again when it no longer describes the log:
    rows copied or imported are not counted as they go in, so after a copy (this run's,
    or an earlier one stopped before this step) the report would read every record until
    a rebuild. Mail keeps flowing meanwhile (a month a transaction).

    :raises audit.AuditError: the store cannot be read or written.
    """
    with audit.AuditLog.open(_audit_target(config, target)) as log:
        if summary_behind(log) is None:
            return "the report summary counts the whole log"
        rebuilt = log.rebuild_summary()
    return (f"the report summary counted again: {rebuilt.months} month(s), up to event "
            f"{rebuilt.head}")


def migrate_directory(config: CongvuConfig, target: Target) -> str:
    """The directory store into ``target``, unless the shared one holds units already.

    :raises directory.DirectoryError: a store failed.
    """
    from directory.pgstore import copy_directory_to_postgresql  # psycopg only here

    source = config.directory.path
    if not source.is_file():
        return f"no directory store at {source}; nothing to copy"
    into = config.directory.model_copy(update={"url": target.url,
                                               "password_file": target.password_file})
    return _copy_unless_held("directory", "units",
                             lambda: copy_directory_to_postgresql(source, into),
                             directory.StoreError, lambda: _shared_units(into))


def _shared_units(into: directory.DirectoryConfig) -> int:
    try:
        with directory.Directory.open(into, read_only=True) as shared:
            return len(shared.units())
    except directory.DirectoryError:
        return 0


def migrate_users(config: CongvuConfig, target: Target) -> str:
    """The console's users store into ``target``, unless the shared one holds users.

    :raises web.WebError: a store failed.
    """
    from web.users import copy_users_to_postgresql

    source = config.web.path
    if not source.is_file():
        return f"no users store at {source}; nothing to copy"
    into = config.web.model_copy(update={"url": target.url,
                                         "password_file": target.password_file})
    return _copy_unless_held("users store", "users",
                             lambda: copy_users_to_postgresql(source, into),
                             web.UserError, lambda: _shared_users(into))


def _shared_users(into: web.WebConfig) -> int:
    with web.UserStore(into) as shared:
        return len(shared.users())


def _copy_unless_held(store: str, rows: str, copy: Callable[[], dict[str, int]],
                      refused: type[Exception], held: Callable[[], int]) -> str:
    """Run ``copy``; when the shared store refuses it because it holds ``rows`` already
    (copied before, or from another server), say so instead of failing.

    The copy refuses a non-empty target as a whole, so a re-run is safe and changes nothing.
    """
    try:
        counts = copy()
    except refused:
        present = held()
        if not present:
            raise
        return (f"the shared {store} holds {present} {rows} already (copied before, or "
                "from another server); not copied, nothing changed")
    return f"copied {_counted(counts)}"


def migrate_quarantine(config: CongvuConfig, target: Target) -> str:
    """Every held message the shared quarantine lacks (by id), times and decisions kept.

    :raises policies.PolicyError: a store failed.
    """
    mine = config.policies.quarantine
    if not (mine.path / "index.sqlite3").is_file():
        return f"no quarantine at {mine.path}; nothing to copy"
    source = policies.open_quarantine(mine.model_copy(update={"url": None}))
    shared = policies.open_quarantine(mine.model_copy(update={
        "url": target.url, "password_file": target.password_file}))
    try:
        held = {entry.id for entry in shared.list()}
        if not held:
            return f"copied {policies.copy_quarantine(source, shared)} held messages"
        missing = [entry for entry in source.list() if entry.id not in held]
        for entry in missing:
            shared.adopt(entry, source.read(entry.id))
    finally:
        source.close()
        shared.close()
    if not missing:
        return "every held message is there already; nothing changed"
    return f"copied {len(missing)} held messages"


def migrate_rotation(config: CongvuConfig, target: Target) -> str:
    """The DKIM rotation state into ``target``, unless the shared state has keys.

    :raises signer.SignerError: the file or the database failed.
    """
    from signer.rotation_store import read_shared

    mine = config.signer.dkim
    if not mine.state_file.is_file():
        return f"no DKIM rotation state at {mine.state_file}; nothing to copy"
    into = mine.model_copy(update={"url": target.url, "password_file": target.password_file})
    held = read_shared(into)
    if held:
        return (f"the shared state holds {len(held)} rotated keys already (copied before, "
                "or from another server); not copied, nothing changed")
    return f"copied {signer.copy_rotation(mine.state_file, into)} rotated keys"


def migrate_archive(config: CongvuConfig, target: Target) -> str:
    """Every archived message and ledger the shared archive lacks (by SHA-256).

    :raises archive.ArchiveError: a file or the database failed.
    """
    mine = config.archive
    if not mine.path.is_dir():
        return f"no archive at {mine.path}; nothing to copy"
    source = archive.Archive.from_config(mine.model_copy(update={"url": None}), create=False)
    into = archive.Archive.from_config(mine.model_copy(update={
        "url": target.url, "password_file": target.password_file}), create=True)
    assert isinstance(into, archive.PgArchive)
    copied = archive.copy_to_postgresql(source, into)
    problems = "".join(f"\n  {line}" for line in copied.problems)
    if not copied.objects and not copied.ledgers:
        return (f"all {copied.present} archived messages are there already; nothing "
                f"changed{problems}")
    return (f"copied {copied.objects} archived messages ({copied.present} there already) "
            f"and {copied.ledgers} prune ledgers{problems}")


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {table}" for table, n in counts.items())


#: The stores after the audit log, in order: what each is called, its copy, and the
#: root exception of the package that copies it (a failure: exit 1).
STEPS: list[tuple[str, Callable[[CongvuConfig, Target], str], type[Exception]]] = [
    ("directory", migrate_directory, directory.DirectoryError),
    ("console users", migrate_users, web.WebError),
    ("quarantine", migrate_quarantine, policies.PolicyError),
    ("DKIM rotation state", migrate_rotation, signer.SignerError),
    ("archive", migrate_archive, archive.ArchiveError),
]


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
        click.echo("audit log: nothing changed")
    if outcome.copied is not audit.Copied.EMPTY:
        try:
            click.echo(f"audit log: {count_summary(config, target)}")
        except audit.AuditError as exc:
            raise CommandFailed(f"audit log: {exc}") from exc
    for name, step, failure in STEPS:
        try:
            click.echo(f"{name}: {step(config, target)}")
        except failure as exc:
            raise CommandFailed(f"{name}: {exc}") from exc
