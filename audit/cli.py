"""Command-line sub-commands of audit/ (composed into `congvu` by congvu/cli.py).

``congvu audit query|show|trace|export|report`` read the store through a read-only
connection; ``verify`` walks the chain (exit 0 intact, 1 not); ``checkpoint export``
and ``prune`` write (they need the checkpoint key). Dates without an offset are in the
configured zone (Asia/Ho_Chi_Minh by default). Exit codes: 0 done, 1 a check found
something or the store failed, 2 usage (bad filters, dates, periods).
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from audit.chain import Checkpoint
from audit.config import AuditConfig
from audit.errors import AuditError, QueryError
from audit.keys import KeyTrust, fingerprint
from audit.query import Filters, RecordSummary, TraceEntry
from audit.records import Action, AdminEvent, AdminKind, Direction, Fate
from audit.renames import MAX_RENAMES, IdMapError, read_id_map
from audit.report import Report
from audit.reportfiled import FILE_FORMATS, render_file
from audit.reportuse import RosterMailbox
from audit.rotation import rotate_key
from audit.store import AuditLog
from audit.verified import STATE_FILE, VerifiedState, store_id, verify_since
from audit.words import heading, translation, value
from mailbase import (
    CommandFailed,
    PeriodError,
    Translation,
    UsageProblem,
    command_line_actor,
    config_option,
    lang_option,
    parse_local_datetime,
    parse_period,
    wired,
    zone,
)

ConfigLoader = Callable[[Path | None], AuditConfig]
UnitExpander = Callable[[str], Sequence[str]]
UnitNames = Callable[[], Mapping[str, str]]
RosterReader = Callable[[], Sequence[RosterMailbox] | None]
#: the directory's units in its order, each with its parent's id (None: a root)
UnitTree = Callable[[], Sequence[tuple[str, str | None]]]
#: given the units a report names (none: every unit), each predecessor -> the successor
#: the report counts it under
UnitRollup = Callable[[Sequence[str]], Mapping[str, str]]

def _fail(exc: AuditError | PeriodError) -> click.ClickException:
    """Bad filters, dates or periods: exit 2; the store failed: 1."""
    if isinstance(exc, QueryError | PeriodError):
        return UsageProblem(str(exc))
    return CommandFailed(str(exc))


def _local(config: AuditConfig, value: datetime) -> str:
    return value.astimezone(zone(config.time_zone)).strftime("%Y-%m-%d %H:%M:%S")


def _time(config: AuditConfig, text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_local_datetime(text, zone(config.time_zone))
    except PeriodError as exc:
        raise UsageProblem(f"--{name}: {exc}") from exc


def _summary_row(config: AuditConfig, r: RecordSummary) -> dict[str, Any]:
    row = asdict(r)
    row["received_at"] = r.received_at.isoformat()
    row["outcome"] = r.outcome or "incomplete"
    return row


def _table(rows: list[dict[str, Any]], columns: list[str], tr: Translation) -> str:
    """Rows for people: each column under its heading, stored values in words, in
    ``tr``'s language."""
    cells = [[value(c, row.get(c), tr) for c in columns] for row in rows]
    headings = [heading(c, tr) for c in columns]
    widths = [min(48, max([len(h), *(len(r[i]) for r in cells)]))
              for i, h in enumerate(headings)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headings, widths, strict=True))]
    for r in cells:
        lines.append("  ".join(
            (v if len(v) <= w else v[: w - 1] + "…").ljust(w)
            for v, w in zip(r, widths, strict=True)
        ))
    return "\n".join(line.rstrip() for line in lines)


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().rstrip("\n")


