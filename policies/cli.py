"""Command-line sub-commands of policies/ (composed into `congvu` by congvu/cli.py).

    congvu policy check [--config FILE] [--unit ID] [--direction inbound|outbound] FILE.eml...
    congvu quarantine list|show|delete [--config FILE] ...

`quarantine release` needs the pipeline, so the root adds milter/'s (and its audited
`delete`) to the `quarantine` group this module returns.

Each command imports the engine or the quarantine's store when it runs: ``congvu
quarantine`` imports this module for every sub-command and ``--help``, and the engine's
parsers (PDF, Office, archives) and PostgreSQL would cost each of them their import time.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mailbase import (
    CommandFailed,
    Translation,
    UsageProblem,
    config_option,
    lang_option,
    wired,
    zone,
)
from policies.errors import PolicyError
from policies.model import Action, Direction

if TYPE_CHECKING:
    from policies.config import PoliciesConfig
    from policies.held import Headline
    from policies.policy import Policy
    from policies.quarantine import Quarantine, QuarantineEntry

ConfigLoader = Callable[[Path | None], "PoliciesConfig"]
UnitChain = Callable[[str], Sequence[str]]

def _standalone_chain(unit: str) -> Sequence[str]:
    return [unit]


@dataclass(frozen=True, slots=True)
class _Wiring:
    """What :func:`commands` was given: the ``[policies]`` table for ``--config``, and a
    unit's chain of ancestors."""

    load: ConfigLoader
    unit_chain: UnitChain = _standalone_chain


_wiring = click.make_pass_decorator(_Wiring)


@click.group("policy")
def policy_group() -> None:
    """Test attachment policies on messages."""


@policy_group.command("check")
@config_option
@click.option("--unit", default=None, help="Apply this unit's policy (with inheritance).")
@click.option("--direction", type=click.Choice([d.value for d in Direction]),
              default=Direction.INBOUND.value, show_default=True,
              help="Which way the messages travel.")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_wiring
def check(wiring: _Wiring, config_path: Path | None, unit: str | None, direction: str,
          files: tuple[Path, ...]) -> None:
    """Decide FILE.eml... as the filter would: one JSON object per message (JSON Lines).

    Exit 0 when every message is accepted without a violation, 1 when any is not
    (a tag counts), 2 on a usage or configuration error.
    """
    config = wiring.load(config_path)
    try:
        chain = list(wiring.unit_chain(unit)) if unit else []
    except (LookupError, ValueError) as exc:
        raise UsageProblem(f"unknown unit {unit!r}: {exc}") from exc
    policy = config.resolve(chain, direction)
    is_clean = True
    for file in files:
        record, is_accepted = _check_one(file, policy)
        click.echo(json.dumps(record, ensure_ascii=False))
        is_clean = is_clean and is_accepted
    sys.exit(0 if is_clean else 1)


