"""LDIF (RFC 2849) for an LDAP address book.

Units are flat under one container (``ou=units`` below the base DN), because
address-book clients search one base; each entry is an ``inetOrgPerson`` (the
class Thunderbird and Outlook read ``mail`` and ``cn`` from), with the parent's
name in ``ou``, the province's in ``o`` and the S/MIME certificate in
``userCertificate;binary``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from directory.model import Unit

_WIDTH = 76


def _is_safe(value: str) -> bool:
    # RFC 2849 SAFE-STRING: ASCII without NUL, CR, LF; not starting with space,
    # ':' or '<'; and (RFC 2849 note 8) not ending with a space.
    return (value.isascii() and not any(c in value for c in "\0\r\n")
            and not value.startswith((" ", ":", "<")) and not value.endswith(" "))


def _line(attribute: str, value: str | bytes) -> str:
    if isinstance(value, str) and _is_safe(value):
        text = f"{attribute}: {value}"
    else:
        raw = value.encode("utf-8") if isinstance(value, str) else value
        text = f"{attribute}:: {base64.b64encode(raw).decode('ascii')}"
    folded = [text[:_WIDTH]]
    folded.extend(" " + text[i:i + _WIDTH - 1] for i in range(_WIDTH, len(text), _WIDTH - 1))
    return "\n".join(folded) + "\n"


def base_dn_for(domain: str) -> str:
    """The DN ``dc=...`` form of a domain (``laocai.gov.vn`` -> ``dc=laocai,dc=gov,dc=vn``)."""
    return ",".join(f"dc={label}" for label in domain.split("."))


def _escape_dn(value: str) -> str:
    # RFC 4514 section 2.4; our ids are slugs, so this rarely matters.
    escaped = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    return ("\\" + escaped) if escaped.startswith(("#", " ")) else escaped


def entries(
    units: Iterable[Unit], names: Mapping[str, str],
    ancestors: Mapping[str, Sequence[str]], base_dn: str,
) -> str:
    """The LDIF text: the ``ou=units`` container, then one entry per unit."""
    container = f"ou=units,{base_dn}"
    blocks = ["version: 1\n" + _line("dn", container) + "objectClass: top\n"
              "objectClass: organizationalUnit\nou: units\n"]
    for unit in units:
        chain = ancestors[unit.id]
        lines = [
            _line("dn", f"uid={_escape_dn(unit.id)},{container}"),
            "objectClass: top\nobjectClass: person\nobjectClass: organizationalPerson\n"
            "objectClass: inetOrgPerson\n",
            _line("uid", unit.id), _line("cn", unit.name),
            _line("sn", unit.short_name or unit.name), _line("displayName", unit.name),
            _line("o", names[chain[-1]]),
        ]
        if len(chain) > 1:
            lines.append(_line("ou", names[chain[1]]))
        lines.extend(_line("mail", address.addr_spec) for address in unit.addresses)
        if unit.phone:
            lines.append(_line("telephoneNumber", unit.phone))
        if unit.website:
            lines.append(_line("labeledURI", unit.website))
        if unit.kind:
            lines.append(_line("businessCategory", unit.kind))
        if unit.name_en:
            lines.append(_line("description", unit.name_en))
        if unit.certificate:
            der = x509.load_pem_x509_certificate(unit.certificate.encode("ascii"))
            lines.append(_line("userCertificate;binary", der.public_bytes(Encoding.DER)))
        blocks.append("".join(lines))
    return "\n".join(blocks)
