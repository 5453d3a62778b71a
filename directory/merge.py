"""Several provinces' directories joined into one import file.

When provinces merge, each old province exports its directory (``congvu directory
export``) and :func:`merge_files` joins the exports: an id that appears in more than
one file gets its file's prefix (``so-tai-chinh`` becomes ``bt-so-tai-chinh``) in every
file where it appears, and parents and successors follow it. Each file is read and
checked by the import's own reader (:mod:`directory.rows`, :mod:`directory.checks`),
so a merged file holds only what an import accepts, addresses compare as the import
compares them (case folded, internationalised domains in their ASCII form), names are
NFC and ids ASCII. Each province's roster of officials' mailboxes (``directory
mailboxes export``) may come along: its ``unit`` cells are renamed as its province's
ids were, and it is checked as a roster import checks it, against the merged units.
Every problem, of the command line or of any file, is collected and reported at
once; nothing is written unless there is none.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from directory import problems as codes
from directory.checks import check_rows
from directory.errors import DirectoryError, ImportRejected
from directory.mailboxes import export_csv as roster_csv
from directory.mailboxes import plan_import
from directory.model import Mailbox, Unit, tree_order
from directory.published import export_csv
from directory.roster import RosterFile
from directory.roster import read_csv as read_roster
from directory.rows import check_unit_id, decode, parse_rows
from mailbase import Reason

#: Joins a file's prefix to an id it shares with another file.
SEPARATOR = "-"
MAP_COLUMNS = ("file", "old_id", "new_id")


@dataclass(frozen=True, slots=True)
class MergeProblem:
    """One thing that keeps the files from being merged.

    ``file`` is None for the command line as a whole; ``line`` is the file's line (1
    is the header), None for the whole file. ``problem`` is a code of
    directory/problems.py with its values. ``is_usage`` says the command line is at
    fault (exit 2) rather than the data (exit 1).
    """

    file: str | None
    line: int | None
    column: str | None
    problem: Reason
    is_usage: bool = False

    @property
    def reason(self) -> str:
        """The problem in English."""
        return self.problem.text

    def __str__(self) -> str:
        where = [self.file] if self.file else []
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column!r}" if self.column
                                                 else ""))
        return ": ".join([", ".join(where), self.reason] if where else [self.reason])


class MergeRejected(DirectoryError):
    """Nothing was merged: ``problems`` lists every problem found."""

    def __init__(self, problems: Sequence[MergeProblem]) -> None:
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"nothing merged, {len(problems)} problem(s) found:\n{lines}")
        self.problems = tuple(problems)

    @property
    def is_usage(self) -> bool:
        """Whether the command line, not the files' data, is at fault."""
        return any(problem.is_usage for problem in self.problems)


@dataclass(frozen=True, slots=True)
class Renamed:
    """One unit of one input file and the id it has in the merged file."""

    file: str
    old_id: str
    new_id: str


@dataclass(frozen=True, slots=True)
class Merged:
    """The merged directory: its units in tree order and where each came from."""

    units: list[Unit]
    renamed: list[Renamed]
    #: what the merge allows but an administrator should look at
    warnings: list[Reason] = field(default_factory=list)
    #: the officials' mailboxes of every roster given, their units renamed
    mailboxes: list[Mailbox] = field(default_factory=list)

    @property
    def prefixed(self) -> int:
        """How many units got their file's prefix."""
        return sum(1 for item in self.renamed if item.old_id != item.new_id)

    def csv_text(self, *, bom: bool = False) -> str:
        """The import file: the layout and order ``directory export`` writes."""
        return export_csv(self.units, bom=bom)

    def roster_text(self, *, bom: bool = False) -> str:
        """The roster import file: the layout and order ``mailboxes export`` writes."""
        return roster_csv(self.mailboxes, bom=bom)

    def map_text(self, *, bom: bool = False) -> str:
        """The mapping file: ``file,old_id,new_id`` for every unit of every input."""
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(MAP_COLUMNS)
        writer.writerows((item.file, item.old_id, item.new_id) for item in self.renamed)
        return ("\ufeff" if bom else "") + out.getvalue()


