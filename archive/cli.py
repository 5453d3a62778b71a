"""Command-line sub-commands of archive/ (composed into `congvu` by congvu/cli.py).

``congvu archive get ID|SHA256`` writes one archived message, as relayed, checked
against its name; ``verify`` checks that every archived message a record names is
there and hashes to that record's SHA-256. Which record names which message is the
audit log's to say: the root gives :func:`commands` a :class:`Records` reading it.
Exit codes: 0 done (verify: no problem), 1 not found, not archived, or a problem found,
2 usage or configuration.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import click

from archive.config import ArchiveConfig
from archive.errors import ArchiveReadError
from archive.store import Archive, is_sha256
from mailbase import (
    CommandFailed,
    PeriodError,
    UsageProblem,
    config_option,
    create_private,
    parse_local_datetime,
    wired,
)

ConfigLoader = Callable[[Path | None], ArchiveConfig]


class Records(Protocol):
    """What the archive's commands read of the audit log (the root supplies it)."""

    def archived_of(self, config_path: Path | None, record_id: int) -> str | None:
        """The SHA-256 record ``record_id`` names, None when it names no archived
        message. :raises LookupError: there is no message record ``record_id``."""
        ...

    def archived_since(self, config_path: Path | None,
                       since: datetime | None) -> Iterable[tuple[int, str]]:
        """(record id, SHA-256) of every record naming an archived message, received
        at ``since`` or later (None: all), oldest first."""
        ...

    def time_zone(self, config_path: Path | None) -> ZoneInfo:
        """The zone of command-line dates without an offset."""
        ...


@dataclass(frozen=True, slots=True)
class _Wiring:
    load: ConfigLoader
    records: Records


_wiring = click.make_pass_decorator(_Wiring)


@click.group("archive")
def group() -> None:
    """The exact bytes of relayed official mail, proven by the audit log."""


@group.command("get")
@click.argument("name", metavar="ID|SHA256")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the message to this new file (mode 0600) instead of standard "
              "output.")
@config_option
@_wiring
def get_cmd(wiring: _Wiring, /, name: str, out: Path | None, config_path: Path | None) -> None:
    """Write an archived message as it was relayed: by the record id `congvu audit
    query` prints, or by its SHA-256. Exit 1 when the record is unknown or names no
    archived message, or the message is missing or changed."""
    config = wiring.load(config_path)
    sha256 = _name(wiring, config_path, name)
    try:
        data = Archive(config.path).get(sha256)
    except ArchiveReadError as exc:
        raise CommandFailed(str(exc)) from exc
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        fd = create_private(out)
    except FileExistsError as exc:
        raise UsageProblem(f"--out {out}: the file exists; give a new name") from exc
    except OSError as exc:
        raise UsageProblem(f"--out {out}: cannot create it: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    click.echo(f"wrote {out}: {len(data)} bytes, sha256 {sha256}", err=True)


def _name(wiring: _Wiring, config_path: Path | None, name: str) -> str:
    """The SHA-256 that ``name`` (a record id or a SHA-256) stands for."""
    if is_sha256(name.lower()):
        return name.lower()
    if not name.isdigit() or int(name) < 1:
        raise UsageProblem(f"{name!r} is neither a record id nor a SHA-256 (64 hex digits)")
    record_id = int(name)
    try:
        sha256 = wiring.records.archived_of(config_path, record_id)
    except LookupError as exc:
        raise CommandFailed(f"no message record {record_id} in the audit log") from exc
    if sha256 is None:
        raise CommandFailed(
            f"record {record_id} names no archived message: it was not relayed (refused, "
            "held or deferred), was no unit's mail, or was written before the archive")
    return sha256


@group.command("verify")
@click.option("--since", default=None, metavar="DATE",
              help="Check only the records received at DATE or later (YYYY-MM-DD[ HH:MM], "
              "the configured zone unless it has an offset); without it, every record and "
              "every file in the archive.")
@config_option
@_wiring
def verify_cmd(wiring: _Wiring, /, since: str | None, config_path: Path | None) -> None:
    """Check that every message a record names is archived and hashes to that record's
    SHA-256. One line per problem (missing, changed, unreadable, with the record id);
    exit 0 with none, 1 otherwise."""
    config = wiring.load(config_path)
    start = None
    if since is not None:
        try:
            start = parse_local_datetime(since, wiring.records.time_zone(config_path))
        except PeriodError as exc:
            raise UsageProblem(f"--since: {exc}") from exc
    archive = Archive(config.path)
    problems = 0
    named: set[str] = set()
    for record_id, sha256 in wiring.records.archived_since(config_path, start):
        named.add(sha256)
        problems += _check(archive, sha256, f"record {record_id}")
    unrecorded = 0
    if start is None:
        for sha256 in archive.names():
            if sha256 not in named:
                unrecorded += 1
                problems += _check(archive, sha256, "unrecorded object")
    summary = f"{len(named)} archived message(s) named by records checked"
    if start is None:
        # A message archived whose record then failed (answered 451) is named by none.
        summary += f", {unrecorded} object(s) named by no record"
    click.echo(f"{summary}: {problems} problem(s)")
    if problems:
        raise CommandFailed(f"the archive at {config.path} has {problems} problem(s)")


def _check(archive: Archive, sha256: str, what: str) -> int:
    try:
        archive.get(sha256)
    except ArchiveReadError as exc:
        detail = f": {exc.detail}" if exc.detail else ""
        click.echo(f"{what}: {exc.problem} {sha256} ({exc.path}){detail}")
        return 1
    return 0


def commands(load: ConfigLoader, *, records: Records) -> list[click.Command]:
    """The top-level command group this package adds to `congvu`.

    :param load: the ``[archive]`` table for ``--config`` (the root supplies it).
    :param records: the audit log's side: which record names which message.
    """
    return [wired(group, _Wiring(load, records))]