# chain (the imported chain a record is of, empty for the live chain) came last: the
# columns before it keep their places for readers of the earlier CSV
_SUMMARY_COLUMNS = ["id", "received_at", "direction", "envelope_sender", "subject",
                    "recipients", "attachments", "action", "outcome", "dkim", "smime",
                    "sender_unit", "claimed_unit", "queue_id", "message_id", "chain"]


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter options shared by ``query`` and ``export``."""
    options = [
        click.option("--unit", "units", multiple=True,
                     help="A unit id (repeatable): mail it sent, received or whose From "
                     "claims it; with --direction outbound, mail it sent."),
        click.option("--sender-unit", "sender_units", multiple=True,
                     help="A unit id (repeatable): only mail this unit sent."),
        click.option("--recipient-unit", "recipient_units", multiple=True,
                     help="A unit id (repeatable): only mail delivered to this unit."),
        click.option("--subtree", is_flag=True,
                     help="Also cover the descendants of each --unit, --sender-unit and "
                     "--recipient-unit (from the directory)."),
        click.option("--with-predecessors", is_flag=True,
                     help="Also cover the units each --unit, --sender-unit and "
                     "--recipient-unit succeeds after a merger (their successor, from the "
                     "directory), with --subtree the units below those too."),
        click.option("--direction", type=click.Choice([d.value for d in Direction]),
                     help="Only mail going this way."),
        click.option("--since", help="From this date/time (local zone unless an offset)."),
        click.option("--until", help="Before this date/time (local zone unless an offset)."),
        click.option("--sender", help="Envelope sender, as written."),
        click.option("--recipient", help="One envelope recipient."),
        click.option("--text", help="Words of the subject, addresses or filenames "
                     "(diacritics optional: 'cong van' finds 'Công văn')."),
        click.option("--message-id", help="Message-ID, with or without <>."),
        click.option("--queue-id", help="Postfix queue id."),
        click.option("--sha256", help="SHA-256 of an attachment."),
        click.option("--filename", help="Attachment filename (diacritics optional)."),
        click.option("--decision", type=click.Choice([a.value for a in Action]),
                     help="Only messages the policy decided so."),
        click.option("--dkim", help="DKIM result: pass, fail, none, ..."),
        click.option("--smime", help="S/MIME result: pass, fail, none, ..."),
        click.option("--outcome", type=click.Choice(
            [*(o.value for o in Fate), "incomplete"]),
            help="What became of the message; 'incomplete': no completion was recorded "
            "(in flight, or the filter stopped before the relay finished)."),
    ]
    for option in reversed(options):
        func = option(func)
    return config_option(func)


@dataclass(frozen=True, slots=True)
class _Wiring:
    """What :func:`commands` was given: the ``[audit]`` table for ``--config``, and the
    directory's hooks."""

    load: ConfigLoader
    descendants: UnitExpander | None = None
    unit_names: UnitNames | None = None
    roster: RosterReader | None = None
    unit_tree: UnitTree | None = None
    predecessors: UnitExpander | None = None
    rollup: UnitRollup | None = None
    organ_ids: UnitNames | None = None


_wiring = click.make_pass_decorator(_Wiring)


def _open_ro(wiring: _Wiring, config_path: Path | None) -> tuple[AuditConfig, AuditLog]:
    config = wiring.load(config_path)
    try:
        return config, AuditLog.open_readonly(config)
    except AuditError as exc:
        raise _fail(exc) from exc


def _open_rw(wiring: _Wiring, config_path: Path | None) -> AuditLog:
    try:
        return AuditLog.open(wiring.load(config_path))
    except AuditError as exc:
        raise _fail(exc) from exc


def _filters(wiring: _Wiring, config: AuditConfig, kw: dict[str, Any],
             **paging: int) -> Filters:
    asked = {name: tuple(kw.pop(name))
             for name in ("units", "sender_units", "recipient_units")}
    subtree = kw.pop("subtree")
    if subtree:
        if wiring.descendants is None:
            raise UsageProblem("--subtree needs the directory (run through congvu)")
        if not any(asked.values()):
            raise UsageProblem("--subtree needs at least one --unit, --sender-unit or "
                               "--recipient-unit")
        expand = wiring.descendants
        asked = {name: _expanded(expand, units) for name, units in asked.items()}
    if kw.pop("with_predecessors"):
        if wiring.predecessors is None:
            raise UsageProblem("--with-predecessors needs the directory (run through congvu)")
        if not any(asked.values()):
            raise UsageProblem("--with-predecessors needs at least one --unit, --sender-unit "
                               "or --recipient-unit")
        before = wiring.predecessors
        asked = {name: tuple(dict.fromkeys([*units, *(p for u in units for p in before(u))]))
                 for name, units in asked.items()}
        if subtree and wiring.descendants is not None:
            below = wiring.descendants
            asked = {name: _expanded(below, units) for name, units in asked.items()}
    direction = kw.pop("direction")
    decision = kw.pop("decision")
    values: dict[str, Any] = {
        **kw, **paging, **asked,
        "direction": Direction(direction) if direction else None,
        "since": _time(config, kw.pop("since"), "since"),
        "until": _time(config, kw.pop("until"), "until"),
        "action": Action(decision) if decision else None,
    }
    return Filters(**values)


