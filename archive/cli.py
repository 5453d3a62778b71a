"""Command-line sub-commands of archive/ (composed into `congvu` by congvu/cli.py).

``congvu archive get ID|SHA256`` writes one archived message, as relayed, checked
against its name; ``verify`` checks that every archived message a record names is
there and hashes to that record's SHA-256; ``prune`` removes what the retention
classes let expire, writes a ledger of it and records that in the audit chain. Which
record names which message is the audit log's to say: the root gives :func:`commands`
a :class:`Records` reading it. Exit codes: 0 done (verify: no problem), 1 not found,
not archived, a problem found, or the store refused, 2 usage or configuration.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import click

from archive.config import ArchiveConfig
from archive.errors import ArchiveError, ArchiveReadError
from archive.holds import Hold
from archive.index import TextReader
from archive.keys import rotate
from archive.ledger import encode_ledger, read_ledgers
from archive.proof import Bundle, check_bundle, fingerprint, write_bundle
from archive.retention import ArchivedMessage, Retention
from archive.store import Archive, Removal, is_sha256
from mailbase import (
    CommandFailed,
    PeriodError,
    UsageProblem,
    command_line_actor,
    config_option,
    create_private,
    parse_local_datetime,
    private_dir,
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
                       since: datetime | None) -> Iterable[ArchivedMessage]:
        """Every record naming an archived message, received at ``since`` or later
        (None: all), oldest first."""
        ...

    def time_zone(self, config_path: Path | None) -> ZoneInfo:
        """The zone of command-line dates without an offset."""
        ...

    def unit_chain(self, config_path: Path | None, unit: str) -> Sequence[str]:
        """``unit`` and the units above it (just ``unit`` when the directory has none)."""
        ...

    def record_prune(self, config_path: Path | None, *, actor: str, removed: int,
                     ledger: str, ledger_sha256: str) -> int:
        """Append the chained ``archive-prune`` event; return its id."""
        ...

    def prune_ledgers(self, config_path: Path | None) -> dict[str, str]:
        """Ledger name -> SHA-256, from every ``archive-prune`` event."""
        ...

    def record_key_rotation(self, config_path: Path | None, *, actor: str, retired: str,
                            key: str) -> int:
        """Append the chained event of the encryption key's rotation (the retired key's
        id and the new one's); return its id."""
        ...

    def prune_events(self, config_path: Path | None) -> dict[str, int]:
        """Ledger name -> the id of the ``archive-prune`` event that names it."""
        ...

    def matching(self, config_path: Path | None, query: str) -> set[int]:
        """The records whose folded text (subject, addresses, attachment names) holds
        every word of ``query``. :raises ValueError: ``query`` has no words."""
        ...

    def holds(self, config_path: Path | None) -> list[Hold]:
        """The legal holds in force (placed and not released), oldest first."""
        ...

    def place_hold(self, config_path: Path | None, hold: Hold, *, actor: str) -> int:
        """Append the chained ``archive-hold`` event of ``hold``; return its id (the
        hold's id)."""
        ...

    def release_hold(self, config_path: Path | None, hold_id: int, *, actor: str,
                     reason: str) -> int:
        """Append the chained ``archive-hold-release`` event.

        :raises LookupError: no hold ``hold_id`` is in force."""
        ...

    def proof(self, config_path: Path | None, record_id: int) -> dict[str, Any]:
        """What proves event ``record_id`` (archive/proof.py): ``record`` (its chained
        columns), ``completion`` (``seq``, ``row``) or None, ``link_from``, ``hashes``
        and ``checkpoint`` (the exported checkpoint's fields, with its link); a
        checkpoint is signed first when none covers the record.

        :raises LookupError: there is no event ``record_id``."""
        ...


@dataclass(frozen=True, slots=True)
class _Wiring:
    load: ConfigLoader
    records: Records
    reader: TextReader | None


_wiring = click.make_pass_decorator(_Wiring)


@click.group("archive")
def group() -> None:
    """The exact bytes of relayed official mail, proven by the audit log."""


@group.command("get")
@click.argument("name", metavar="ID|SHA256")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the message to this new file (mode 0600) instead of standard "
              "output; an existing directory: write the proof bundle of record ID into "
              "it, as `archive proof` does.")
