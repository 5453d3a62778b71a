"""Command-line sub-commands of directory/ (composed into `congvu` by congvu/cli.py).

``congvu directory import|publish|show|history|export|merge`` and ``congvu directory
mailboxes import|list|history|export`` (the roster of officials' mailboxes). Exit codes
(ARCHITECTURE.md): 0 done, 1 the data had problems (rows rejected or skipped, no
such unit), 2 usage, configuration or store errors. An import that changed something
is told to the root (``on_change``), which writes it into the audit chain with the
administrator who ran it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click

from directory.config import DirectoryConfig
from directory.errors import DirectoryError, ImportRejected, StoreError, UnknownUnit
from directory.mailboxes import export_csv, export_json, snapshot
from directory.merge import MergeRejected, merge_files
from directory.model import Mailbox, Unit
from directory.published import published_unit
from directory.roster import RosterFormat
from directory.store import Change, Directory, ImportSummary
from directory.successors import merged_into, predecessors
from directory.words import (
    FIELDS,
    SAID,
    change_lines,
    column_label,
    import_text,
    merge_rejected_text,
    problem_text,
    rejected_text,
    said,
    translation,
)
from mailbase import (
    CommandFailed,
    Translation,
    UsageProblem,
    command_line_actor,
    config_option,
    lang_option,
    wired,
    zone,
)

ConfigLoader = Callable[[Path | None], DirectoryConfig]
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class DirectoryChanged:
    """An import from the command line that changed the units or the roster, told to
    the root, which writes it into the audit chain (directory/ does not import audit/)."""

    #: who ran the command: the administrator behind sudo, else the user running it
    actor: str
    #: ``units`` (``directory import``) or ``roster`` (``directory mailboxes import``)
    what: str
    summary: ImportSummary
    #: the name ``--actor`` wrote into the directory's history, when it was given
    recorded_as: str | None = None
    #: the unit whose subtree a roster import covered (``--unit``)
    unit: str | None = None


ChangeHook = Callable[[DirectoryChanged], None]


@dataclass(frozen=True, slots=True)
class _Wiring:
    """What :func:`commands` was given: the ``[directory]`` table for ``--config``, and
    who is told of each import that changed the directory."""

    load: ConfigLoader
    on_change: ChangeHook | None = None


_wiring = click.make_pass_decorator(_Wiring)


def _told(wiring: _Wiring, change: DirectoryChanged) -> None:
    """Tell the root of an import that changed something (it audits it)."""
    summary = change.summary
    if wiring.on_change is not None and (summary.created or summary.updated
                                         or summary.deactivated):
        wiring.on_change(change)


def _imported(wiring: _Wiring, change: DirectoryChanged, tr: Translation) -> None:
    """Say what an import did, tell the root, and fail when rows were skipped."""
    summary = change.summary
    click.echo(import_text(summary, tr))
    _told(wiring, change)
    if summary.skipped:
        raise CommandFailed(said(tr, "were_skipped", count=len(summary.skipped)))


def _convert(exc: DirectoryError, tr: Translation) -> click.ClickException:
    """The store or the configuration: exit 2; the data (rows, an unknown unit): 1. Said
    in ``tr``'s language."""
    if isinstance(exc, StoreError):
        return UsageProblem(f"{exc.path}: {problem_text(exc.problem, tr)}")
    if isinstance(exc, ImportRejected):
        return CommandFailed(rejected_text(exc, tr))
    if isinstance(exc, UnknownUnit):
        return CommandFailed(said(tr, "unknown_unit", unit=exc.key))
    return CommandFailed(str(exc))


def _store(wiring: _Wiring, config_path: Path | None, tr: Translation, *,
           read_only: bool = False) -> Directory:
    try:
        return Directory.open(wiring.load(config_path), read_only=read_only)
    except StoreError as exc:
        raise _convert(exc, tr) from exc