@dataclass(slots=True)
class _Input:
    """One input file as read: its good rows (line, unit), its prefix (None: none
    usable), and each good row's id in the merged file."""

    name: str
    prefix: str | None
    rows: list[tuple[int, Unit]] = field(default_factory=list)
    new_ids: dict[str, str] = field(default_factory=dict)


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start an id, else raise ``ValueError`` saying why
    (a :class:`~directory.problems.Problem`)."""
    check_unit_id(prefix)
    if prefix[-1] in "-_.":
        raise codes.Problem(codes.PREFIX_END(separator=SEPARATOR))
    return prefix


def merge_files(paths: Sequence[Path], prefixes: Sequence[str], *,
                rosters: Sequence[Path] = (), outputs: Sequence[Path] = ()) -> Merged:
    """Join several exports into one directory (module docstring).

    ``prefixes`` pairs with ``paths`` in order, and so do ``rosters`` (each province's
    ``directory mailboxes export``), if given: their ``unit`` cells follow the
    renaming. ``outputs`` are the files the caller will write, none of which may be
    an input.

    :raises MergeRejected: every problem found; ``is_usage`` when the command line
        (prefixes, rosters, files given twice, outputs) is at fault.
    """
    problems = _command_line_problems(paths, prefixes, rosters, outputs)
    usable = _usable_prefixes(prefixes)
    paired: dict[int, _Input] = {}  # by the file's place on the command line
    seen: dict[str, Path] = {}
    for index, path in enumerate(paths):
        data = _read_bytes(path, problems)
        if data is None:
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            # the same export twice: its every id and address would clash
            if not _same_file(path, seen[digest]):
                problems.append(MergeProblem(
                    str(path), None, None, codes.SAME_CONTENT(other=str(seen[digest])),
                    is_usage=True))
            continue
        seen[digest] = path
        prefix = usable[index] if index < len(usable) else None
        paired[index] = _parse(str(path), data, prefix, problems)
    inputs = list(paired.values())
    _rename(inputs, problems)
    _check_addresses(inputs, problems)
    _check_organ_ids(inputs, problems)
    mailboxes = (_merge_rosters(rosters, paired, problems) if len(rosters) == len(paths)
                 else [])
    if problems:
        order = {str(path): index for index, path in enumerate([*paths, *rosters])}
        raise MergeRejected(sorted(problems, key=lambda p: (
            -1 if p.file is None else order.get(p.file, len(order)), p.line or 0)))
    units: list[Unit] = []
    renamed: list[Renamed] = []
    for item in inputs:
        for _line, unit in item.rows:
            units.append(_renamed_unit(unit, item.new_ids))
            renamed.append(Renamed(item.name, unit.id, item.new_ids[unit.id]))
    return Merged(tree_order(units), renamed, _shared_logins(inputs), mailboxes)


def _command_line_problems(paths: Sequence[Path], prefixes: Sequence[str],
                           rosters: Sequence[Path], outputs: Sequence[Path]
                           ) -> list[MergeProblem]:
    problems: list[MergeProblem] = []
    if len(prefixes) != len(paths):
        problems.append(MergeProblem(
            None, None, None, codes.PREFIX_COUNT(files=len(paths), prefixes=len(prefixes)),
            is_usage=True))
    if rosters and len(rosters) != len(paths):
        problems.append(MergeProblem(
            None, None, None, codes.ROSTER_COUNT(files=len(paths), rosters=len(rosters)),
            is_usage=True))
    first_use: dict[str, int] = {}
    for number, prefix in enumerate(prefixes, start=1):
        try:
            check_prefix(prefix)
        except ValueError as exc:
            problems.append(MergeProblem(None, None, None, codes.PREFIX_INVALID(
                prefix=prefix, problem=codes.problem_of(exc)), is_usage=True))
        if prefix in first_use:
            problems.append(MergeProblem(None, None, None, codes.PREFIX_TWICE(
                prefix=prefix, first=first_use[prefix], second=number), is_usage=True))
        first_use.setdefault(prefix, number)
    inputs = [*paths, *rosters]
    for later, path in enumerate(inputs):
        for earlier in inputs[:later]:
            if _same_file(path, earlier):
                problems.append(MergeProblem(str(path), None, None,
                                             codes.GIVEN_TWICE(other=str(earlier)),
                                             is_usage=True))
                break
    for number, output in enumerate(outputs):
        if any(_same_file(output, path) for path in inputs):
            problems.append(MergeProblem(str(output), None, None, codes.OUTPUT_IS_INPUT(),
                                         is_usage=True))
        elif any(output.resolve() == other.resolve() for other in outputs[:number]):
            problems.append(MergeProblem(str(output), None, None, codes.OUTPUT_TWICE(),
                                         is_usage=True))
    return problems


def _usable_prefixes(prefixes: Sequence[str]) -> list[str | None]:
    """Each file's prefix, None where it is bad or another file's (reported already)."""
    usable: list[str | None] = []
    for index, prefix in enumerate(prefixes):
        try:
            check_prefix(prefix)
        except ValueError:
            usable.append(None)
            continue
        usable.append(None if prefix in prefixes[:index] else prefix)
    return usable


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def _read_bytes(path: Path, problems: list[MergeProblem]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        problems.append(MergeProblem(str(path), None, None,
                                     codes.UNREADABLE(detail=str(exc.strerror))))
        return None


def _parse(name: str, data: bytes, prefix: str | None,
           problems: list[MergeProblem]) -> _Input:
    """The file's good rows; its problems (as an import would find them) go to ``problems``."""
    found = _Input(name, prefix)
    try:
        parsed = parse_rows(decode(data, name), name)
    except ImportRejected as exc:
        problems.extend(MergeProblem(name, error.row or None, error.column, error.problem)
                        for error in exc.errors)
        return found
    good, errors = check_rows(parsed, partial=False)
    problems.extend(MergeProblem(name, error.row, error.column, error.problem)
                    for error in errors)
    found.rows = [(row.line, row.unit) for row in good]
    return found