@config_option
@_wiring
def get_cmd(wiring: _Wiring, /, name: str, out: Path | None, config_path: Path | None) -> None:
    """Write an archived message as it was relayed: by the record id `congvu audit
    query` prints, or by its SHA-256. Exit 1 when the record is unknown or names no
    archived message, or the message is missing or changed."""
    if out is not None and out.is_dir():
        if not name.isdigit() or int(name) < 1:
            raise UsageProblem(f"a proof bundle needs a record id, not {name!r}")
        _write_proof(wiring, config_path, int(name), out)
        return
    config = wiring.load(config_path)
    sha256 = _name(wiring, config_path, name)
    try:
        data = Archive.from_config(config, create=False).get(sha256)
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


@group.command("proof")
@click.argument("record_id", metavar="ID", type=click.IntRange(min=1))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The directory to write the bundle into (made 0700 if absent; it must "
              "not hold a bundle already).")
@config_option
@_wiring
def proof_cmd(wiring: _Wiring, /, record_id: int, out: Path,
              config_path: Path | None) -> None:
    """Write a proof bundle of record ID: the message as relayed (ID.eml), proof.json and
    README.txt, which say how anyone checks, without congvu's stores, that the audit log
    recorded this message; a checkpoint is signed first when none covers the record.
    Exit 1 when the record is unknown, names no archived message, or its message was
    pruned, is missing or changed."""
    _write_proof(wiring, config_path, record_id, out)


def _write_proof(wiring: _Wiring, config_path: Path | None, record_id: int,
                 out: Path) -> None:
    config = wiring.load(config_path)
    if out.exists() and (not out.is_dir() or (out / "proof.json").exists()):
        raise UsageProblem(f"--out {out}: not a directory, or it holds a proof already")
    sha256 = _name(wiring, config_path, str(record_id))
    archive = Archive.from_config(config, create=False)
    try:
        message = archive.get(sha256)
    except ArchiveReadError as exc:
        pruned, _ = read_ledgers(archive.ledgers(), wiring.records.prune_ledgers(config_path))
        if exc.problem == "missing" and sha256 in pruned:
            ledger = pruned[sha256]
            event = wiring.records.prune_events(config_path).get(ledger.ledger)
            raise CommandFailed(
                f"record {record_id}: its message {sha256} was removed by retention at "
                f"{ledger.at}, by archive-prune event {event} (ledger {ledger.ledger})"
            ) from exc
        raise CommandFailed(str(exc)) from exc
    try:
        proof = wiring.records.proof(config_path, record_id)
    except LookupError as exc:
        raise CommandFailed(f"no event {record_id} in the audit log") from exc
    try:
        private_dir(out)
        written = write_bundle(out, Bundle(record_id, message, proof))
    except OSError as exc:
        raise CommandFailed(f"--out {out}: cannot write the bundle: {exc}") from exc
    checkpoint = proof["checkpoint"]
    click.echo(f"wrote {len(written)} files to {out}: record {record_id}, message "
               f"{sha256}, checkpoint at record {checkpoint['seq']} "
               f"({checkpoint['at']}), key {fingerprint(checkpoint['public_key'])}",
               err=True)


@group.command("check-proof")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--key", default=None, metavar="sha256:HEX",
              help="The audit key's fingerprint (or the raw public key in hex), obtained "
              "apart from the bundle (`congvu audit checkpoint export` on the server); "
              "without it the bundle is checked but its key is not.")
