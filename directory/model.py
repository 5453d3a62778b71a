"""The unit and its official addresses, as the rest of directory/ passes them around.

These are frozen dataclasses: they are built once, from a validated CSV row or
from the store, and never change. Pydantic lives only at the edges
(:mod:`directory.rows` for CSV, :mod:`directory.published` for JSON).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email

from directory.problems import NOT_AN_ORGAN_ID, Problem


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """An official address, normalised once: the domain lower-case ASCII (IDNA).

    ``local`` keeps the case it was written in (for display); :attr:`key` is the
    form lookups and uniqueness use, lower-case throughout, because Postfix's
    lookup tables fold case too and two addresses that Postfix cannot tell apart
    must not belong to two units.
    """

    local: str
    domain: str

    @property
    def addr_spec(self) -> str:
        """The bare ``local@domain`` form, with the ASCII (IDNA) domain."""
        return f"{self.local}@{self.domain}"

    @property
    def key(self) -> str:
        """The case-folded ``local@domain`` used for lookups and uniqueness."""
        return f"{self.local.lower()}@{self.domain}"

    @property
    def unicode_domain(self) -> str:
        """The domain as people read it (``xn--`` labels decoded)."""
        try:
            return self.domain.encode("ascii").decode("idna")
        except UnicodeError:
            return self.domain

    def __str__(self) -> str:
        return self.addr_spec


class InvalidAddress(ValueError):
    """An address or domain that is not valid; ``value`` is what was given."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason


def parse_official_address(text: str) -> Address:
    """Check an official address's syntax (no DNS lookups) and normalise it.

    Internationalised domains are accepted and stored in their ASCII (IDNA) form.

    :raises InvalidAddress: the syntax is wrong; the reason says how.
    """
    value = text.strip()
    try:
        # test_environment admits the .test names RFC 6761 reserves for testing (the
        # try-out province of `congvu example load` lives there); localhost, .local,
        # .invalid, .onion and .arpa stay refused.
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=True,
                                 test_environment=True)
    except EmailNotValidError as exc:
        raise InvalidAddress(text, str(exc)) from exc
    return Address(local=checked.local_part, domain=checked.ascii_domain.lower())


def parse_domain(text: str) -> str:
    """Check a domain name's syntax (no DNS lookups); return it lower-case ASCII (IDNA).

    :raises InvalidAddress: the domain is not valid.
    """
    value = text.strip().rstrip(".")
    if "@" in value:
        raise InvalidAddress(text, "a domain name has no '@'")
    # email-validator's domain rules (IDNA 2008, labels, a dot, no special-use
    # names) are the ones addresses follow, so a DKIM domain is checked the same way.
    try:
        return parse_official_address(f"postmaster@{value}").domain
    except InvalidAddress as exc:
        reason = exc.reason.replace("The part after the @-sign", "The domain")
        raise InvalidAddress(text, reason) from None