def _rename(inputs: list[_Input], problems: list[MergeProblem]) -> None:
    """Give each input its ids in the merged file; report ids that would clash."""
    files_of: dict[str, int] = {}
    for item in inputs:
        for unit_id in {unit.id for _, unit in item.rows}:
            files_of[unit_id] = files_of.get(unit_id, 0) + 1
    claimed: dict[str, tuple[str, int, str]] = {}
    for item in inputs:
        for line, unit in item.rows:
            new_id = unit.id
            if files_of[unit.id] > 1:
                if item.prefix is None:
                    continue  # no usable prefix to give: reported already
                new_id = f"{item.prefix}{SEPARATOR}{unit.id}"
                try:
                    check_unit_id(new_id)
                except ValueError as exc:
                    problems.append(MergeProblem(item.name, line, "id", codes.PREFIXED_INVALID(
                        id=new_id, problem=codes.problem_of(exc))))
                    continue
            if new_id in claimed:
                file, other_line, old_id = claimed[new_id]
                problems.append(MergeProblem(item.name, line, "id", _clash(
                    new_id, unit.id, file, other_line, old_id)))
                continue
            claimed[new_id] = (item.name, line, unit.id)
            item.new_ids[unit.id] = new_id


def _clash(new_id: str, old_id: str, file: str, line: int, other_old: str) -> Reason:
    def became(old: str) -> Reason | str:
        return "" if old == new_id else codes.PREFIXED_FROM(id=old)
    return codes.ID_CLASH(id=new_id, became=became(old_id), file=file, line=line,
                          other_became=became(other_old))


def _check_addresses(inputs: list[_Input], problems: list[MergeProblem]) -> None:
    """Addresses claimed in two files (each file is checked alone by the import's checks)."""
    owner: dict[str, tuple[str, int, str]] = {}
    for item in inputs:
        for line, unit in item.rows:
            for index, address in enumerate(unit.addresses):
                taken = owner.setdefault(address.key, (item.name, line, unit.id))
                if taken[0] != item.name:
                    file, other_line, other_id = taken
                    problems.append(MergeProblem(
                        item.name, line, "address" if index == 0 else "aliases",
                        codes.ADDRESS_IN_TWO(address=address.addr_spec, unit=other_id,
                                             file=file, line=other_line)))