@click.group("audit")
def group() -> None:
    """The tamper-evident send/receive log: query, verify, report, export."""


@group.command("query")
@filter_options
@click.option("--page", type=int, default=1, show_default=True, help="Page number.")
@click.option("--page-size", type=int, default=50, show_default=True,
              help="Records per page (1-1000).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]),
              default="table", show_default=True, help="A table, JSON or CSV.")
@lang_option
@_wiring
def query_cmd(wiring: _Wiring, /, config_path: Path | None, page: int, page_size: int, fmt: str,
              lang: str, **kw: Any) -> None:
    """List the records matching the filters, newest first, one page at a time."""
    config, log = _open_ro(wiring, config_path)
    with log:
        try:
            result = log.query(_filters(wiring, config, kw, page=page, page_size=page_size))
        except AuditError as exc:
            raise _fail(exc) from exc
    rows = [_summary_row(config, r) for r in result.items]
    if fmt == "json":
        click.echo(json.dumps({"total": result.total, "page": result.page,
                               "page_size": result.page_size, "records": rows},
                              ensure_ascii=False, indent=2))
    elif fmt == "csv":
        click.echo(_csv(rows, _SUMMARY_COLUMNS))
    else:
        for row, r in zip(rows, result.items, strict=True):
            row["received_at"] = _local(config, r.received_at)
        tr = translation(lang)
        click.echo(_table(rows, ["id", "received_at", "direction", "envelope_sender",
                                 "subject", "action", "outcome", "dkim", "smime"], tr))
        last = min(result.total, result.page * result.page_size)
        first = min(last, (result.page - 1) * result.page_size + 1)
        more = (tr.gettext("; next: --page {page}").format(page=result.page + 1)
                if result.has_more else "")
        click.echo(tr.gettext("-- records {first}-{last} of {total} (times in {zone})").format(
            first=first, last=last, total=result.total, zone=config.time_zone) + more)


@group.command("show")
@click.argument("record_id", type=int)
@config_option
@_wiring
def show_cmd(wiring: _Wiring, record_id: int, config_path: Path | None) -> None:
    """Print one record in full (JSON), with its completions."""
    _, log = _open_ro(wiring, config_path)
    with log:
        try:
            record = log.show(record_id)
        except AuditError as exc:
            raise _fail(exc) from exc
    click.echo(json.dumps(record, ensure_ascii=False, indent=2))


def _signature(document: str | None, signatures: list[dict[str, Any]],
               tr: Translation) -> str:
    """The document-signature verdict for people: 'valid (signer, organisation)'."""
    if document is None:
        return "-"
    who = "; ".join(
        ", ".join(str(s[k]) for k in ("signer", "organisation") if s.get(k))
        + f": {value('verdict', s.get('verdict'), tr)}"
        for s in signatures if not s.get("is_timestamp"))
    verdict = value("verdict", document, tr)
    return f"{verdict} ({who})" if who else verdict


