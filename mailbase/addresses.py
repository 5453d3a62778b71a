"""Mail addresses: the value type, and the strict parser for one address.

Every package asks "what is this address" here; "who is this message from" is
:mod:`mailbase.sender`'s one reader, so a message cannot mean one sender to the policy
engine and another to the DKIM signer (the "Composition Kills" attack class, USENIX
Security 2020).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.errors import HeaderParseError
from email.policy import default as _default_policy

# RFC 5321 section 4.5.3.1: 64 octets of local part, 255 of domain.
_MAX_LOCAL = 64
_MAX_DOMAIN = 255


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
    domain = domain.strip().rstrip(".").lower()
    if not domain:
        raise AddressError(original, "no domain")
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError as exc:
        raise AddressError(original, f"domain is not a valid IDN: {exc}") from exc
    if len(ascii_domain) > _MAX_DOMAIN or any(
        not label or len(label) > 63 for label in ascii_domain.split(".")
    ):
        raise AddressError(original, "domain labels are empty or too long")
    return ascii_domain


def parse_address(text: str) -> Address:
    """Parse one address (bare or with a display name) strictly.

    :raises AddressError: anything but exactly one well-formed address.
    """
    try:
        header = _default_policy.header_factory("To", text)
    except (HeaderParseError, IndexError, ValueError, AttributeError, TypeError) as exc:
        # The stdlib parser raises on some inputs ("a@", ".:") instead of recording a
        # defect.
        raise AddressError(text, f"cannot be parsed: {exc}") from exc
    addresses = header.addresses
    if header.defects:
        raise AddressError(text, str(header.defects[0]))
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
