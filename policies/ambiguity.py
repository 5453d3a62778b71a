"""Other readings of a MIME header field, to find where a message's structure depends on
the program that reads it.

The walk (:mod:`policies.walk`) is the one reader congvu decides on. The readings here
only detect ambiguity: where the same bytes give another boundary, media type, transfer
encoding, filename or charset to another parser, the walk inspects the structure under
each of them and reports ``ambiguous-mime`` with the readings that disagree. They follow
what the parsers that run here were measured to do (tests/data/ambiguous-mime/): Python's
email package (policies compat32 and default) and Dovecot 2.3's message parser.

- A comment (RFC 5322 3.2.2) in an unquoted value is dropped by Dovecot and by Python's
  default policy, kept as text by compat32 and by RFC 2045's token grammar.
- Python trims white space inside a quoted boundary; Dovecot keeps it.
- A repeated parameter, or one given both plainly and in RFC 2231 form, is taken first by
  some readers and last, or in its RFC 2231 form, by others.
- ``multipart / mixed`` is ``multipart/mixed`` to Dovecot and no type at all to Python.
- A Content-Transfer-Encoding with a comment or quotes is base64 to Dovecot and unknown
  to Python.

Nothing here raises on bad input.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from mailbase import Reason
from policies.headers import param_values, split_params
from policies.reasons import AMBIGUOUS_FIELD

_IDENTITY = ("", "7bit", "8bit", "binary")
_DECODINGS = {"base64": "base64", "quoted-printable": "quoted-printable",
              "x-uuencode": "uuencode", "uuencode": "uuencode", "x-uue": "uuencode"}


@dataclass(frozen=True, slots=True)
class Reading:
    """One way to read a value: the ``value`` and how it is read that way (``how``)."""

    value: str
    how: tuple[str, ...]

    def __str__(self) -> str:
        # a reason goes into the audit record: a long value is shown by its start
        shown = self.value if len(self.value) <= _LONGEST else self.value[:_LONGEST] + "..."
        return f"{shown!r} ({', '.join(self.how)})"


#: readings named in a reason, and the characters shown of each; the rest are counted
#: (the audit record keeps the reason)
_SHOWN = 4
_LONGEST = 80


def describe(field: str, readings: list[Reading]) -> Reason:
    """The reason for a field that reads several ways (``field`` one of
    :data:`policies.reasons.AMBIGUOUS_FIELD`)."""
    shown = " / ".join(str(r) for r in readings[:_SHOWN])
    more = len(readings) - _SHOWN
    return AMBIGUOUS_FIELD[field](count=len(readings),
                                  readings=shown + (f" / {more} more" if more > 0 else ""))


def without_comments(value: str) -> str:
    """``value`` with its RFC 5322 comments removed (nested, with quoted pairs), except
    inside quoted strings; an unterminated comment runs to the end."""
    if "(" not in value:
        return value
    out: list[str] = []
    depth = 0
    is_quoted = False
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\" and (is_quoted or depth) and i + 1 < n:
            if not depth:
                out.append(value[i : i + 2])
            i += 2
            continue
        if depth:
            depth += (c == "(") - (c == ")")
        elif c == '"':
            is_quoted = not is_quoted
            out.append(c)
        elif c == "(" and not is_quoted:
            depth = 1
            out.append(" ")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _same(value: str) -> str:
    return value


def _group(found: list[tuple[str, str]], key: Callable[[str], str] = _same) -> list[Reading]:
    """(value, how) pairs grouped by ``key(value)``, in first-seen order; each group is
    shown by its first value."""
    if len(found) < 2:  # the common case: one reading or none
        return [Reading(value, (how,)) for value, how in found]
    groups: dict[str, tuple[str, list[str]]] = {}
    for value, how in found:
        _, hows = groups.setdefault(key(value), (value, []))
        if how not in hows:
            hows.append(how)
    return [Reading(first, tuple(hows)) for first, hows in groups.values()]


@functools.lru_cache(maxsize=256)
def parsed(value: str) -> tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]]:
    """:func:`policies.headers.split_params` of a structured field, split once however
    many readings ask (the walk and the readings here read each field several times)."""
    main, params, problems = split_params(value)
    return main, tuple(params), tuple(problems)


def _params(value: str) -> tuple[tuple[str, str], ...]:
    return parsed(value)[1]


def _forms(params: tuple[tuple[str, str], ...], name: str,
           is_literal: bool) -> list[tuple[str, str]]:
    """Each value of parameter ``name``: the plain ones in order, then the RFC 2231 one.
    RFC 2047 words in a plain value (not allowed, RFC 2047 5) are decoded, as clients
    do in names; ``is_literal`` keeps the value as written as a reading too."""
    if not any(n.startswith(name) for n, _ in params):
        return []
    found: list[tuple[str, str]] = []
    for k, value in enumerate(v for n, v in params if n == name):
        how = f"{name}=" if k == 0 else f"repeated {name}="
        decoded = param_values([(name, value)], name)
        if is_literal and decoded != [value]:
            found.append((value, how))
            how += " decoded"
        found += [(v, how) for v in decoded]
    extended = [(n, v) for n, v in params if n != name]
    found += [(v, f"RFC 2231 {name}*") for v in param_values(extended, name)]
    return found


def param_readings(value: str, name: str, *, is_trimmed: bool = False,
                   is_literal: bool = False) -> list[Reading]:
    """Every reading of parameter ``name`` in a structured field ``value``: its plain and
    RFC 2231 forms, repeated values, the value without comments and, when
    ``is_trimmed``, without the white space around it; ``is_literal``: RFC 2047 words
    are read both as written and decoded (a boundary: Python and Dovecot take it as
    written)."""
    if name not in value.lower():  # the common case: no such parameter at all
        return []
    params = _params(value)
    if "(" not in value and "*" not in value and "=?" not in value:
        # the next common case: one plain value that every reading takes alike
        plain = [v for n, v in params if n == name]
        if len(plain) == 1 and " " not in plain[0] and "\t" not in plain[0]:
            return [Reading(plain[0], (f"{name}=",))] if plain[0] or is_literal else []
    found = _forms(params, name, is_literal)
    bare = without_comments(value)
    if bare != value:
        found += [(v, f"{how} without comments")
                  for v, how in _forms(_params(bare), name, is_literal)]
    if is_trimmed:
        found += [(v.strip(), f"{how} trimmed") for v, how in found if v.strip() != v]
    if any(" " in v or "\t" in v for n, v in _params(bare) if n == name):
        # an unquoted value with white space inside: Dovecot and Python's default
        # policy stop at the space, compat32 and RFC 2045's reading here take it all
        found += [(m.group(1), f"{name}= to the first space")
                  for m in _unquoted_words(name).finditer(bare)]
    # an empty boundary is a boundary to Python and Dovecot ("--" lines delimit)
    return _group([(v, how) for v, how in found if v or is_literal])


@functools.lru_cache(maxsize=8)
def _unquoted_words(name: str) -> re.Pattern[str]:
    """An unquoted value of parameter ``name`` that white space splits into words."""
    return re.compile(rf'(?:^|;)[ \t]*{re.escape(name)}[ \t]*=[ \t]*([^";\s]+)[ \t]+[^;\s]',
                      re.IGNORECASE)


def _media_key(media: str) -> str:
    # readers split at the slash and take the type as it stands (a space after
    # "multipart" makes it no multipart for Python); a comment after the subtype
    # changes nothing they do with the part
    main, _, sub = media.partition("/")
    return f"{main}/{''.join(without_comments(sub).split())}"


def media_type_readings(main: str) -> list[Reading]:
    """The type/subtype of a Content-Type as written (lower case), and without comments
    and white space around the slash; readings that differ only in a comment after the
    subtype are one."""
    written = main.strip().lower()
    bare = "".join(without_comments(written).split())
    if not bare or bare == written:
        return [Reading(written, ("as written",))]
    if _media_key(written) == _media_key(bare):
        return [Reading(bare, ("as written", "without comments and white space"))]
    return [Reading(written, ("as written",)),
            Reading(bare, ("without comments and white space",))]


def _decoding(cte: str) -> str:
    return "identity" if cte in _IDENTITY else _DECODINGS.get(cte, f"unknown {cte}")


def encoding_readings(values: list[str]) -> list[Reading]:
    """Every Content-Transfer-Encoding the fields ``values`` may mean (lower case): the
    first field and the last, each as written, without comments and without quotes.
    Readings that decode alike are one."""
    if len(values) == 1 and "(" not in values[0] and '"' not in values[0]:
        return [Reading(values[0].strip().lower(), ("as written",))]
    picked = values if len(values) <= 2 else [values[0], values[-1]]
    found: list[tuple[str, str]] = []
    for k, value in enumerate(picked):
        where = "" if len(picked) == 1 else ("the first field " if k == 0 else "the last field ")
        written = value.strip().lower()
        found.append((written, f"{where}as written".strip()))
        bare = without_comments(written).strip()
        if bare != written:
            found.append((bare, f"{where}without comments".strip()))
        unquoted = bare.strip('"').strip()
        if unquoted != bare:
            found.append((unquoted, f"{where}without quotes".strip()))
    return _group(found, key=_decoding)


def _name_key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


@dataclass(frozen=True, slots=True)
class Names:
    """The names a part is given: ``readings`` groups those that differ only in case,
    white space or Unicode normalisation; ``every`` holds each exact name, for the rules."""

    readings: list[Reading]
    every: tuple[str, ...]


def filename_readings(content_type: str, dispositions: list[str]) -> Names:
    """Every name a part is given: Content-Disposition ``filename`` and Content-Type
    ``name``, in all their forms."""
    found: list[tuple[str, str]] = []
    for disposition in dispositions:
        found += [(r.value, f"Content-Disposition {how}") for r in
                  param_readings(disposition, "filename") for how in r.how]
    found += [(r.value, f"Content-Type {how}") for r in
              param_readings(content_type, "name") for how in r.how]
    return Names(_group(found, key=_name_key), tuple(dict.fromkeys(v for v, _ in found)))


def charset_readings(content_type: str) -> list[Reading]:
    """Every charset a Content-Type names (charset names ignore case)."""
    return _group([(r.value, how) for r in param_readings(content_type, "charset", is_trimmed=True)
                   for how in r.how], key=str.casefold)