def check_proof_cmd(directory: Path, key: str | None) -> None:
    """Check a proof bundle with its files alone (no configuration, no store): the message
    hashes to what its record names, the record to its place in the span, the span to the
    checkpoint's link, which the key signed. Exit 0 when it proves the message, 1 with a
    line per problem otherwise, 2 on usage errors."""
    if key is not None:
        given = key.lower()
        if is_sha256(given):  # the raw public key, as [audit] checkpoint_public_keys takes it
            given = fingerprint(given)
        if not (given.startswith("sha256:") and is_sha256(given[7:])):
            raise UsageProblem(f"--key {key!r}: expected sha256: and 64 hex digits, or the "
                               "raw public key (64 hex digits)")
        key = given
    problems, signer = check_bundle(directory, key=key)
    for problem in problems:
        click.echo(problem)
    if problems:
        raise CommandFailed(f"{directory}: the proof does not hold ({len(problems)} "
                            "problem(s))")
    if key is None:
        click.echo(f"proof holds, signed by {signer}: trust it only if that is the "
                   "fingerprint of the province's audit key you obtained separately")
    else:
        click.echo(f"proof holds, signed by {signer}, the key given")


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
    SHA-256. One line per problem (missing, changed, swapped, unreadable, with the
    record id); exit 0 with none, 1 otherwise."""
    config = wiring.load(config_path)
    start = None
    if since is not None:
        try:
            start = parse_local_datetime(since, wiring.records.time_zone(config_path))
        except PeriodError as exc:
            raise UsageProblem(f"--since: {exc}") from exc
    archive = Archive.from_config(config, create=False)
    problems = 0
    named: set[str] = set()
    pruned, ledger_problems = read_ledgers(archive.ledgers(),
                                           wiring.records.prune_ledgers(config_path))
    for line in ledger_problems:
        click.echo(line)
    problems += len(ledger_problems)
    gone = 0
    # two passes over the records (names first) rather than millions of them in memory
    named.update(m.sha256 for m in wiring.records.archived_since(config_path, start))
    for message in wiring.records.archived_since(config_path, start):
        what = f"record {message.record_id}"
        if message.sha256 in pruned and not archive.has(message.sha256):
            ledger = pruned[message.sha256]
            click.echo(f"{what}: pruned {message.sha256} (retention, {ledger.at}, ledger "
                       f"{ledger.ledger})")
            gone += 1
            continue
        problems += _check(archive, message.sha256, what, named)
    unrecorded = 0
    if start is None:
        for sha256 in archive.names():
            if sha256 not in named:
                unrecorded += 1
                problems += _check(archive, sha256, "unrecorded object", named)
    summary = f"{len(named)} archived message(s) named by records checked"
    if gone:
        summary += f" ({gone} removed by retention)"
    if start is None:
        # A message archived whose record then failed (answered 451) is named by none.
        summary += f", {unrecorded} object(s) named by no record"
    click.echo(f"{summary}: {problems} problem(s)")
    if problems:
        raise CommandFailed(f"the archive at {archive.where} has {problems} "
                            "problem(s)")


def _check(archive: Archive, sha256: str, what: str, named: set[str] | None = None) -> int:
    """Check one object; print its problem, if any, and return how many (0 or 1).

    A changed object whose bytes are another archived message (named by a record, or
    stored under that name) was swapped, not damaged: said so, with the message it holds.
    """
    try:
        archive.get(sha256)
    except ArchiveReadError as exc:
        problem, detail = exc.problem, f": {exc.detail}" if exc.detail else ""
        if exc.found is not None and (exc.found in (named or ())
                                      or archive.has(exc.found)):
            problem, detail = "swapped", f": it holds archived message {exc.found}"
        click.echo(f"{what}: {problem} {sha256} ({exc.path}){detail}")
        return 1
    return 0


@group.command("prune")
@click.option("--dry-run", "is_dry_run", is_flag=True,
              help="Say what has expired and remove nothing.")
@click.option("--actor", default="system", show_default=True,
              help="Who asked (recorded in the audit chain).")
@config_option
@_wiring
def prune_cmd(wiring: _Wiring, /, is_dry_run: bool, actor: str,
              config_path: Path | None) -> None:
    """Remove the archived messages whose retention has expired (`[[archive.retention]]`,
    `keep_years`): a ledger of them is written first, then a chained `archive-prune`
    audit event naming it, then the messages are removed. Records stay; `verify` reports
    their messages as pruned."""
    config = wiring.load(config_path)
    retention = Retention(config, lambda unit: wiring.records.unit_chain(config_path, unit))
    now = datetime.now(UTC)
    records_read_at = time.time()  # before the records are read: see Archive.remove_unused
    messages = list(wiring.records.archived_since(config_path, None))
    holds = wiring.records.holds(config_path)
    matched = {hold.hold_id: wiring.records.matching(config_path, hold.query)
               for hold in holds if hold.query is not None}
    held = {m.sha256: hold for m in messages for hold in holds
            if hold.covers(m, retention.chain, matched.get(hold.hold_id, ()))}
    expired = retention.expired(messages, now)
    archive = Archive.from_config(config, create=False)
    for entry in expired:
        if entry.sha256 in held:
            click.echo(f"held {entry.sha256}: expired, kept by hold {held[entry.sha256].hold_id}")
    present = [e for e in expired
               if e.sha256 not in held and archive.has(e.sha256)]
    for entry in present:
        click.echo(f"expired {entry.sha256}: records "
                   f"{', '.join(map(str, entry.record_ids))}, kept until "
                   f"{entry.kept_until:%Y-%m-%d} ({entry.retention})")
    if is_dry_run or not present:
        click.echo(f"{len(present)} archived message(s) expired"
                   + (", nothing removed (--dry-run)" if is_dry_run and present else ""))
        return
    try:
        name, data = encode_ledger(present, now)
        path = archive.write_ledger(name, data)
        event = wiring.records.record_prune(config_path, actor=actor, removed=len(present),
                                            ledger=name,
                                            ledger_sha256=hashlib.sha256(data).hexdigest())
        removed = 0
        for sha256, done in archive.remove_unused(
                (entry.sha256 for entry in present), records_read_at=records_read_at,
                on_wait=lambda: click.echo("waiting for messages being archived", err=True)):
            removed += done is Removal.REMOVED
            if done is Removal.IN_USE:
                click.echo(f"kept {sha256}: stored again for a message since the records "
                           "were read; a later prune removes it if it is still expired")
        parts = archive.remove_unreferenced_parts(records_read_at=records_read_at)
    except ArchiveError as exc:
        raise CommandFailed(str(exc)) from exc
    click.echo(f"removed {removed} archived message(s) and {parts} part(s) no message "
               f"names any more; ledger {path}, audit event {event}")


@group.group("key")
def key_group() -> None:
    """The encryption key: rotate it, seal old objects with the new one."""


@key_group.command("rotate")
@click.option("--reseal", "is_resealing", is_flag=True,
              help="Then seal every object again with the new key (see `key reseal`).")
@click.option("--actor", default=None,
              help="Who rotates (recorded in the chain); default: the user behind sudo, "
              "else the user running the command.")
@config_option
@_wiring
def key_rotate_cmd(wiring: _Wiring, /, is_resealing: bool, actor: str | None,
                   config_path: Path | None) -> None:
    """Retire the archive's encryption key and make a new one: new messages are sealed
    with it once the filter is reloaded or restarted; the retired key is kept beside it
    (keys/archive-<id>.key), so what it sealed stays readable. The rotation is a
    chained event of the audit log, written before the keys change."""
    config = wiring.load(config_path)
    events: list[int] = []

    def record(retired: str, key: str) -> None:
        events.append(wiring.records.record_key_rotation(
            config_path, actor=actor or command_line_actor(), retired=retired, key=key))

    try:
        old, new = rotate(config.key_file, record)
    except ArchiveError as exc:
        raise CommandFailed(str(exc)) from exc
    click.echo(f"retired key {old} (kept as {config.key_file.stem}-{old}"
               f"{config.key_file.suffix}); new key {new}, recorded as audit event "
               f"{events[0]}. Reload the filter (SIGHUP) so it seals with the new key; back "
               "up both, apart from the data.")
    if is_resealing:
        _reseal(config)


@key_group.command("reseal")
@config_option
@_wiring
def key_reseal_cmd(wiring: _Wiring, /, config_path: Path | None) -> None:
    """Seal again with the current key every archived object another key sealed, and
    every plain one (stored before encrypt was on). Needs encrypt = true. A retired key
    may be removed once no object and no backup you keep needs it."""
    _reseal(wiring.load(config_path))


def _reseal(config: ArchiveConfig) -> None:
    if not config.encrypt:
        raise UsageProblem("[archive] encrypt is false: there is no key to seal with")
    try:
        resealed, seen = Archive.from_config(config, create=False).reseal()
    except ArchiveError as exc:
        raise CommandFailed(str(exc)) from exc
    click.echo(f"sealed {resealed} of {seen} object(s) with the current key")


@group.group("index")
def index_group() -> None:
    """The text index the console's search reads."""