def _signature_lines(entries: list[TraceEntry], names: Mapping[str, str],
                     tr: Translation) -> list[str]:
    """Each document signature on a line of its own, with whose it is (its role, and
    its unit by name and id): a table cell would cut them. Records written before
    roles say nothing of them."""
    # (outside the f-strings below, where Babel's extractor would not see them)
    said = {"signature": tr.gettext("signature"), "role": tr.gettext("role"),
            "unit": tr.gettext("unit")}
    lines = []
    for entry in entries:
        signatures = [s for s in entry.signatures if not s.get("is_timestamp")]
        for number, s in enumerate(signatures, 1):
            who = ", ".join(str(s[k]) for k in ("signer", "organisation") if s.get(k))
            verdict = value("verdict", s.get("verdict"), tr)
            line = f"  {entry.record_id}: {said['signature']} {number}: {who or '?'}: {verdict}"
            role, unit = s.get("signer_role"), s.get("signer_unit")
            if role is not None:
                line += f"; {said['role']} {value('role', role, tr)}"
                if unit:
                    line += f", {said['unit']} " + (
                        f"{names[unit]} ({unit})" if unit in names else str(unit))
            lines.append(line)
    return [tr.gettext("signatures:"), *lines] if lines else []


@group.command("trace")
@click.argument("sha256")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people, or JSON.")
@lang_option
@config_option
@_wiring
def trace_cmd(wiring: _Wiring, sha256: str, fmt: str, config_path: Path | None,
              lang: str) -> None:
    """To whom and when a document (by SHA-256) was sent, and was it delivered."""
    config, log = _open_ro(wiring, config_path)
    with log:
        try:
            entries = log.trace(sha256)
        except AuditError as exc:
            raise _fail(exc) from exc
    if fmt == "json":
        click.echo(json.dumps([
            {**asdict(e), "received_at": e.received_at.isoformat(),
             "completed_at": e.completed_at.isoformat() if e.completed_at else None}
            for e in entries], ensure_ascii=False, indent=2))
        return
    tr = translation(lang)
    if not entries:
        click.echo(tr.gettext("no message carried a document with SHA-256 {sha256}").format(
            sha256=sha256))
        return
    names = wiring.unit_names() if wiring.unit_names is not None else {}
    rows = [{"id": e.record_id, "sent_at": _local(config, e.received_at),
             "filename": e.filename, "from": e.envelope_sender,
             "to": ", ".join(e.recipients), "units": ", ".join(e.recipient_units),
             "outcome": e.outcome or "incomplete", "reply": e.reply,
             "signature": _signature(e.document, e.signatures, tr)} for e in entries]
    click.echo(_table(rows, ["id", "sent_at", "filename", "from", "to", "units",
                             "outcome", "signature", "reply"], tr))
    for line in _signature_lines(entries, names, tr):
        click.echo(line)


@group.command("events")
@click.option("--kind", type=click.Choice([k.value for k in AdminKind]),
              help="Only this kind of administrative event.")
@click.option("--since", help="From this date/time (local zone unless an offset).")
@click.option("--until", help="Before this date/time (local zone unless an offset).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people, or JSON.")
@lang_option
@config_option
@_wiring
def events_cmd(wiring: _Wiring, kind: str | None, since: str | None, until: str | None, fmt: str,
               config_path: Path | None, lang: str) -> None:
    """List administrative events: quarantine releases and deletions, directory
    changes, key rotations, user grants, retention."""
    config, log = _open_ro(wiring, config_path)
    with log:
        try:
            events = log.admin_events(since=_time(config, since, "since"),
                                      until=_time(config, until, "until"), kind=kind)
        except AuditError as exc:
            raise _fail(exc) from exc
    if fmt == "json":
        click.echo(json.dumps(events, ensure_ascii=False, indent=2))
        return
    for event in events:
        event["at"] = _local(config, datetime.fromisoformat(event["at"]))
        event["details"] = json.dumps(event["details"], ensure_ascii=False)
    click.echo(_table(events, ["id", "at", "kind", "actor", "target", "unit_id",
                               "details"], translation(lang)))


@group.command("export")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="jsonl",
              show_default=True, help="CSV, or one JSON object per line.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (with a progress bar) instead of standard output.")