def _reading(wiring: _Wiring, config_path: Path | None, read: Callable[[Directory], _T],
             tr: Translation) -> _T:
    """What ``read`` takes from the store, opened read-only; its errors as exit codes,
    said in ``tr``'s language."""
    with _store(wiring, config_path, tr, read_only=True) as directory:
        try:
            return read(directory)
        except DirectoryError as exc:
            raise _convert(exc, tr) from exc


def _describe(unit: Unit, parents: list[Unit], units: Mapping[str, Unit],
              tr: Translation) -> str:
    """``directory show``'s text: the unit, its fields, predecessors and parents, the
    words in ``tr``'s language and the unit's data as stored."""
    today = datetime.now(zone()).date()
    into = merged_into(unit, units, today)
    if into is not None:
        state = "  [" + tr.gettext(SAID["merged"]).format(
            name=into.name, id=into.id, address=into.address.addr_spec) + "]"
    elif not unit.in_service(today):
        state = f"  [{tr.gettext(SAID['inactive' if not unit.is_active else 'ended'])}]"
    else:
        state = ""
    lines = [f"{unit.name} ({unit.id}){state}"]
    values = {
        "short_name": unit.short_name, "name_en": unit.name_en, "kind": unit.kind,
        "address": unit.address.addr_spec,
        "aliases": ", ".join(a.addr_spec for a in unit.aliases),
        "dkim_domain": unit.dkim_domain, "organ_id": unit.organ_id or "",
        "phone": unit.phone, "website": unit.website, "senders": ", ".join(unit.senders),
        "certificate": tr.gettext(SAID["certificate"]) if unit.certificate else "",
        "valid_from": unit.valid_from.isoformat() if unit.valid_from else "",
        "valid_until": unit.valid_until.isoformat() if unit.valid_until else "",
        "successor": unit.successor or "",
    }
    labels = {name: tr.gettext(label) + ":" for name, label in FIELDS.items()}
    width = max(len(label) for label in labels.values()) + 1  # the same for every unit
    lines.extend(f"  {labels[name]:<{width}}{value}" for name, value in values.items() if value)
    merged = sorted(predecessors(units.values(), [unit.id]))
    if merged:
        lines.append(f"  {tr.gettext(SAID['predecessors'])}")
        lines.extend(f"    {units[p].name} ({p}) <{units[p].address.addr_spec}>" for p in merged)
    if parents:
        lines.append(f"  {tr.gettext(SAID['parents'])}")
        lines.extend(f"    {p.name} ({p.id}) <{p.address.addr_spec}>" for p in parents)
    return "\n".join(lines)


@click.group("directory")
def group() -> None:
    """The units of the province and their official addresses."""


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--partial", is_flag=True,
              help="Import the good rows and list the bad ones (default: all or nothing).")
@click.option("--actor", default=None, help="Name recorded in the history (default: you).")
@lang_option
@config_option
@_wiring
def import_command(wiring: _Wiring, file: Path, partial: bool, actor: str | None,
                   config_path: Path | None, lang: str) -> None:
    """Import FILE.csv (layout in directory/README.md); list every bad row.

    Units missing from the file become inactive. Exit 1 when rows were
    rejected (nothing imported) or, with --partial, skipped. The summary is in
    Vietnamese unless --lang en.
    """
    runner, tr = command_line_actor(), translation(lang)
    with _store(wiring, config_path, tr) as directory:
        try:
            summary = directory.import_csv(file, partial=partial, actor=actor or runner)
        except DirectoryError as exc:
            raise _convert(exc, tr) from exc
    _imported(wiring, DirectoryChanged(runner, "units", summary, recorded_as=actor), tr)


