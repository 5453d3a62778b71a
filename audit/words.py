"""The reports' words a person reads (table, HTML, the filed workbook and document).

English in the code, marked for Babel (``N_``, ``NP_``); Vietnamese, the default, in
audit/locale/vi/LC_MESSAGES/congvu-audit.po. CSV and JSON keep their English column
names and are never translated.
"""

from __future__ import annotations

from pathlib import Path

from mailbase import Catalogue, Translation

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "locale", "congvu-audit")


def translation(lang: str) -> Translation:
    """The reports' words in ``lang`` (``vi`` or ``en``).

    :raises ValueError: an unknown language.
    """
    return CATALOGUE.translation(lang)