@_wiring
def export_cmd(wiring: _Wiring, /, config_path: Path | None, fmt: str, out: Path | None,
               **kw: Any) -> None:
    """Export every matching record in full, oldest first (CSV or JSON Lines)."""
    config, log = _open_ro(wiring, config_path)
    with log:
        try:
            filters = _filters(wiring, config, kw)
            total = log.count(filters)
            stream = open(out, "w", encoding="utf-8", newline="") if out else sys.stdout  # noqa: SIM115
            try:
                _export(log, filters, fmt, stream, total, show_progress=out is not None)
            finally:
                if out:
                    stream.close()
        except AuditError as exc:
            raise _fail(exc) from exc
    if out:
        click.echo(f"exported {total} records to {out}", err=True)


@group.command("verify")
@click.option("--checkpoint", "checkpoint_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A checkpoint exported earlier: prove nothing up to it was removed.")
@click.option("--key", "keys", multiple=True,
              help="A checkpoint key to trust, sha256:<hex> as `checkpoint export` "
              "prints it (repeatable); replaces [audit] checkpoint_public_keys.")
@click.option("--store", "store_path",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify this copy of an audit store instead of the configured one.")
@click.option("--since-verified", is_flag=True,
              help="Walk only what came after the last checkpoint a verify proved "
              "(remembered in --state; the whole chain the first time).")
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Where the last verified checkpoint of each store is remembered "
              f"(default: {STATE_FILE} in the data directory).")
@config_option
@_wiring
def verify_cmd(wiring: _Wiring, checkpoint_file: Path | None, keys: tuple[str, ...],
               store_path: Path | None, since_verified: bool, state_path: Path | None,
               config_path: Path | None) -> None:
    """Walk the hash chain and checkpoints: exit 0 if intact, 1 naming the first bad record.

    Only checkpoints signed by trusted keys count: --key, else the configured pins,
    else this server's own checkpoint key (audit/README.md). An intact walk remembers
    the newest checkpoint it proved, which --since-verified starts from next time.
    """
    if since_verified and checkpoint_file:
        raise UsageProblem("--since-verified and --checkpoint: give one (an exported "
                           "checkpoint is checked by a full verify)")
    config = wiring.load(config_path)
    state = VerifiedState(state_path or config.keys_dir.parent / STATE_FILE)
    try:
        trust = (KeyTrust.pinned(keys, source="given with --key") if keys else
                 KeyTrust.from_config(config.checkpoint_public_keys, config.keys_dir))
    except ValueError as exc:
        raise UsageProblem(f"--key: {exc}") from exc
    except AuditError as exc:
        raise _fail(exc) from exc
    try:
        log = AuditLog.open_readonly(store_path or config, trust=trust)
        with log:
            exported = (Checkpoint.from_json(checkpoint_file.read_text("utf-8"),
                                             source=str(checkpoint_file))
                        if checkpoint_file else None)
            since = state.last(store_id(log)) if since_verified else None
            report = (verify_since(log, since, trust) if since is not None else
                      log.verify(exported=exported))
            if report.is_intact and report.verified is not None:
                _remember(state, store_id(log), report.verified)
    except AuditError as exc:
        raise _fail(exc) from exc
    if since_verified and since is None:
        click.echo(f"no checkpoint verified before in {state.path}: the whole chain was "
                   "walked")
    click.echo(report.describe())
    if not report.is_intact:
        sys.exit(1)


def _remember(state: VerifiedState, store: str, checkpoint: Checkpoint) -> None:
    """Keep the checkpoint a verify proved; a verify that cannot (a read-only data
    directory) still reports, and says why the next one walks more."""
    try:
        state.remember(store, checkpoint, now=datetime.now(UTC))
    except OSError as exc:
        click.echo(f"note: cannot remember the verified checkpoint in {state.path} "
                   f"({exc.strerror or exc}): the next --since-verified walks from an "
                   "older one", err=True)


@group.group("checkpoint")
def checkpoint_group() -> None:
    """Signed checkpoints of the chain."""


