"""The console's catalogue: web/locale/vi/LC_MESSAGES/congvu-web.po, read on first use.

A module of its own so that web/reasons.py (whose book renders the users store's
refusals, web/refusals.py, in this catalogue) and web/i18n.py (which renders reasons)
can both use it without importing each other.
"""

from __future__ import annotations

from pathlib import Path

from mailbase import Catalogue

__all__ = ["CATALOGUE"]

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "locale", "congvu-web")
