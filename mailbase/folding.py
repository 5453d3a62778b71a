"""Diacritic-insensitive text folding for search ("so tai chinh" finds "Sở Tài chính")."""

from __future__ import annotations

import unicodedata

# đ/Đ are letters of their own, not d plus a combining mark, so NFD leaves them.
_EXTRA = str.maketrans({"đ": "d", "Đ": "D"})


def fold(text: str) -> str:
    """Fold text for comparison: NFD, combining marks dropped, đ→d, case folded."""
    decomposed = unicodedata.normalize("NFD", text.translate(_EXTRA))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()