#: what an agency's electronic identifier code is made of: four groups of upper-case
#: letters and digits, from the lowest level to the highest (``000.00.00.H41``)
_ORGAN_GROUPS = (3, 2, 2, 3)
_ORGAN_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_organ_id(text: str) -> str:
    """Check an agency's electronic identifier code and return it in upper case.

    The code the national document exchange names agencies by (edXML's ``OrganId``,
    QCVN 102:2016, at most 13 characters) is four dot-separated groups of 3, 2, 2 and
    3 letters or digits, the lowest level first: the last group names the level-1
    agency (a ministry, a province: ``H41``) and starts with a letter, and the groups
    to its left name the levels below it, zeros where there is none
    (``000.00.00.H41`` is the level-1 agency itself). Case is folded because the
    exchange compares codes exactly and writes them in upper case.

    :raises ValueError: anything else; the message shows the form.
    """
    value = text.strip().upper()
    groups = value.split(".")
    if (len(groups) != len(_ORGAN_GROUPS)
            or any(len(g) != n for g, n in zip(groups, _ORGAN_GROUPS, strict=True))
            or not set(value.replace(".", "")) <= _ORGAN_CHARS
            or not groups[-1][0].isalpha()):
        raise Problem(NOT_AN_ORGAN_ID(value=text))
    return value


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of the province (sở, ban, ngành, district, commune) and its addresses.

    ``parent`` is the id of the unit above it (``None`` for the root). ``successor``
    names the unit that took over a merged or renamed one: its old addresses
    forward there. ``senders`` are the mail logins allowed to send as the unit.
    """

    id: str
    name: str
    address: Address
    parent: str | None = None
    aliases: tuple[Address, ...] = ()
    short_name: str = ""
    name_en: str = ""
    kind: str = ""
    dkim_domain: str = ""
    certificate: str = ""
    phone: str = ""
    website: str = ""
    senders: tuple[str, ...] = ()
    is_active: bool = True
    valid_from: date | None = None
    valid_until: date | None = None
    successor: str | None = None
    #: SHA-256 fingerprints (lowercase hex) of certificates that sign documents as the unit
    document_certificates: tuple[str, ...] = ()
    #: the unit's electronic identifier code in the national document exchange (the
    #: edXML ``OrganId``, :func:`parse_organ_id`); None: not given
    organ_id: str | None = None

    @property
    def addresses(self) -> tuple[Address, ...]:
        """The primary address first, then the aliases."""
        return (self.address, *self.aliases)

    def in_service(self, today: date) -> bool:
        """Whether the unit works on its own on ``today`` (the province's date): marked
        active and not past ``valid_until``, its last day. An end date takes effect by
        itself, without an administrator marking the unit inactive."""
        return self.is_active and (self.valid_until is None or today <= self.valid_until)


def ancestry(units: Mapping[str, Unit]) -> dict[str, tuple[str, ...]]:
    """For each unit, its id and then its parents' ids up to the root."""
    found: dict[str, tuple[str, ...]] = {}
    for unit_id in units:
        chain = [unit_id]
        parent = units[unit_id].parent
        # The store's tree has no cycles (imports refuse them); the bound is a guard.
        while parent is not None and parent in units and len(chain) <= len(units):
            if parent in found:
                chain.extend(found[parent])
                break
            chain.append(parent)
            parent = units[parent].parent
        found[unit_id] = tuple(chain)
    return found


def successor_in_service(unit: Unit, units: Mapping[str, Unit], today: date) -> Unit | None:
    """The unit that carries on for ``unit`` on ``today``: its successor, or that one's
    successor for a unit merged twice, the first in service; None when none is."""
    seen = {unit.id}
    current = unit
    # imports refuse cycles of successors (directory/checks.py); ``seen`` is a guard
    while current.successor and current.successor in units and current.successor not in seen:
        current = units[current.successor]
        seen.add(current.id)
        if current.in_service(today):
            return current
    return None


def tree_order(units: Sequence[Unit]) -> list[Unit]:
    """The units depth-first from the roots, children in their given order."""
    known = {unit.id for unit in units}
    children: dict[str | None, list[Unit]] = defaultdict(list)
    for unit in units:
        children[unit.parent if unit.parent in known else None].append(unit)
    ordered: list[Unit] = []
    stack = list(reversed(children[None]))
    while stack:
        unit = stack.pop()
        ordered.append(unit)
        stack.extend(reversed(children.get(unit.id, [])))
    return ordered


@dataclass(frozen=True, slots=True)
class Mailbox:
    """An official's own mailbox on the roster, and the unit the official works in.

    The roster is private: it feeds the filter's index and Postfix's maps, never the
    published address books. ``position`` is the official's job title.
    """

    address: Address
    full_name: str
    unit_id: str
    position: str = ""
    is_active: bool = True
    created: date | None = None
    #: when the official last logged in (UTC), as the mail server last said; None:
    #: never said
    last_login: datetime | None = None