@group.command("publish")
@click.option("--out", "out_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write index.html, directory.json, ... into.")
@lang_option
@config_option
@_wiring
def publish_command(wiring: _Wiring, out_dir: Path, config_path: Path | None,
                    lang: str) -> None:
    """Write the HTML page, JSON, vCards, LDIF, CSV and Postfix maps into --out."""
    config, tr = wiring.load(config_path), translation(lang)
    with _store(wiring, config_path, tr, read_only=True) as directory:
        try:
            written = directory.publish(out_dir, title=config.title,
                                        ldap_base=config.ldap_base)
        except DirectoryError as exc:
            raise _convert(exc, tr) from exc
        except OSError as exc:
            raise UsageProblem(f"{out_dir}: cannot write: {exc}") from exc
    click.echo(said(tr, "written", out=out_dir, count=len(written)))


@group.command("show")
@click.argument("key")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@lang_option
@config_option
@_wiring
def show_command(wiring: _Wiring, key: str, fmt: str, config_path: Path | None,
                 lang: str) -> None:
    """Print the unit with this id or ADDRESS, with its parents (exit 1 if none).

    The text is in Vietnamese unless --lang en; JSON keeps its English keys."""
    def read(directory: Directory) -> tuple[Unit, list[str], dict[str, Unit]]:
        unit = directory.get(key)
        return unit, directory.ancestors(unit.id), {u.id: u for u in directory.units()}

    tr = translation(lang)
    unit, chain, units = _reading(wiring, config_path, read, tr)
    if fmt == "json":
        data = published_unit(unit, chain, include_senders=True).model_dump(mode="json")
        click.echo(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        click.echo(_describe(unit, [units[unit_id] for unit_id in chain[1:]], units, tr))


@group.command("history")
@click.argument("key", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format (json: one object per line).")
@lang_option
@config_option
@_wiring
def history_command(wiring: _Wiring, key: str | None, fmt: str, config_path: Path | None,
                    lang: str) -> None:
    """Print who changed what and when: of the unit with this id or ADDRESS, or of all.

    Times are shown dd/mm/yyyy in Asia/Ho_Chi_Minh (stored in UTC); the text is in
    Vietnamese unless --lang en, JSON keeps its English keys and UTC times.
    """
    tr = translation(lang)
    changes = _reading(wiring, config_path,
                       lambda d: d.history(d.get(key).id if key else None), tr)
    _print_changes(changes, fmt, "unit", tr)


@group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="csv: the import layout; json: directory.json's.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")
@click.option("--bom", is_flag=True, help="Start a CSV with a byte-order mark (for Excel).")
@lang_option
@config_option
@_wiring
def export_command(wiring: _Wiring, fmt: str, output: Path | None, bom: bool,
                   config_path: Path | None, lang: str) -> None:
    """Export every unit, senders included, as CSV (re-importable) or JSON; a refusal
    is said in Vietnamese unless --lang en."""
    _write_out(_reading(wiring, config_path,
                        lambda d: d.export_csv(bom=bom) if fmt == "csv" else d.export_json(),
                        translation(lang)),
               output)


@group.command("merge")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--prefix", "prefixes", multiple=True, metavar="PREFIX",
              help="One per FILE, in the same order: put before its ids that another "
                   "file has too (bt: so-tai-chinh becomes bt-so-tai-chinh).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The merged file to write (the import layout).")
@click.option("--map", "map_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write which old id became which: file,old_id,new_id.")
@click.option("--roster", "rosters", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="One per FILE, in the same order: its province's `directory mailboxes "
                   "export`; the units of its mailboxes are renamed as FILE's.")
