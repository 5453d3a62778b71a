"""The words a person reads in directory/'s text output (``directory show``).

English in the code, marked for Babel (``N_``); Vietnamese, the default, in
directory/locale/vi/LC_MESSAGES/congvu-directory.po. JSON and CSV keep their English
keys and are never translated; what a unit holds (its name, kind, addresses) is data
and shown as stored.
"""

from __future__ import annotations

from pathlib import Path

from mailbase import N_, Catalogue, Translation

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
}


def translation(lang: str) -> Translation:
    """directory/'s words in ``lang`` (``vi`` or ``en``).

    :raises ValueError: an unknown language.
    """
    return CATALOGUE.translation(lang)
