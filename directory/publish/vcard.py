"""vCard 3.0 (RFC 2426): the version both Thunderbird and Outlook import.

One card per unit: its name (FN, N), the organisation path from the province
down (ORG), its addresses (EMAIL, primary first with PREF), phone, web site, kind
(CATEGORIES), English name (NOTE) and S/MIME certificate (KEY, DER in base64).
Lines end in CRLF and are folded at 75 octets without splitting a UTF-8 character.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from directory.model import Unit

_LIMIT = 75


def escape(text: str) -> str:
    """Escape a TEXT value (RFC 2426 section 4): backslash, comma, semicolon, newline."""
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def fold(line: str) -> str:
    """Fold one content line at 75 octets (RFC 2425 section 5.8.1), CRLF-terminated."""
    pieces: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        # continuation lines start with a space, which counts toward their 75 octets
        if size + width > _LIMIT:
            pieces.append(current)
            current, size = " ", 1
        current += char
        size += width
    pieces.append(current)
    return "\r\n".join(pieces) + "\r\n"


def _property(name: str, value: str, *params: str) -> str:
    if not value.isascii():
        # RFC 2426 takes the charset from MIME, which a .vcf file has not got;
        # Outlook reads non-ASCII text right only with this parameter.
        params = (*params, "CHARSET=UTF-8")
    return fold(";".join((name, *params)) + ":" + value)


def card(unit: Unit, names: Mapping[str, str], ancestors: Sequence[str]) -> str:
    """The vCard of one unit; ``names`` maps unit ids to names, ``ancestors`` from the unit up."""
    org = ";".join(escape(names[unit_id]) for unit_id in reversed(ancestors))
    lines = [
        "BEGIN:VCARD\r\n",
        "VERSION:3.0\r\n",
        _property("UID", escape(unit.id)),
        _property("FN", escape(unit.name)),
        _property("N", escape(unit.name) + ";;;;"),
        _property("ORG", org),
    ]
    if unit.short_name:
        lines.append(_property("NICKNAME", escape(unit.short_name)))
    lines.append(_property("EMAIL", unit.address.addr_spec, "TYPE=INTERNET,PREF"))
    lines.extend(_property("EMAIL", alias.addr_spec, "TYPE=INTERNET") for alias in unit.aliases)
    if unit.phone:
        lines.append(_property("TEL", escape(unit.phone), "TYPE=WORK,VOICE"))
    if unit.website:
        lines.append(_property("URL", unit.website))
    if unit.kind:
        lines.append(_property("CATEGORIES", escape(unit.kind)))
    if unit.name_en:
        lines.append(_property("NOTE", escape(unit.name_en)))
    if unit.certificate:
        der = x509.load_pem_x509_certificate(unit.certificate.encode("ascii")).public_bytes(
            Encoding.DER)
        lines.append(_property("KEY", base64.b64encode(der).decode("ascii"),
                               "ENCODING=b", "TYPE=X509"))
    lines.append("END:VCARD\r\n")
    return "".join(lines)
