"""Finding units by what people type: every word must match, diacritics optional.

A unit matches a query when each of the query's words (split on white space) begins
a word of the unit's names, id or addresses, all folded by :func:`mailbase.fold`
('so tai chinh' finds 'Sở Tài chính'). A word begins where no letter or digit comes
before it, so 'tai' finds 'Tài chính' and 'stc.laocai' finds 'vanthu@stc.laocai...',
but 'ai' does not find 'Lào Cai', which would make a two-word query match units that
hold only one of its words. The published page's script applies the same rule to the
same folded text (``data-fold``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from directory.model import Unit
from mailbase import fold


def searchable(unit: Unit) -> str:
    """The folded text a search looks in: names, id, and each address as stored and
    with its domain in Unicode (an IDN domain as people type it)."""
    return fold(" ".join([
        unit.name, unit.short_name, unit.name_en, unit.id,
        *(address.addr_spec for address in unit.addresses),
        *(f"{address.local}@{address.unicode_domain}" for address in unit.addresses),
    ]))


def matcher(query: str) -> Callable[[str], bool] | None:
    """A test of folded text for ``query``'s words, all of them; None when the query
    has no words."""
    words = fold(query).split()
    if not words:
        return None
    patterns = [re.compile(r"(?:^|[\W_])" + re.escape(word)) for word in words]
    return lambda text: all(pattern.search(text) for pattern in patterns)


def search_units(units: Sequence[Unit], query: str) -> list[Unit]:
    """The units matching every word of ``query``, in their order; none for an empty
    query."""
    test = matcher(query)
    if test is None:
        return []
    return [unit for unit in units if test(searchable(unit))]
