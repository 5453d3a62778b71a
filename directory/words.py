"""The words a person reads in directory/'s text output (``directory show``, an
import's summary and its refused rows, ``history``, ``publish``, ``merge``, ``mailboxes
list``, the store's refusals).

English in the code, marked for Babel (``N_``); Vietnamese, the default, in
directory/locale/vi/LC_MESSAGES/congvu-directory.po. JSON and CSV keep their English
keys and are never translated; what a unit holds (its name, kind, addresses) is data
and shown as stored. A refused row's problem is a code of directory/problems.py,
rendered from its template in the reader's language.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from directory.problems import PROBLEMS
from mailbase import N_, NP_, Catalogue, Reason, ReasonBook, Translation, zone

if TYPE_CHECKING:
    from directory.errors import ImportRejected, ImportRowError
    from directory.merge import MergeProblem, MergeRejected
    from directory.store import Change, ImportSummary

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "locale", "congvu-directory")
#: the problems of imports and merges, rendered in the reader's language
BOOK = ReasonBook([(CATALOGUE, PROBLEMS)])

#: the fields ``directory show`` lists, by the unit's attribute, in their order
FIELDS: dict[str, str] = {
    "short_name": N_("short name"), "name_en": N_("English name"), "kind": N_("kind"),
    "address": N_("address"), "aliases": N_("aliases"), "dkim_domain": N_("DKIM domain"),
    "organ_id": N_("organ id"), "phone": N_("phone"), "website": N_("website"),
    "senders": N_("senders"), "certificate": N_("certificate"),
    "valid_from": N_("valid from"), "valid_until": N_("valid until"),
    "successor": N_("successor"),
}
#: what ``directory show`` says besides the fields
SAID: dict[str, str] = {
    "certificate": N_("yes (PEM)"),
    "inactive": N_("inactive"),
    "ended": N_("ended"),
    "merged": N_("merged into {name} ({id}) <{address}>"),
    "predecessors": N_("predecessors:"),
    "parents": N_("parents:"),
    "imported": N_("{source}: {created} created, {updated} updated, {unchanged} unchanged, "
                   "{deactivated} made inactive, {skipped} row(s) skipped"),
    "deactivated": N_("made inactive (missing from the file): {ids}"),
    "skipped": N_("skipped {error}"),
    "line": N_("line {line}"),
    "line_column": N_("line {line}, column '{column}'"),
    "rejected": N_("{source}: nothing imported, {count} problem(s) found (fix them, or "
                   "import the good rows with --partial):"),
    "nothing_merged": N_("nothing merged, {count} problem(s) found:"),
    "unknown_unit": N_("no unit has the id or address '{unit}'"),
    "were_skipped": N_("{count} row(s) were skipped"),
    "written": N_("{out}: {count} files written"),
    "merged_units": N_("{out}: {units} units from {files} files, {prefixed} prefixed"),
    "ids_in": N_("; ids in {path}"),
    "merged_roster": N_("{out}: {count} mailboxes from {rosters} rosters"),
    "warning": N_("warning: {warning}"),
    "none": N_("(none)"),
    "lines": N_("({count} lines)"),
    "yes": N_("yes"),
    "no": N_("no"),
}
#: what a change did, in ``history``
ACTIONS: dict[str, tuple[str, str]] = {
    "created": NP_("change", "created"), "updated": NP_("change", "updated"),
    "deactivated": NP_("change", "made inactive"),
}
#: the other columns ``history`` names (the units' and the roster's import layouts)
COLUMNS: dict[str, str] = {
    "id": N_("id"), "name": N_("name"), "parent": N_("parent"), "active": N_("active"),
    "document_certificates": N_("document certificates"), "full_name": N_("full name"),
    "unit": N_("unit"), "position": N_("position"), "created": N_("created"),
    "last_login": N_("last login"),
}


def translation(lang: str) -> Translation:
    """directory/'s words in ``lang`` (``vi`` or ``en``).

    :raises ValueError: an unknown language.
    """
    return CATALOGUE.translation(lang)


def said(tr: Translation, key: str, **values: object) -> str:
    """The sentence ``SAID[key]`` in ``tr``'s language with ``values`` put in."""
    return tr.gettext(SAID[key]).format(**values)


