"""The in-memory index the filter asks for every message: whose address is this?

:class:`DirectoryIndex` answers address → unit id (aliases, ``user+tag``
plus-addressing, any case), unit → DKIM domain, certificate and ancestors, and
"is this one of the province's own domains", from dictionaries built out of the
store. :meth:`DirectoryIndex.refresh` rebuilds them only when the store changed
(SQLite's ``data_version``, then the history's revision), so an import shows up in
a running service without a restart, and an unchanged store costs one PRAGMA.
Whether a unit is still in service is asked with the date of the question, so a
unit's ``valid_until`` ends it on the day after, with no import and no rebuild.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import idna

from directory.config import DirectoryConfig
from directory.errors import UnknownUnit
from directory.mailboxes import load_mailboxes
from directory.model import Mailbox, Unit, ancestry, parse_domain, successor_in_service
from directory.store import Directory
from mailbase import zone


@dataclass(frozen=True, slots=True)
class _Snapshot:
    revision: int
    addresses: dict[str, str]
    units: dict[str, Unit]
    mailboxes: dict[str, Mailbox]
    ancestors: dict[str, tuple[str, ...]]
    domains: frozenset[str]


@lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str | None:
    domain = domain.rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def _today(today: date | None) -> date:
    return today if today is not None else datetime.now(zone()).date()


class DirectoryIndex:
    """Fast lookups over a snapshot of the directory, refreshed when the store changes.

    Lookups never touch SQLite; the snapshot is replaced as a whole by
    :meth:`refresh`, so a reader sees either the old directory or the new one.
    Lookups and :meth:`refresh` are safe from any thread.
    """

    def __init__(self, directory: Directory, *, domains: Iterable[str] = ()) -> None:
        self._directory = directory
        self._extra_domains = frozenset(parse_domain(domain) for domain in domains)
        # refresh() may be called from several threads; lookups need no lock
        self._lock = threading.Lock()
        self._data_version = directory.data_version()
        self._snapshot = self._build()

    @classmethod
    def open(cls, path: Path | str | DirectoryConfig, *,
             domains: Iterable[str] = ()) -> DirectoryIndex:
        """Open the store at ``path`` (or the one a ``[directory]`` table names, as
        :meth:`Directory.open` does) and index it; ``domains`` adds own domains.

        :raises StoreError: the store cannot be opened.
        :raises InvalidAddress: a domain in ``domains`` is not valid.
        """
        return cls(Directory.open(path), domains=domains)

    def close(self) -> None:
        """Close the store underneath (the last snapshot stays readable)."""
        self._directory.close()

    def _build(self) -> _Snapshot:
        with self._directory.db.atomic():
            revision = self._directory.revision()
            units = {unit.id: unit for unit in self._directory.units()}
            mailboxes = {
                mailbox.address.key: mailbox for mailbox in load_mailboxes(self._directory.db)
                if mailbox.is_active and mailbox.unit_id in units
            }
        # One dictionary for units' addresses and the roster's active mailboxes, so a
        # lookup costs what it did before the roster; a unit's address wins (imports
        # keep the two apart anyway).
        addresses = {key: mailbox.unit_id for key, mailbox in mailboxes.items()}
        addresses.update(
            (address.key, unit.id) for unit in units.values() for address in unit.addresses
        )
        # an ended unit's addresses keep receiving (forwarded to its successor), so
        # its domain stays the province's own: forging it is still refused
        domains = {
            address.domain for unit in units.values()
            if unit.is_active or unit.successor is not None
            for address in unit.addresses
        }
        return _Snapshot(
            revision=revision, addresses=addresses, units=units, mailboxes=mailboxes,
            ancestors=ancestry(units), domains=frozenset(domains | self._extra_domains),
        )

    def refresh(self) -> bool:
        """Rebuild the index if the store changed since the last build; say whether it did.

        :raises StoreError: the store cannot be read (the old snapshot stays).
        """
        with self._lock:
            version = self._directory.data_version()
            if version == self._data_version:
                return False
            self._data_version = version
            if self._directory.revision() == self._snapshot.revision:
                return False
            self._snapshot = self._build()
            return True

    @property
    def revision(self) -> int:
        """The store revision this snapshot was built from."""
        return self._snapshot.revision

    def __len__(self) -> int:
        return len(self._snapshot.units)

    def unit_id(self, address: str) -> str | None:
        """The id of the unit owning ``address``, or of the unit an active roster
        mailbox belongs to, or None.

        Domains match in any case and in Unicode or ASCII (IDNA) form; local parts
        in any case (as Postfix's tables do); ``user+tag@domain`` falls back to
        ``user@domain`` when the tagged address is not itself listed. Addresses of
        inactive units resolve too: check :attr:`Unit.is_active`.
        """
        local, at, domain = address.rpartition("@")
        if not at or not local:
            return None
        addresses = self._snapshot.addresses
        if not domain.isascii() or domain.endswith("."):
            ascii_domain = _ascii_domain(domain)
            if ascii_domain is None:
                return None
            domain = ascii_domain
        local = local.lower()
        domain = domain.lower()
        found = addresses.get(f"{local}@{domain}")
        if found is None and "+" in local:
            found = addresses.get(f"{local.split('+', 1)[0]}@{domain}")
        return found

    def mailbox(self, address: str) -> Mailbox | None:
        """The active roster mailbox ``address`` names (any case, Unicode or ASCII
        domain, ``user+tag``), or None: for a unit's own address too."""
        unit_id = self.unit_id(address)
        if unit_id is None:
            return None
        local, _, domain = address.rpartition("@")
        domain = _ascii_domain(domain) or ""
        mailboxes = self._snapshot.mailboxes
        found = mailboxes.get(f"{local.lower()}@{domain}")
        if found is None and "+" in local:
            found = mailboxes.get(f"{local.split('+', 1)[0].lower()}@{domain}")
        return found if found is not None and found.unit_id == unit_id else None

    def unit(self, unit_id: str) -> Unit:
        """The unit with this id.

        :raises UnknownUnit: no such unit.
        """
        try:
            return self._snapshot.units[unit_id]
        except KeyError:
            raise UnknownUnit(unit_id) from None

    def units(self) -> list[Unit]:
        """Every unit of the snapshot, inactive ones included."""
        return list(self._snapshot.units.values())

    def unit_for(self, address: str) -> Unit | None:
        """The unit owning ``address`` (as :meth:`unit_id` finds it), or None."""
        unit_id = self.unit_id(address)
        return None if unit_id is None else self._snapshot.units[unit_id]

    def ancestors(self, unit_id: str) -> tuple[str, ...]:
        """The unit's id first, then its parent's, up to the root.

        :raises UnknownUnit: no such unit.
        """
        try:
            return self._snapshot.ancestors[unit_id]
        except KeyError:
            raise UnknownUnit(unit_id) from None

    def dkim_domain(self, unit_id: str) -> str:
        """The domain the unit's mail is DKIM-signed for ('' when none is set).

        :raises UnknownUnit: no such unit.
        """
        return self.unit(unit_id).dkim_domain

    def certificate(self, unit_id: str) -> str:
        """The unit's S/MIME certificate as PEM ('' when none is set).

        :raises UnknownUnit: no such unit.
        """
        return self.unit(unit_id).certificate

    def in_service(self, unit_id: str, today: date | None = None) -> bool:
        """Whether the unit works on its own on ``today`` (default: the province's
        date now): active and not past its ``valid_until``.

        :raises UnknownUnit: no such unit.
        """
        return self.unit(unit_id).in_service(_today(today))

    def successor(self, unit_id: str, today: date | None = None) -> Unit | None:
        """For a unit ended on ``today`` (default: the province's date now), the unit
        in service that carries on for it (a successor's successor for a unit merged
        twice); None for a unit in service or one without such a successor.

        :raises UnknownUnit: no such unit.
        """
        unit = self.unit(unit_id)
        on = _today(today)
        if unit.in_service(on):
            return None
        return successor_in_service(unit, self._snapshot.units, on)

    @property
    def domains(self) -> frozenset[str]:
        """The province's own domains (ASCII): those of active units' addresses and of
        ended units that forward to a successor, plus the ones given to the index."""
        return self._snapshot.domains

    def is_own_domain(self, domain: str) -> bool:
        """Whether ``domain`` (any case, Unicode or ASCII) is one of the province's."""
        ascii_domain = _ascii_domain(domain)
        return ascii_domain is not None and ascii_domain in self._snapshot.domains