def _check_organ_ids(inputs: list[_Input], problems: list[MergeProblem]) -> None:
    """Identifier codes claimed in two files: the merged file would not import."""
    owner: dict[str, tuple[str, int, str]] = {}
    for item in inputs:
        for line, unit in item.rows:
            if unit.organ_id is None:
                continue
            taken = owner.setdefault(unit.organ_id, (item.name, line, unit.id))
            if taken[0] != item.name:
                file, other_line, other_id = taken
                problems.append(MergeProblem(
                    item.name, line, "organ_id",
                    codes.ORGAN_ID_IN_TWO(code=unit.organ_id, unit=other_id, file=file,
                                          line=other_line)))


def _renamed_unit(unit: Unit, new_ids: Mapping[str, str]) -> Unit:
    def mapped(unit_id: str | None) -> str | None:
        return None if unit_id is None else new_ids[unit_id]
    return replace(unit, id=new_ids[unit.id], parent=mapped(unit.parent),
                   successor=mapped(unit.successor))


def _shared_logins(inputs: list[_Input]) -> list[Reason]:
    """Sender logins listed in two files: on one mail server they are one account."""
    first: dict[str, tuple[str, str]] = {}
    warnings = []
    for item in inputs:
        logins = {login: item.new_ids[unit.id] for _, unit in item.rows for login in unit.senders}
        for login, unit_id in logins.items():
            if login in first and first[login][0] != item.name:
                file, other = first[login]
                warnings.append(codes.SHARED_LOGIN(
                    login=login, unit=other, file=file, other_unit=unit_id,
                    other_file=item.name))
            first.setdefault(login, (item.name, unit_id))
    return warnings


def _merge_rosters(rosters: Sequence[Path], paired: Mapping[int, _Input],
                   problems: list[MergeProblem]) -> list[Mailbox]:
    """Each roster's mailboxes with their units renamed as their province's file was,
    checked as a roster import would check them against the merged units."""
    units = {item.new_ids[unit.id]: replace(unit, id=item.new_ids[unit.id])
             for item in paired.values() for _, unit in item.rows if unit.id in item.new_ids}
    owner: dict[str, tuple[str, int]] = {}
    mailboxes: list[Mailbox] = []
    for index, path in enumerate(rosters):
        name, item = str(path), paired.get(index)
        data = _read_bytes(path, problems)
        if data is None or item is None:
            continue  # the roster, or its province's file, could not be read: reported
        try:
            parsed = read_roster(decode(data, name), name)
        except ImportRejected as exc:
            problems.extend(MergeProblem(name, error.row or None, error.column, error.problem)
                            for error in exc.errors)
            continue
        known = {unit.id for _, unit in item.rows}
        renamed = RosterFile(errors=parsed.errors, keys=parsed.keys)
        for row in parsed.rows:
            unit_id = row.mailbox.unit_id
            if unit_id not in known:
                problems.append(MergeProblem(name, row.line, "unit", codes.ROSTER_UNKNOWN_UNIT(
                    file=item.name, unit=unit_id)))
            elif unit_id in item.new_ids:
                renamed.rows.append(replace(
                    row, mailbox=replace(row.mailbox, unit_id=item.new_ids[unit_id])))
        plan = plan_import(renamed, stored={}, units=units, scope=None, partial=False)
        problems.extend(MergeProblem(name, error.row, error.column, error.problem)
                        for error in plan.errors)
        for row in renamed.rows:
            key = row.mailbox.address.key
            if key in owner and owner[key][0] != name:
                problems.append(MergeProblem(name, row.line, "address", codes.ON_TWO_ROSTERS(
                    address=row.mailbox.address.addr_spec, file=owner[key][0],
                    line=owner[key][1])))
            owner.setdefault(key, (name, row.line))
        mailboxes.extend(mailbox for mailbox, _action, _diff in plan.changes)
    return sorted(mailboxes, key=lambda mailbox: mailbox.address.key)