def import_text(summary: ImportSummary, tr: Translation) -> str:
    """What an import did (units or roster), in ``tr``'s language; ids, addresses and
    the rows' problems as they are."""
    lines = [said(tr, "imported", source=summary.source, created=len(summary.created),
                  updated=len(summary.updated), unchanged=summary.unchanged,
                  deactivated=len(summary.deactivated), skipped=len(summary.skipped))]
    if summary.deactivated:
        lines.append(said(tr, "deactivated", ids=", ".join(summary.deactivated)))
    lines.extend(said(tr, "skipped", error=row_error_text(error, tr))
                 for error in summary.skipped)
    return "\n".join(lines)


def problem_text(problem: Reason, tr: Translation) -> str:
    """A problem of an import or a merge in ``tr``'s language, its values as they are."""
    return BOOK.render(problem.as_json(), tr.lang) or problem.text


def _where(line: int | None, column: str | None, tr: Translation) -> list[str]:
    if line is None:
        return []
    return [said(tr, "line_column", line=line, column=column) if column
            else said(tr, "line", line=line)]


def row_error_text(error: ImportRowError, tr: Translation) -> str:
    """One refused row: its line, its column and the problem, in ``tr``'s language."""
    return f"{_where(error.row, error.column, tr)[0]}: {problem_text(error.problem, tr)}"


def rejected_text(rejected: ImportRejected, tr: Translation) -> str:
    """An import refused as a whole, every refused row on a line of its own."""
    return "\n".join([said(tr, "rejected", source=rejected.source, count=len(rejected.errors)),
                      *(f"  {row_error_text(error, tr)}" for error in rejected.errors)])


def merge_problem_text(problem: MergeProblem, tr: Translation) -> str:
    """One problem of a merge: the file, its line and column, and what is wrong."""
    where = ", ".join([*([problem.file] if problem.file else []),
                       *_where(problem.line, problem.column, tr)])
    shown = problem_text(problem.problem, tr)
    return f"{where}: {shown}" if where else shown


def merge_rejected_text(rejected: MergeRejected, tr: Translation) -> str:
    """A merge refused, every problem on a line of its own."""
    return "\n".join([said(tr, "nothing_merged", count=len(rejected.problems)),
                      *(f"  {merge_problem_text(problem, tr)}"
                        for problem in rejected.problems)])


def value_text(value: object, tr: Translation) -> str:
    """A field's value in ``history``: lists joined, long texts counted in lines."""
    if value is None or value == "" or value == []:
        return said(tr, "none")
    if isinstance(value, bool):
        return said(tr, "yes" if value else "no")
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if isinstance(value, str) and "\n" in value:
        return said(tr, "lines", count=len(value.splitlines()))
    return str(value)


def column_label(column: str, tr: Translation) -> str:
    """A column of the import layouts by its label (a column without one as named)."""
    label = FIELDS.get(column) or COLUMNS.get(column)
    return tr.gettext(label) if label else column


def change_lines(change: Change, tr: Translation) -> list[str]:
    """One entry of ``history``: when (dd/mm/yyyy in the province's zone), who, what
    to which unit or mailbox, then each changed field's old and new value."""
    when = change.at.astimezone(zone()).strftime("%d/%m/%Y %H:%M:%S")
    action = tr.word(ACTIONS[change.action]) if change.action in ACTIONS else change.action
    return [f"{when}  {change.actor}  {action} {change.unit_id}", *(
        f"    {column_label(field, tr)}: {value_text(old, tr)} -> {value_text(new, tr)}"
        for field, (old, new) in change.changes.items())]