@index_group.command("rebuild")
@click.option("--all", "is_everything", is_flag=True,
              help="Empty the index first and read every archived message again (after "
              "a change to what is indexed); without it, only the messages it lacks.")
@config_option
@_wiring
def index_rebuild_cmd(wiring: _Wiring, /, is_everything: bool,
                      config_path: Path | None) -> None:
    """Index the archived messages the text index lacks (stored before it existed, or
    while it could not be written), and remove the rows of messages no longer archived.
    Safe to run while the filter stores: a message is indexed once. Run it as the user
    the filter runs as. Exit 1 when a message could not be read (one line each), 2 when
    the index is off."""
    config = wiring.load(config_path)
    if not config.is_indexed:
        raise UsageProblem("[archive] index is off (by default it is when encrypt is on: "
                           "the index holds the words in clear); set index = true to keep "
                           "one")
    if wiring.reader is None:
        raise UsageProblem("this congvu command has no reader of messages' text")
    unreadable: list[str] = []

    def say(exc: ArchiveReadError) -> None:
        unreadable.append(exc.sha256)
        click.echo(f"unreadable {exc.sha256}: {exc}")

    try:
        archive = Archive.from_config(config, create=False)
        assert archive.index is not None  # is_indexed
        archive.index.create()
        done = archive.reindex(wiring.reader, everything=is_everything,
                               on_unreadable=say)
    except ArchiveError as exc:
        raise CommandFailed(str(exc)) from exc
    click.echo(f"indexed {done.added} archived message(s) ({done.present} indexed "
               f"already, {done.unreadable} unreadable); removed {done.removed} row(s) of "
               f"messages no longer archived; index {archive.index.where}")
    if done.unreadable:
        raise CommandFailed(f"{done.unreadable} archived message(s) could not be read: "
                            "`congvu archive verify` names each problem")


