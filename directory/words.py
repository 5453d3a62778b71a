"""The words a person reads in directory/'s text output (``directory show``, an
import's summary, ``history``, ``publish``, ``merge``, ``mailboxes list``).

English in the code, marked for Babel (``N_``); Vietnamese, the default, in
directory/locale/vi/LC_MESSAGES/congvu-directory.po. JSON and CSV keep their English
keys and are never translated; what a unit holds (its name, kind, addresses) is data
and shown as stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mailbase import N_, NP_, Catalogue, Translation, zone

if TYPE_CHECKING:
    from directory.store import Change, ImportSummary

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "locale", "congvu-directory")

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
    lines.extend(said(tr, "skipped", error=error) for error in summary.skipped)
    return "\n".join(lines)


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
