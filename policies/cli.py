"""Command-line sub-commands of policies/ (composed into `congvu` by milter/).

    congvu policy check [--config FILE] [--unit ID] [--direction inbound|outbound] FILE.eml...
    congvu quarantine list|show|delete [--config FILE] ...

`quarantine release` needs the pipeline, so milter/ adds it to the `quarantine`
group this module returns.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click

from policies.config import PoliciesConfig
from policies.engine import decide
from policies.errors import PolicyError, QuarantineNotFound
from policies.model import Action, Direction
from policies.quarantine import Quarantine

ConfigLoader = Callable[[Path | None], PoliciesConfig]
UnitChain = Callable[[str], Sequence[str]]

_CONFIG = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="The congvu.toml file (default: the embedded defaults).",
)


class UsageError(click.ClickException):
    """A usage or configuration problem: exit code 2 (ARCHITECTURE.md, "Command line")."""

    exit_code = 2


def _standalone_chain(unit: str) -> Sequence[str]:
    return [unit]


def commands(
    load: ConfigLoader, *, unit_chain: UnitChain = _standalone_chain
) -> list[click.Command]:
    """The `policy` and `quarantine` groups this package adds to `congvu`.

    :param unit_chain: a unit id -> that id and its ancestors, nearest first
        (milter passes directory/'s; standalone, a unit has no ancestors). It may
        raise LookupError or ValueError for an unknown unit.
    """

    @click.group("policy")
    def policy_group() -> None:
        """Test attachment policies on messages."""

    @policy_group.command("check")
    @_CONFIG
    @click.option("--unit", default=None, help="Apply this unit's policy (with inheritance).")
    @click.option("--direction", type=click.Choice([d.value for d in Direction]),
                  default=Direction.INBOUND.value, show_default=True,
                  help="Which way the messages travel.")
    @click.argument("files", nargs=-1, required=True,
                    type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def check(config_path: Path | None, unit: str | None, direction: str,
              files: tuple[Path, ...]) -> None:
        """Decide FILE.eml... as the filter would: one JSON object per message (JSON Lines).

        Exit 0 when every message is accepted without a violation, 1 when any is not
        (a tag counts), 2 on a usage or configuration error.
        """
        config = load(config_path)
        try:
            chain = list(unit_chain(unit)) if unit else []
        except (LookupError, ValueError) as exc:
            raise UsageError(f"unknown unit {unit!r}: {exc}") from exc
        policy = config.resolve(chain, direction)
        is_clean = True
        for file in files:
            try:
                raw = file.read_bytes()
            except OSError as exc:
                raise UsageError(f"cannot read {file}: {exc}") from exc
            record: dict[str, object] = {"file": str(file)}
            try:
                decision = decide(raw, policy)
            except PolicyError as exc:
                record.update(action=None, violations=[], error=str(exc))
                is_clean = False
            else:
                record.update(action=decision.action.value,
                              violations=[v.as_json() for v in decision.violations])
                if decision.reply_text:
                    record["reply"] = decision.reply_text
                if decision.tag_header:
                    record["tag_header"] = list(decision.tag_header)
                is_clean = is_clean and decision.action is Action.ACCEPT and not decision.findings
            click.echo(json.dumps(record, ensure_ascii=False))
        sys.exit(0 if is_clean else 1)

    @click.group("quarantine")
    def quarantine_group() -> None:
        """List, show, release and delete held messages."""

    def _store(config_path: Path | None) -> Quarantine:
        config = load(config_path)
        try:
            return Quarantine(config.quarantine.path,
                              retention_days=config.quarantine.retention_days)
        except PolicyError as exc:
            raise UsageError(str(exc)) from exc

    @quarantine_group.command("list")
    @_CONFIG
    @click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                  show_default=True, help="A table, or one JSON object per line.")
    def list_held(config_path: Path | None, fmt: str) -> None:
        """List held messages, oldest first."""
        with _store(config_path) as store:
            entries = store.list()
        for entry in entries:
            if fmt == "json":
                click.echo(json.dumps(entry.as_json(), ensure_ascii=False))
            else:
                rules = ",".join(sorted({v["rule"] for v in entry.decision.get("violations", [])}))
                click.echo(f"{entry.id}  {entry.created:%Y-%m-%d %H:%M}Z  "
                           f"{entry.direction.value:8}  {entry.envelope_from or '<>'}  "
                           f"{','.join(entry.recipients)}  {rules}")

    @quarantine_group.command("show")
    @_CONFIG
    @click.option("--raw", "is_raw", is_flag=True, help="Write the message bytes instead.")
    @click.argument("qid")
    def show(config_path: Path | None, is_raw: bool, qid: str) -> None:
        """Show one held message: its envelope and why it is held (JSON)."""
        with _store(config_path) as store:
            try:
                if is_raw:
                    sys.stdout.buffer.write(store.read(qid))
                    return
                entry = store.get(qid)
            except QuarantineNotFound as exc:
                raise click.ClickException(str(exc)) from exc
            except PolicyError as exc:
                raise click.ClickException(str(exc)) from exc
        click.echo(json.dumps(entry.as_json(), ensure_ascii=False, indent=2))

    @quarantine_group.command("delete")
    @_CONFIG
    @click.argument("qids", nargs=-1, required=True)
    def delete(config_path: Path | None, qids: tuple[str, ...]) -> None:
        """Delete held messages for good."""
        with _store(config_path) as store:
            for qid in qids:
                try:
                    store.delete(qid)
                except PolicyError as exc:
                    raise click.ClickException(str(exc)) from exc
                click.echo(f"deleted {qid}")

    return [policy_group, quarantine_group]