@group.group("hold")
def hold_group() -> None:
    """Legal holds: what no prune removes (chained admin events)."""


@hold_group.command("add")
@click.option("--unit", default=None, help="The unit (and the units below it).")
@click.option("--mailbox", default=None, help="An address, as sender or recipient.")
@click.option("--since", default=None, metavar="DATE", help="Received at DATE or later.")
@click.option("--until", default=None, metavar="DATE", help="Received before DATE.")
@click.option("--query", default=None, metavar="WORDS",
              help="Messages whose record holds every word (subject, addresses, "
              "attachment names; diacritics and case ignored), as `audit query --text`.")
@click.option("--reason", required=True, help="Why (a case, an inquiry, a request).")
@click.option("--requested-by", required=True, help="Who asked for the hold.")
@click.option("--actor", default="system", show_default=True,
              help="Who places it (recorded in the audit chain).")
@config_option
@_wiring
def hold_add_cmd(wiring: _Wiring, /, unit: str | None, mailbox: str | None,
                 since: str | None, until: str | None, query: str | None, reason: str,
                 requested_by: str, actor: str, config_path: Path | None) -> None:
    """Place a legal hold on the archived messages of a unit, a mailbox, a period, a
    query, or all of those at once (a message must match every one given)."""
    if unit is None and mailbox is None and since is None and until is None and not query:
        raise UsageProblem("a hold needs --unit, --mailbox, --since, --until or --query")
    if query is not None:
        try:
            found = len(wiring.records.matching(config_path, query))
        except ValueError as exc:
            raise UsageProblem(f"--query {query!r}: {exc}") from exc
        click.echo(f"the query finds {found} record(s) today; the hold covers those it "
                   "finds at each prune", err=True)
    tz = wiring.records.time_zone(config_path)
    try:
        start = parse_local_datetime(since, tz) if since else None
        end = parse_local_datetime(until, tz) if until else None
    except PeriodError as exc:
        raise UsageProblem(f"--since/--until: {exc}") from exc
    if start and end and end <= start:
        raise UsageProblem("--until must be after --since")
    hold = Hold(0, reason, requested_by, "", unit=unit,
                mailbox=mailbox.lower() if mailbox else None, since=start, until=end,
                query=query)
    hold_id = wiring.records.place_hold(config_path, hold, actor=actor)
    click.echo(f"placed hold {hold_id}")


@hold_group.command("release")
@click.argument("hold_id", type=int)
@click.option("--reason", required=True, help="Why the hold ends.")
@click.option("--actor", default="system", show_default=True,
              help="Who releases it (recorded in the audit chain).")
@config_option
@_wiring
def hold_release_cmd(wiring: _Wiring, /, hold_id: int, reason: str, actor: str,
                     config_path: Path | None) -> None:
    """Release hold HOLD_ID (exit 1 when no such hold is in force)."""
    try:
        event = wiring.records.release_hold(config_path, hold_id, actor=actor, reason=reason)
    except LookupError as exc:
        raise CommandFailed(f"no hold {hold_id} is in force") from exc
    click.echo(f"released hold {hold_id} (audit event {event})")


@hold_group.command("list")
@config_option
@_wiring
def hold_list_cmd(wiring: _Wiring, /, config_path: Path | None) -> None:
    """The holds in force, one a line."""
    for hold in wiring.records.holds(config_path):
        click.echo(hold.describe())


def commands(load: ConfigLoader, *, records: Records,
             reader: TextReader | None = None) -> list[click.Command]:
    """The top-level command group this package adds to `congvu`.

    :param load: the ``[archive]`` table for ``--config`` (the root supplies it).
    :param records: the audit log's side: which record names which message.
    :param reader: what reads a message's text for the index (policies'
        ``searchable_text``); without it ``archive index rebuild`` refuses.
    """
    return [wired(group, _Wiring(load, records, reader))]