@click.option("--roster-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The merged roster to write (with --roster).")
@click.option("--bom", is_flag=True, help="Start the files with a byte-order mark (for Excel).")
@lang_option
def merge_command(files: tuple[Path, ...], prefixes: tuple[str, ...], out: Path,
                  map_path: Path | None, rosters: tuple[Path, ...], roster_out: Path | None,
                  bom: bool, lang: str) -> None:
    """Join several provinces' exports (FILE.csv ...) into one file to import.

    An id found in more than one file gets that file's --prefix in each of them;
    parents and successors follow. Every problem is listed at once and nothing is
    written: exit 1 for the files' data, 2 for the command line.
    """
    tr = translation(lang)
    if bool(rosters) != (roster_out is not None):
        raise click.UsageError("--roster and --roster-out go together")
    outputs = [path for path in (out, map_path, roster_out) if path is not None]
    try:
        merged = merge_files(files, prefixes, rosters=rosters, outputs=outputs)
    except MergeRejected as exc:
        raise (UsageProblem if exc.is_usage else CommandFailed)(
            merge_rejected_text(exc, tr)) from exc
    for warning in merged.warnings:
        click.echo(said(tr, "warning", warning=problem_text(warning, tr)), err=True)
    written = [(out, merged.csv_text(bom=bom))]
    if map_path is not None:
        written.append((map_path, merged.map_text(bom=bom)))
    if roster_out is not None:
        written.append((roster_out, merged.roster_text(bom=bom)))
    try:
        _write_files(written)
    except OSError as exc:
        raise UsageProblem(f"{exc.filename}: cannot write: {exc.strerror}") from exc
    click.echo(said(tr, "merged_units", out=out, units=len(merged.units), files=len(files),
                    prefixed=merged.prefixed)
               + (said(tr, "ids_in", path=map_path) if map_path else ""))
    if roster_out is not None:
        click.echo(said(tr, "merged_roster", out=roster_out, count=len(merged.mailboxes),
                        rosters=len(rosters)))


@group.group("mailboxes")
def mailboxes_group() -> None:
    """The roster of officials' own mailboxes (private: never published)."""


@mailboxes_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True,
                                        path_type=Path))
@click.option("--format", "fmt", type=click.Choice([f.value for f in RosterFormat]),
              default="csv", show_default=True,
              help="csv: the roster layout; doveadm: `doveadm user '*'` output; "
                   "ldif: entries with mail, cn, title, ou.")
@click.option("--unit", default=None,
              help="The file is the whole roster of this unit's subtree (doveadm: "
                   "the unit of every address the map does not name).")
@click.option("--map", "unit_map", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="doveadm: a CSV file 'address,unit' giving each address its unit.")
@click.option("--partial", is_flag=True,
              help="Import the good rows and list the bad ones (default: all or nothing).")
@click.option("--actor", default=None, help="Name recorded in the history (default: you).")
@lang_option
@config_option
@_wiring
def mailboxes_import(wiring: _Wiring, file: Path, fmt: str, unit: str | None, unit_map: Path | None,
                     partial: bool, actor: str | None, config_path: Path | None,
                     lang: str) -> None:
    """Import the roster from FILE (- for standard input); list every problem.

    The file is the whole roster (with --unit, of that unit's subtree): mailboxes
    missing from it become inactive, never deleted. Exit 1 when rows were
    rejected (nothing imported) or, with --partial, skipped.
    """
    if fmt == RosterFormat.DOVEADM and unit is None and unit_map is None:
        raise click.UsageError("--format doveadm needs --unit or --map for the units")
    if unit_map is not None and fmt != RosterFormat.DOVEADM:
        raise click.UsageError("--map is only for --format doveadm")
    source: Path | bytes = file
    if str(file) == "-":
        source = sys.stdin.buffer.read()
    runner, tr = command_line_actor(), translation(lang)
    with _store(wiring, config_path, tr) as directory:
        try:
            summary = directory.import_mailboxes(
                source, fmt=RosterFormat(fmt), unit=unit, unit_map=unit_map,
                partial=partial, actor=actor or runner)
        except DirectoryError as exc:
            raise _convert(exc, tr) from exc
    _imported(wiring, DirectoryChanged(runner, "roster", summary, recorded_as=actor, unit=unit),
              tr)


@mailboxes_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json"]),
              default="text", show_default=True, help="Output format.")
