"""A small reader of LDIF content records (RFC 2849), for roster imports.

It reads what an LDAP export (``ldapsearch -LLL``, ``slapcat``, Active Directory's
``ldifde``) writes: records separated by blank lines, folded lines, comments,
``name:: base64`` values and attribute options (``cn;lang-vi``). It is here rather
than a dependency because the roster needs only this much, and because every bad
record must be reported at once with its line, where python-ldap's parser (the
``ldif`` package the tests use to cross-check this one) stops at the first.
Change records and ``name:< URL`` values are refused.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass, field

from directory import problems
from directory.errors import ImportRowError


@dataclass(slots=True)
class LdifRecord:
    """One entry: its DN, the line it starts on, and its values by attribute.

    Attribute names are lower-case, without options; values keep file order.
    """

    line: int
    dn: str
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def first(self, name: str) -> str:
        """The first value of ``name`` ('' when the entry has none)."""
        values = self.attributes.get(name)
        return values[0] if values else ""


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Unfolded lines with the number of their first physical line; '' ends a record."""
    found: list[tuple[int, str]] = []
    in_comment = False
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if line.startswith(" "):
            # RFC 2849: a line starting with one space continues the previous one
            if not in_comment and found and found[-1][1]:
                found[-1] = (found[-1][0], found[-1][1] + line[1:])
            continue
        in_comment = line.startswith("#")
        if not in_comment:
            found.append((number, line))
    return found


def _value(line: int, name: str, rest: str) -> str:
    if rest.startswith(":"):
        try:
            raw = base64.b64decode(rest[1:].strip(), validate=True)
            return unicodedata.normalize("NFC", raw.decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError):
            raise ImportRowError(line, name, problems.LDIF_BASE64()) from None
    if rest.startswith("<"):
        raise ImportRowError(line, name, problems.LDIF_URL())
    return unicodedata.normalize("NFC", rest.lstrip(" "))


def read_ldif(text: str) -> tuple[list[LdifRecord], list[ImportRowError]]:
    """Every content record of ``text`` and every problem found, by line."""
    records: list[LdifRecord] = []
    errors: list[ImportRowError] = []
    current: LdifRecord | None = None
    bad = False
    for number, line in _logical_lines(text):
        if not line.strip():
            if current is not None and not bad:
                records.append(current)
            current, bad = None, False
            continue
        if bad:
            continue
        name, colon, rest = line.partition(":")
        name = name.split(";", 1)[0].strip().lower()
        if not colon or not name:
            errors.append(ImportRowError(number, None, problems.LDIF_NOT_A_LINE()))
            bad, current = True, current or LdifRecord(number, "")
            continue
        try:
            value = _value(number, name, rest)
        except ImportRowError as exc:
            errors.append(exc)
            bad, current = True, current or LdifRecord(number, "")
            continue
        if current is None:
            if name == "version" and not records:
                continue
            if name != "dn":
                errors.append(ImportRowError(number, name, problems.LDIF_NO_DN()))
                bad, current = True, LdifRecord(number, "")
                continue
            current = LdifRecord(number, value)
        elif name == "changetype":
            errors.append(ImportRowError(current.line, name, problems.LDIF_CHANGE()))
            bad = True
        else:
            current.attributes.setdefault(name, []).append(value)
    if current is not None and not bad:
        records.append(current)
    return records, errors
