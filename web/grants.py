"""What an auditor's grant names: a unit of the directory, by its id or by its address.

A grant is stored as a unit id, which every read of the log matches against the
units of each record. A grant of anything else (an address, a misspelt id, a unit
removed since) would match nothing and show the auditor an empty log without a
word, so a new grant is resolved here first, and the grants already stored are
checked against the directory when they are listed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from directory import (
    Directory,
    InvalidAddress,
    StoreError,
    Unit,
    UnknownUnit,
    parse_official_address,
)
from mailbase import Reason, fold
from web import refusals
from web.errors import UserError
from web.settings import WebSettings


@dataclass(frozen=True, slots=True)
class GrantedUnit:
    """The unit a grant names, and the address it was named by (None: by its id)."""

    unit_id: str
    address: str | None = None


def unit_to_grant(settings: WebSettings, key: str) -> GrantedUnit:
    """The unit a grant of ``key`` means: the unit with this id, or the unit whose
    official address (or alias) ``key`` is.

    :raises UserError: no unit has this id or address; the message names the unit id
        to grant when the directory knows one (an official's own mailbox, a unit's
        name, a near id).
    """
    key = key.strip()
    if not key:
        raise UserError(refusals.UNIT_EMPTY())
    try:
        with Directory.open(settings.directory_store, read_only=True) as directory:
            if "@" in key:
                return _by_address(directory, key)
            try:
                return GrantedUnit(directory.get(key).id)
            except UnknownUnit:
                near = _suggest(directory.units(), key)
                raise UserError(refusals.NO_UNIT_NEAR(unit=key, units=", ".join(near))
                                if near else refusals.NO_UNIT(unit=key)) from None
    except StoreError as exc:
        raise UserError(refusals.UNIT_UNCHECKED(unit=key, problem=_unreadable(exc))
                        ) from None


def _unreadable(exc: StoreError) -> Reason:
    """Why the directory's store cannot be read, in its own code (directory/problems.py)."""
    return refusals.DIRECTORY_STORE(path=exc.path, problem=exc.problem)


def _by_address(directory: Directory, address: str) -> GrantedUnit:
    unit_id = directory.unit_id_for(address)
    if unit_id is not None:
        return GrantedUnit(unit_id, address)
    try:
        parsed = parse_official_address(address)
    except InvalidAddress as exc:
        raise UserError(refusals.NOT_AN_ADDRESS(key=address, detail=exc.reason)) from None
    for mailbox in directory.mailboxes():
        if mailbox.address.key == parsed.key:
            raise UserError(refusals.OFFICIALS_MAILBOX(
                address=address, full_name=mailbox.full_name, unit=mailbox.unit_id))
    domain = [u for u in directory.units()
              if any(a.domain == parsed.domain for a in u.addresses)]
    raise UserError(refusals.NO_UNIT_AT_DOMAIN(
        address=address, domain=parsed.domain, units=", ".join(u.id for u in domain[:5]))
        if domain else refusals.NO_UNIT_AT(address=address))


def _suggest(units: Sequence[Unit], key: str) -> list[str]:
    """The ids of the units whose name is ``key`` or whose id is near it."""
    folded = fold(key)
    named = [u.id for u in units if folded in (fold(u.name), fold(u.short_name))]
    near = difflib.get_close_matches(key, [u.id for u in units], n=3, cutoff=0.75)
    return list(dict.fromkeys([*named, *near]))


def stale_grants(settings: WebSettings, granted: Iterable[str]) -> frozenset[str]:
    """Those of ``granted`` that match no unit of the directory (every one when there
    is no directory yet).

    :raises UserError: the directory cannot be read.
    """
    if not settings.has_directory():
        return frozenset(granted)
    try:
        with Directory.open(settings.directory_store, read_only=True) as directory:
            known = {unit.id for unit in directory.units()}
    except StoreError as exc:
        raise UserError(refusals.GRANTS_UNCHECKED(problem=_unreadable(exc))) from None
    return frozenset(unit for unit in granted if unit not in known)
