"""Diacritic-insensitive text folding for search ("so tai chinh" finds "Sở Tài chính")."""

from __future__ import annotations

import unicodedata


class _Marks(dict[int, int | None]):
    """The translation table of the decomposed text, filled in as characters come:
    a combining mark maps to nothing, any other character to itself. str.translate
    then drops the marks in C instead of a Python test per character. Only the Basic
    Multilingual Plane is kept, so no text can grow the table past 65,536 entries."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        if code < 0x10000:
            self[code] = kept
        return kept


# đ/Đ are letters of their own, not d plus a combining mark: NFD neither leaves nor
# makes them, so mapping them after it is mapping them before.
_TABLE = _Marks({ord("đ"): ord("d"), ord("Đ"): ord("D")})


def fold(text: str) -> str:
    """Fold text for comparison: NFD, combining marks dropped, đ→d, case folded."""
    if text.isascii():
        return text.casefold()
    return unicodedata.normalize("NFD", text).translate(_TABLE).casefold()