@checkpoint_group.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the checkpoint (keep it away from this server).")
@config_option
@_wiring
def checkpoint_export(wiring: _Wiring, out: Path, config_path: Path | None) -> None:
    """Sign the chain head now and write that checkpoint to a file."""
    with _open_rw(wiring, config_path) as log:
        if log.head()[0] == 0:
            # a new server before its first mail: the nightly job has nothing to sign yet
            click.echo(f"no events to checkpoint yet: nothing written to {out}")
            return
        try:
            cp = log.checkpoint()
        except AuditError as exc:
            raise _fail(exc) from exc
    out.write_text(cp.to_json() + "\n", encoding="utf-8")
    click.echo(f"checkpoint of record {cp.seq} ({cp.hash}) written to {out}")
    # The fingerprint to pin on the inspectors' machines (verify --key).
    click.echo(f"key {fingerprint(cp.public_key)}")


@group.group("key")
def key_group() -> None:
    """The checkpoint signing key."""


@key_group.command("rotate")
@click.option("--actor", default=lambda: os.environ.get("USER", "admin"),
              show_default="$USER", help="Who does this, for the audit log.")
@config_option
@_wiring
def key_rotate(wiring: _Wiring, actor: str, config_path: Path | None) -> None:
    """Replace the checkpoint key: the old key signs the new key's enrolment."""
    config = wiring.load(config_path)
    try:
        old, new = rotate_key(config, actor=actor)
    except AuditError as exc:
        raise _fail(exc) from exc
    click.echo(f"old key {old}")
    click.echo(f"new key {new}")
    click.echo("restart congvu so that the service signs with the new key; add the "
               "new key beside the old one wherever checkpoint keys are pinned "
               "([audit] checkpoint_public_keys, inspectors' verify --key)")