@click.option("--unit", default=None, help="Only the mailboxes of this unit's subtree.")
@lang_option
@config_option
@_wiring
def mailboxes_list(wiring: _Wiring, fmt: str, unit: str | None, config_path: Path | None,
                   lang: str) -> None:
    """Print the roster, inactive mailboxes included (exit 1 for an unknown --unit);
    the text is in Vietnamese unless --lang en."""
    tr = translation(lang)
    found = _reading(wiring, config_path, lambda d: d.mailboxes(unit=unit), tr)
    if fmt == "text":
        for mailbox in found:
            click.echo(_mailbox_line(mailbox, tr))
    else:
        click.echo(_roster_text(found, fmt), nl=False)


@mailboxes_group.command("history")
@click.argument("address", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format (json: one object per line).")
@lang_option
@config_option
@_wiring
def mailboxes_history(wiring: _Wiring, address: str | None, fmt: str,
                      config_path: Path | None, lang: str) -> None:
    """Print who changed which roster mailbox and when (of ADDRESS, or of all).

    Times are shown dd/mm/yyyy in Asia/Ho_Chi_Minh (stored in UTC); the text is in
    Vietnamese unless --lang en.
    """
    tr = translation(lang)
    changes = _reading(wiring, config_path, lambda d: d.mailbox_history(address), tr)
    _print_changes(changes, fmt, "address", tr)


@mailboxes_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="csv: the import layout; json: the same keys.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File to write (default: standard output).")
@click.option("--bom", is_flag=True, help="Start a CSV with a byte-order mark (for Excel).")
@lang_option
@config_option
@_wiring
def mailboxes_export(wiring: _Wiring, fmt: str, output: Path | None, bom: bool,
                     config_path: Path | None, lang: str) -> None:
    """Export the whole roster in the import layout (re-importing it changes nothing); a
    refusal is said in Vietnamese unless --lang en."""
    _write_out(_reading(wiring, config_path,
                        lambda d: d.export_mailboxes_csv(bom=bom) if fmt == "csv"
                        else d.export_mailboxes_json(),
                        translation(lang)),
               output)


def commands(load: ConfigLoader, *, on_change: ChangeHook | None = None
             ) -> list[click.Command]:
    """The top-level command groups this package adds to `congvu`.

    :param load: the ``[directory]`` table for ``--config`` (the root supplies it).
    :param on_change: told of each import that changed the units or the roster, after
        it is done and its summary printed (the root writes it into the audit chain);
        what it raises is the command's failure.
    """
    return [wired(group, _Wiring(load, on_change))]


def _write_out(text: str, output: Path | None) -> None:
    """An export to standard output, or to ``output`` byte for byte (no newline changes)."""
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8", newline="")


def _write_files(contents: list[tuple[Path, str]]) -> None:
    """Each file written beside its name, then all renamed into place: none half-written."""
    staged = []
    try:
        for path, text in contents:
            partial = path.with_name(f".{path.name}.partial")
            staged.append((partial, path))
            try:
                partial.write_text(text, encoding="utf-8", newline="")
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, str(path)) from exc
        for partial, path in staged:
            partial.replace(path)
    finally:
        for partial, _path in staged:
            partial.unlink(missing_ok=True)


def _print_changes(changes: list[Change], fmt: str, key: str, tr: Translation) -> None:
    for change in changes:
        if fmt == "json":
            click.echo(json.dumps({
                "at": change.at.isoformat(), "actor": change.actor,
                key: change.unit_id, "action": change.action,
                "changes": {k: list(v) for k, v in change.changes.items()},
            }, ensure_ascii=False))
            continue
        for line in change_lines(change, tr):
            click.echo(line)


def _mailbox_line(mailbox: Mailbox, tr: Translation) -> str:
    data = snapshot(mailbox)
    extra = "".join(f"  {column_label(key, tr)}={data[key]}" for key in ("position", "created")
                    if data[key])
    state = "" if mailbox.is_active else f"  [{said(tr, 'inactive')}]"
    return f"{data['address']}  {data['full_name']}  ({data['unit']}){extra}{state}"


def _roster_text(found: list[Mailbox], fmt: str) -> str:
    return export_csv(found) if fmt == "csv" else export_json(found)

