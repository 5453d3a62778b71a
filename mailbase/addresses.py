"""Mail addresses: the value type, and the strict parser for one address.

Every package asks "what is this address" here; "who is this message from" is
:mod:`mailbase.sender`'s one reader, so a message cannot mean one sender to the policy
engine and another to the DKIM signer (the "Composition Kills" attack class, USENIX
Security 2020).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address as StdlibAddress
from email.headerregistry import AddressHeader
from email.policy import default as _default_policy

import idna

# RFC 5321 section 4.5.3.1: 64 octets of local part, 255 of domain; RFC 1035: 63 of label.
_MAX_LOCAL = 64
_MAX_DOMAIN = 255
_MAX_LABEL = 63
# RFC 1123 section 2.1: a host name label is letters, digits and hyphens, not at either end
_LDH = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


class AddressError(ValueError):
    """An address that cannot be parsed; ``value`` holds what was given."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"invalid address {value!r}: {reason}")
        self.value = value
        self.reason = reason


class FromHeaderError(ValueError):
    """A From header that does not name exactly one sender."""

    def __init__(self, reason: str, *, count: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.count = count


@dataclass(frozen=True, slots=True)
class Address:
    """A normalised address: local part as written, domain lower-case ASCII (IDNA)."""

    local: str
    domain: str
    display_name: str = ""

    @property
    def addr_spec(self) -> str:
        """The bare ``local@domain`` form."""
        return f"{self.local}@{self.domain}"

    def __str__(self) -> str:
        return self.addr_spec


def _ascii_domain(domain: str, original: str) -> str:
    """The domain's ASCII form (lower case, IDN labels encoded), checked as a host name."""
    domain = domain.strip().rstrip(".").lower()
    if not domain:
        raise AddressError(original, "no domain")
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise AddressError(original, f"domain is not a valid IDN: {exc}") from exc
    if len(ascii_domain) > _MAX_DOMAIN:
        raise AddressError(original, f"domain longer than {_MAX_DOMAIN} octets")
    for label in ascii_domain.split("."):
        if not label or len(label) > _MAX_LABEL:
            raise AddressError(original, f"domain label {label!r} is empty or longer than "
                                         f"{_MAX_LABEL} octets")
        if not _LDH.fullmatch(label):
            raise AddressError(original, f"domain label {label!r} is not letters, digits and "
                                         "inner hyphens")
        if label.startswith("xn--"):
            # an A-label written as such: the From reader refuses one that decodes to
            # nothing valid, and so must the directory
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise AddressError(original, f"domain label {label!r} is not a valid IDN "
                                             f"A-label: {exc}") from exc
    return ascii_domain


def stdlib_addresses(name: str, text: str) -> tuple[tuple[StdlibAddress, ...], list[str]]:
    """The standard library's lenient reading of an address header, fenced: the
    addresses it finds and the defects it records.

    Its parser raises on some inputs instead of recording a defect ("a@" IndexError,
    ".:" and "a:;b" AttributeError, others TypeError or ValueError), and which
    exceptions it raises is documented nowhere and changes between Python releases.
    A reading that escapes here as anything but :class:`AddressError` would reach a
    stage that catches only our errors, and the message would be answered 451 forever.

    :raises AddressError: the parser failed, whatever it raised.
    """
    try:
        header = _default_policy.header_factory(name, text)
    except Exception as exc:  # any: see the docstring
        raise AddressError(text, f"cannot be parsed: {type(exc).__name__}: {exc}") from exc
    defects = [str(defect) for defect in header.defects]
    if not isinstance(header, AddressHeader):
        raise AddressError(text, f"{name} is not an address header")
    return header.addresses, defects


def parse_address(text: str) -> Address:
    """Parse one address (bare or with a display name) strictly.

    :raises AddressError: anything but exactly one well-formed address.
    """
    addresses, defects = stdlib_addresses("To", text)
    if defects:
        raise AddressError(text, defects[0])
    if len(addresses) != 1:
        raise AddressError(text, f"expected one address, found {len(addresses)}")
    found = addresses[0]
    if not found.username:
        raise AddressError(text, "no local part")
    if len(found.username.encode("utf-8")) > _MAX_LOCAL:
        raise AddressError(text, "local part longer than 64 octets")
    return Address(
        local=found.username,
        domain=_ascii_domain(found.domain, text),
        display_name=found.display_name,
    )