@group.command("rename-units")
@click.option("--map", "id_map", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The id map `directory merge --map` wrote (file,old_id,new_id).")
@click.option("--file", "file", required=True,
              help="Which province's directory this log's ids come from: its export's "
              "name in the map (lamdong.csv).")
@click.option("--actor", default=command_line_actor, show_default="you (behind sudo too)",
              help="Who renames (recorded in the chain).")
@config_option
@_wiring
def rename_units_cmd(wiring: _Wiring, id_map: Path, file: str, actor: str,
                     config_path: Path | None) -> None:
    """Read this log's records, from now on, with the ids a merger of provinces gave
    their units (audit/renames.py): one chained event holds the map; records keep the
    ids they were written with."""
    try:
        renamed = read_id_map(id_map.read_text(encoding="utf-8"), file)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{id_map}: cannot read it as UTF-8 text ({exc})") from exc
    except IdMapError as exc:
        raise UsageProblem(f"{id_map}: {exc}") from exc
    if not renamed:
        click.echo(f"{file}: every id kept its name; nothing to rename")
        return
    with _open_rw(wiring, config_path) as log:
        try:
            # the same map twice would rename the ids of records written between
            # the two (a new unit that took an old id): refuse it
            recorded = log.admin_events(kind=AdminKind.UNITS_RENAMED.value, limit=-1)
            for earlier in recorded:
                if earlier["details"] == renamed:
                    raise UsageProblem(f"{file}: this map was recorded already (event "
                                       f"{earlier['id']}, {earlier['at']})")
            if len(recorded) >= MAX_RENAMES:
                raise UsageProblem(f"the log holds {len(recorded)} unit renames already, "
                                   f"as many as it reads ({MAX_RENAMES})")
            seq = log.admin(AdminEvent(kind=AdminKind.UNITS_RENAMED, actor=actor,
                                       target=file, details=dict(renamed)))
        except AuditError as exc:
            raise _fail(exc) from exc
    click.echo(f"{file}: {len(renamed)} unit id(s) renamed for the records before event {seq}")


@group.group("summary")
def summary_group() -> None:
    """The report's summary: counts per day and unit kept with the log, so that a
    quarter's report reads days, not every record (derived, never chained; `audit
    verify` checks it against the records)."""


@summary_group.command("rebuild")
@config_option
@_wiring
def summary_rebuild_cmd(wiring: _Wiring, config_path: Path | None) -> None:
    """Count the report's summary again from the records: after an upgrade from a
    release without it, a chain imported by `store migrate`, or a verify that found it
    wrong. A month at a time, each in a transaction of its own: mail keeps flowing, and
    the report reads the records until it is done."""
    with _open_rw(wiring, config_path) as log:
        try:
            rebuilt = log.rebuild_summary()
        except AuditError as exc:
            raise _fail(exc) from exc
    click.echo(f"report summary rebuilt: {rebuilt.months} month(s) counted, "
               f"up to event {rebuilt.head}")


@group.command("prune")
@click.option("--before", required=True,
              help="Remove events older than this date (local zone unless an offset).")
@config_option
@_wiring
def prune_cmd(wiring: _Wiring, before: str, config_path: Path | None) -> None:
    """Retention: remove old events; the chain stays verifiable from a signed checkpoint."""
    config = wiring.load(config_path)
    cutoff = _time(config, before, "before")
    assert cutoff is not None
    with _open_rw(wiring, config_path) as log:
        try:
            removed = log.prune(cutoff, actor=command_line_actor())
        except AuditError as exc:
            raise _fail(exc) from exc
    click.echo(f"removed {removed} events older than {before}")


@group.command("report")
@click.option("--period", required=True,
              help="YYYY-MM, YYYY-Qn, YYYY or YYYY-YTD (to the end of the last complete "
              "month), in the local zone.")
@click.option("--unit", "units", multiple=True,
              help="Only these units, in this order, each shown even without mail "
              "(repeatable).")
@click.option("--with-predecessors", is_flag=True,
              help="Count the units merged into another (their successor, from the "
              "directory) in that unit's row instead of rows of their own.")
@click.option("--subtree", is_flag=True,
              help="With --unit: those units and every unit below them, in the "
              "directory's order with subtotals (what the console shows an auditor "
              "granted those units).")
@click.option("--format", "fmt",
              type=click.Choice(["table", "csv", "json", "html", "xlsx", "docx"]),
              default="table", show_default=True,
              help="A table or an HTML page with charts (in --lang, unit names), "
              "CSV or JSON (English column names, unit ids, UTC times), or the report "
              "as filed: an Excel workbook (xlsx) or a Word document (docx), which need "
              "--out.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
@lang_option
@config_option
@_wiring
def report_cmd(wiring: _Wiring, period: str, units: tuple[str, ...], fmt: str, out: Path | None,
               config_path: Path | None, with_predecessors: bool, subtree: bool,
               lang: str) -> None:
    """The periodic report on e-document use: per unit, per mailbox in it, and a
    total (audit/README.md defines each column)."""
    if fmt in FILE_FORMATS and out is None:
        raise UsageProblem(f"--format {fmt} writes a file: give it with --out FILE")
    parents: dict[str, str | None] | None = None
    if subtree:
        units, parents = _subtree(wiring, units)
    config, log = _open_ro(wiring, config_path)
    with log:
        try:
            tz = zone(config.time_zone)
            # without --unit: every unit of the directory, zeros too, in its tree
            tree = wiring.unit_tree() if wiring.unit_tree is not None and not units else []
            if parents is not None:
                tree = [(u, parent) for u, parent in parents.items() if u in units]
                units = tuple(sorted(units))
            rolled = _rolled(wiring, units) if with_predecessors else {}
            tree = [(u, parent) for u, parent in tree if u not in rolled]
            units = tuple(u for u in units if u not in rolled)
            result = log.report(parse_period(period, tz), units,
                                roster=wiring.roster() if wiring.roster is not None else None,
                                regular_min=config.regular_use_min_messages, tz=tz,
                                listed=[u for u, _ in tree],
                                parents=parents or (dict(tree) if tree else None),
                                rolled=rolled)
        except (AuditError, PeriodError) as exc:
            raise _fail(exc) from exc
    names: Mapping[str, str] = {}
    if wiring.unit_names is not None and fmt in ("table", "html", *FILE_FORMATS):
        names = wiring.unit_names()
    if out and fmt in FILE_FORMATS:
        codes = wiring.organ_ids() if wiring.organ_ids is not None else {}
        out.write_bytes(render_file(result, fmt, config.time_zone, names, organ_ids=codes,
                                    lang=lang))
        click.echo(f"report written to {out}", err=True)
        return
    text = _render_report(result, fmt, config, names, lang)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        click.echo(f"report written to {out}", err=True)
    else:
        click.echo(text)


def commands(load: ConfigLoader, *, descendants: UnitExpander | None = None,
             unit_names: UnitNames | None = None,
             roster: RosterReader | None = None,
             unit_tree: UnitTree | None = None,
             predecessors: UnitExpander | None = None,
             rollup: UnitRollup | None = None,
             organ_ids: UnitNames | None = None) -> list[click.Command]:
    """The top-level command groups this package adds to `congvu`.

    :param load: the ``[audit]`` table for ``--config`` (the root supplies it).
    :param descendants: given a unit id, that unit and all its descendants (the root
        passes directory/'s tree); without it ``--subtree`` is refused.
    :param unit_names: unit id -> name, for the report's human formats (the root passes
        the directory's); without it units are shown by id.
    :param roster: the officials' mailboxes, for the report's use columns (the
        directory's roster; None when there is none); without it they are empty.
    :param unit_tree: the directory's units and their parents, in its order: the
        report then shows every unit, zeros too, in the tree's order with subtotals;
        without it, only the units with mail, sorted.
    :param predecessors: given a unit id, the units it succeeds after a merger (the
        directory's successor links); without it ``--with-predecessors`` is refused.
    :param rollup: given the units a report names, each predecessor -> the successor
        the report counts it under (the report's ``--with-predecessors``).
    :param organ_ids: unit id -> identifier code in the national document exchange,
        for the filed report's appendix (the directory's ``organ_id``).
    """
    return [wired(group, _Wiring(load, descendants, unit_names, roster, unit_tree,
                                 predecessors, rollup, organ_ids))]


def _subtree(wiring: _Wiring, units: Sequence[str]
             ) -> tuple[tuple[str, ...], dict[str, str | None]]:
    """``--subtree``: the named units and every unit below them, and the directory's
    whole tree (unit -> parent, in its order) that orders them with subtotals."""
    if not units:
        raise UsageProblem("--subtree needs at least one --unit")
    if wiring.descendants is None or wiring.unit_tree is None:
        raise UsageProblem("--subtree needs the directory (run through congvu)")
    return _expanded(wiring.descendants, units), dict(wiring.unit_tree())


def _expanded(expand: UnitExpander, units: Sequence[str]) -> tuple[str, ...]:
    """Each of ``units`` and the units ``expand`` gives for it, once each, in order.

    :raises UsageProblem: a unit the directory does not have.
    """
    try:
        return tuple(dict.fromkeys(u for unit in units for u in expand(unit)))
    except LookupError as exc:
        raise UsageProblem(str(exc)) from None


def _rolled(wiring: _Wiring, units: Sequence[str]) -> Mapping[str, str]:
    if wiring.rollup is None:
        raise UsageProblem("--with-predecessors needs the directory (run through congvu)")
    return wiring.rollup(units)


def _export(log: AuditLog, filters: Filters, fmt: str, stream: Any, total: int, *,
            show_progress: bool) -> None:
    columns = ["id", "kind", "received_at", "decided_at", "listener", "role", "direction",
               "client_address", "client_helo", "queue_id", "message_id", "envelope_sender",
               "envelope_recipients", "header_from", "header_to", "header_cc", "subject",
               "header_date", "size", "action", "violations", "dkim", "smime",
               "authentication", "attachments", "processing_ms", "sender_unit",
               "claimed_unit", "submitted_by_unit", "recipient_units", "completions", "hash",
               "chain"]
    writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore") \
        if fmt == "csv" else None
    if writer:
        writer.writeheader()
    with click.progressbar(length=total, label="exporting", file=sys.stderr,
                           hidden=not show_progress) as bar:
        for record in log.records(filters):
            if writer:
                writer.writerow({k: json.dumps(v, ensure_ascii=False)
                                 if isinstance(v, list | dict) else v
                                 for k, v in record.items()})
            else:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            bar.update(1)


def _render_report(report: Report, fmt: str, config: AuditConfig,
                   names: Mapping[str, str], lang: str) -> str:
    from audit.reportfmt import render

    return render(report, fmt, config.time_zone, names, lang=lang)
