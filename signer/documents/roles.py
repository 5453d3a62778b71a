"""Whose signature: a directory unit's (organisation), an official's (person) or unknown.

Under Decree 30/2020 an issued document carries the competent official's signature and
then the organisation's, applied by its clerk. The directory says which certificates
are an organisation's: one whose subject emailAddress or rfc822Name is the address or an
alias of a unit (inactive units included: an old document keeps its seal), or whose
SHA-256 fingerprint the unit's ``document_certificates`` lists. A certificate that only
looks like a unit's (its common name is a unit's name or short name) or whose address
is outside the province's domains is unknown, never a person; so is a document
timestamp. Any other valid signature is a person's. signer/ does not import directory/:
the directory comes in as a `UnitDirectory` (the directory's index is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from signer.documents.result import DocumentResult, DocumentSignature


class UnitAddress(Protocol):
    """An address of a unit as the directory holds it."""

    @property
    def key(self) -> str:
        """The address case-folded, as the directory's lookups take it."""
        ...


class UnitEntry(Protocol):
    """What roles read of one directory unit."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def short_name(self) -> str: ...
    @property
    def addresses(self) -> tuple[UnitAddress, ...]: ...
    @property
    def document_certificates(self) -> tuple[str, ...]: ...


class UnitDirectory(Protocol):
    """The directory as roles read it (`directory.DirectoryIndex` is one)."""

    @property
    def revision(self) -> int:
        """Changes whenever the units change (roles rebuild their tables then)."""
        ...

    def units(self) -> Sequence[UnitEntry]:
        """Every unit, inactive ones included."""
        ...

    def unit_id(self, address: str) -> str | None:
        """The unit an address belongs to (a unit's own or an official's mailbox)."""
        ...

    def is_own_domain(self, domain: str) -> bool:
        """Whether the domain is one of the province's."""
        ...


@dataclass(frozen=True, slots=True)
class _Tables:
    revision: int
    addresses: dict[str, str]  # case-folded address -> unit id
    fingerprints: dict[str, str]  # SHA-256 hex -> unit id
    names: frozenset[str]  # units' names and short names, case-folded


class Roles:
    """Gives each valid signature of a result its role and unit from the directory.

    The directory's tables are rebuilt only when its revision changes, so a message
    pays a few dictionary lookups per signature.
    """

    def __init__(self, directory: UnitDirectory) -> None:
        self.directory = directory
        self._tables: _Tables | None = None

    def _current(self) -> _Tables:
        revision = self.directory.revision
        if self._tables is None or self._tables.revision != revision:
            units = self.directory.units()
            self._tables = _Tables(
                revision=revision,
                addresses={a.key: u.id for u in units for a in u.addresses},
                fingerprints={f: u.id for u in units for f in u.document_certificates},
                names=frozenset(n.casefold() for u in units
                                for n in (u.name, u.short_name) if n))
        return self._tables

    def assign(self, result: DocumentResult) -> DocumentResult:
        """``result`` with each signature's ``role`` and ``unit`` set."""
        if not result.signatures:
            return result
        tables = self._current()
        return replace(result, signatures=tuple(
            self._one(s, tables) for s in result.signatures))

    def _one(self, signature: DocumentSignature, tables: _Tables) -> DocumentSignature:
        if not signature.is_valid:
            return replace(signature, role="unknown", unit=None)
        addresses = [a.casefold() for a in signature.emails]
        for address in addresses:
            if address in tables.addresses:
                return replace(signature, role="organisation", unit=tables.addresses[address])
        if signature.fingerprint in tables.fingerprints:
            return replace(signature, role="organisation",
                           unit=tables.fingerprints[signature.fingerprint])
        if (signature.signer or "").casefold() in tables.names or any(
                not self.directory.is_own_domain(a.rpartition("@")[2]) for a in addresses):
            return replace(signature, role="unknown", unit=None)
        unit = next((u for a in addresses if (u := self.directory.unit_id(a))), None)
        return replace(signature, role="person", unit=unit)