def _check_one(file: Path, policy: Policy) -> tuple[dict[str, object], bool]:
    """``policy check``'s JSON object for one file, and whether it was accepted clean."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UsageProblem(f"cannot read {file}: {exc}") from exc
    from policies.engine import decide

    record: dict[str, object] = {"file": str(file)}
    try:
        decision = decide(raw, policy)
    except PolicyError as exc:
        record.update(action=None, violations=[], error=str(exc))
        return record, False
    record.update(action=decision.action.value,
                  violations=[v.as_json() for v in decision.violations])
    if decision.reply_text:
        record["reply"] = decision.reply_text
    if decision.tag_header:
        record["tag_header"] = list(decision.tag_header)
    return record, decision.action is Action.ACCEPT and not decision.findings


@click.group("quarantine")
def quarantine_group() -> None:
    """List, show, release and delete held messages."""


def _store(wiring: _Wiring, config_path: Path | None) -> Quarantine:
    from policies.pgquarantine import open_quarantine

    config = wiring.load(config_path)
    try:
        return open_quarantine(config.quarantine)
    except PolicyError as exc:
        raise UsageProblem(str(exc)) from exc


@quarantine_group.command("list")
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table, or one JSON object per line.")
@lang_option
@_wiring
def list_held(wiring: _Wiring, config_path: Path | None, fmt: str, lang: str) -> None:
    """List held messages, oldest first: envelope, Subject, From, and each rule that
    held it with its reason.

    The table is in Vietnamese unless --lang en (times then in Asia/Ho_Chi_Minh,
    dd/mm/yyyy; in English as stored, UTC); JSON is the same in both."""
    from policies.held import headline
    from policies.words import translation

    with _store(wiring, config_path) as store:
        held = [(entry, headline(store, entry)) for entry in store.list()]
    tr = translation(lang)
    for entry, head in held:
        if fmt == "json":
            click.echo(json.dumps(_shown(entry.as_json(), head), ensure_ascii=False))
            continue
        click.echo("\n".join(_held_lines(entry, head, tr)))


def _held_lines(entry: QuarantineEntry, head: Headline, tr: Translation) -> list[str]:
    """One held message in ``quarantine list``'s table: its line, then its Subject, From
    and reasons, the words in ``tr``'s language and the message's data as they are."""
    from policies.words import DIRECTIONS, LABELS, NONE, reason_text

    rules = ",".join(sorted({reason.rule for reason in head.reasons}))
    when = (f"{entry.created:%Y-%m-%d %H:%M}Z" if tr.lang == "en"
            else entry.created.astimezone(zone()).strftime("%d/%m/%Y %H:%M"))
    direction = tr.word(DIRECTIONS[entry.direction.value])
    labels = {name: tr.word(label) + ":" for name, label in LABELS.items()}
    width = max(len(label) for label in labels.values())
    none = tr.word(NONE)
    lines = [f"{entry.id}  {when}  {direction:8}  {entry.envelope_from or '<>'}  "
             f"{','.join(entry.recipients)}  {rules}",
             f"    {labels['subject']:<{width}} "
             f"{head.subject if head.subject is not None else none}",
             f"    {labels['from']:<{width}} "
             f"{head.header_from if head.header_from is not None else none}"]
    for reason in head.reasons:
        named = f" ({reason.filename})" if reason.filename else ""
        lines.append(f"    {labels['held by']:<{width}} {reason.rule}: "
                     f"{reason_text(reason, tr)}{named}")
    return lines


def _shown(data: dict[str, object], head: Headline) -> dict[str, object]:
    """A held message's JSON with its Subject and From (null when it has none)."""
    return {**data, "subject": head.subject, "header_from": head.header_from}


@quarantine_group.command("show")
@config_option
@click.option("--raw", "is_raw", is_flag=True, help="Write the message bytes instead.")
@click.argument("qid")
@_wiring
def show(wiring: _Wiring, config_path: Path | None, is_raw: bool, qid: str) -> None:
    """Show one held message: its envelope, Subject, From and why it is held (JSON)."""
    from policies.held import headline

    with _store(wiring, config_path) as store:
        try:
            if is_raw:
                sys.stdout.buffer.write(store.read(qid))
                return
            entry = store.get(qid)
            head = headline(store, entry)
        except PolicyError as exc:
            raise CommandFailed(str(exc)) from exc
    click.echo(json.dumps(_shown(entry.as_json(), head), ensure_ascii=False, indent=2))


@quarantine_group.command("delete")
@config_option
@click.argument("qids", nargs=-1, required=True)
@_wiring
def delete(wiring: _Wiring, config_path: Path | None, qids: tuple[str, ...]) -> None:
    """Delete held messages for good."""
    with _store(wiring, config_path) as store:
        for qid in qids:
            try:
                store.delete(qid)
            except PolicyError as exc:
                raise CommandFailed(str(exc)) from exc
            click.echo(f"deleted {qid}")


def commands(
    load: ConfigLoader, *, unit_chain: UnitChain = _standalone_chain
) -> list[click.Command]:
    """The `policy` and `quarantine` groups this package adds to `congvu`.

    :param load: the ``[policies]`` table for ``--config`` (the root supplies it).
    :param unit_chain: a unit id -> that id and its ancestors, nearest first
        (the root passes directory/'s; standalone, a unit has no ancestors). It may
        raise LookupError or ValueError for an unknown unit.
    """
    wiring = _Wiring(load, unit_chain)
    return [wired(policy_group, wiring), wired(quarantine_group, wiring)]
