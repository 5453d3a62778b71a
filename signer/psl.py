"""Organizational domains (RFC 7489 section 3.2) from the Public Suffix List.

The list is the one the ``publicsuffixlist`` wheel ships (no download at run time); it
is read once, on first use, and shared (reading it takes about 30 ms; a lookup about
2 microseconds).
"""

from __future__ import annotations

import functools

from publicsuffixlist import PublicSuffixList


@functools.cache
def _list() -> PublicSuffixList:
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The organizational domain of ``domain``: its public suffix plus one label.

    ``sotc.binhthuan.gov.vn`` gives ``binhthuan.gov.vn``. A domain that is itself a
    public suffix (``gov.vn``) is its own organizational domain.
    """
    domain = domain.lower().rstrip(".")
    return _list().privatesuffix(domain) or domain


def is_aligned(one: str, other: str, *, strict: bool) -> bool:
    """Identifier alignment (RFC 7489 section 3.1): the same domain when ``strict``,
    else the same organizational domain."""
    one, other = one.lower().rstrip("."), other.lower().rstrip(".")
    if one == other:
        return True
    return not strict and organizational_domain(one) == organizational_domain(other)
