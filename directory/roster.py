"""The roster's edge: reading a file of officials' mailboxes into checked rows.

Three formats: the roster's CSV layout (directory/README.md), the output of
``doveadm user '*'`` (one address a line, units from ``--unit`` or a map file) and
LDIF from the province's LDAP (``mail``, ``cn``, ``title``, the unit from ``ou``).
Each row is checked on its own here; what needs the store (units, addresses of
units, the rest of the roster) is checked in :mod:`directory.mailboxes`. Problems
are collected, never raised one at a time, so every bad line is reported at once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from directory import problems
from directory.errors import ImportRejected, ImportRowError
from directory.ldif_reader import read_ldif
from directory.model import Address, Mailbox, Unit
from directory.rows import csv_lines, iso_date, yes_no
from mailbase import AddressError, PeriodError, parse_address, parse_local_datetime

REQUIRED_COLUMNS = ("address", "full_name", "unit")
#: Every column of the roster's CSV layout, in the order exports write them.
COLUMNS = (*REQUIRED_COLUMNS, "position", "active", "created", "last_login")
#: How far ahead of this server's clock a last login may be (a clock or zone slip).
_LOGIN_SLACK = timedelta(days=1)


class RosterFormat(StrEnum):
    """The formats ``directory mailboxes import`` reads."""

    CSV = "csv"
    DOVEADM = "doveadm"
    LDIF = "ldif"


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One mailbox the file lists, with its line and the fields the file carries.

    Fields not in ``carried`` (a doveadm listing has no names) keep the values the
    store has for the mailbox.
    """

    line: int
    mailbox: Mailbox
    carried: frozenset[str]


@dataclass(slots=True)
class RosterFile:
    """What a roster file held: the good rows, the problems, every address named."""

    rows: list[RosterRow] = field(default_factory=list)
    errors: list[ImportRowError] = field(default_factory=list)
    #: The key of every address the file names, good row or bad (a bad row still
    #: names its mailbox, which --partial must then not make inactive).
    keys: set[str] = field(default_factory=set)


def parse_mailbox_address(text: str) -> Address:
    """A roster address, bare, its domain in ASCII (IDNA), as mailbase parses it.

    :raises ValueError: not one bare address; the message says why.
    """
    value = text.strip()
    if not value:
        raise problems.Problem(problems.MAILBOX_EMPTY())
    try:
        parsed = parse_address(value)
    except AddressError as exc:
        raise problems.Problem(problems.ADDRESS_INVALID(value=value, detail=exc.reason)
                               ) from None
    if parsed.display_name or "<" in value:
        raise problems.Problem(problems.MAILBOX_NOT_BARE(value=value))
    return Address(parsed.local, parsed.domain)


def parse_last_login(value: str, *, now: datetime | None = None) -> datetime | None:
    """A ``last_login`` cell as UTC: an ISO 8601 date or date-time (without an offset
    in Vietnam's time, a date at its midnight) or Unix seconds (what Dovecot's
    last_login plugin stores); empty is None.

    :raises ValueError: none of those forms, or a time after now.
    """
    text = value.strip()
    if not text:
        return None
    try:
        # eight digits are a basic ISO date (20260331), more are Unix seconds
        found = (datetime.fromtimestamp(int(text), UTC) if text.isdigit() and len(text) > 8
                 else parse_local_datetime(text))
    except (PeriodError, ValueError, OverflowError, OSError):
        raise problems.Problem(problems.NOT_A_TIME(value=text)) from None
    if found > (now or datetime.now(UTC)) + _LOGIN_SLACK:
        raise problems.Problem(problems.IN_THE_FUTURE(value=text))
    return found


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value.strip())


def _csv_row(line: int, cells: dict[str, str], found: RosterFile) -> None:
    errors: list[ImportRowError] = []
    address: Address | None = None
    try:
        address = parse_mailbox_address(cells["address"])
        found.keys.add(address.key)
    except ValueError as exc:
        errors.append(ImportRowError(line, "address", problems.problem_of(exc),
                                     value=cells["address"]))
    full_name, unit = _nfc(cells["full_name"]), cells["unit"].strip()
    if not full_name:
        errors.append(ImportRowError(line, "full_name", problems.FULL_NAME_EMPTY()))
    if not unit:
        errors.append(ImportRowError(line, "unit", problems.UNIT_EMPTY()))
    active, created, last_login = True, None, None
    try:
        active = yes_no(cells.get("active", ""))
    except ValueError as exc:
        errors.append(ImportRowError(line, "active", problems.problem_of(exc),
                                     value=cells["active"]))
    try:
        created = iso_date(cells.get("created", ""))
    except ValueError as exc:
        errors.append(ImportRowError(line, "created", problems.problem_of(exc),
                                     value=cells["created"]))
    try:
        last_login = parse_last_login(cells.get("last_login", ""))
    except ValueError as exc:
        errors.append(ImportRowError(line, "last_login", problems.problem_of(exc),
                                     value=cells["last_login"]))
    if errors or address is None:
        found.errors.extend(errors)
        return
    carried = frozenset({"full_name", "unit", "active"}
                        | (cells.keys() & {"position", "created", "last_login"}))
    found.rows.append(RosterRow(line, Mailbox(
        address=address, full_name=full_name, unit_id=unit,
        position=_nfc(cells.get("position", "")), is_active=active, created=created,
        last_login=last_login,
    ), carried))


def _table(text: str, source: str, required: tuple[str, ...], known: tuple[str, ...],
           errors: list[ImportRowError]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV file as dicts by column, with their line numbers."""
    columns, lines = csv_lines(text, source, required, known)
    rows = []
    for line, cells in lines:
        if len(cells) != len(columns):
            errors.append(ImportRowError(
                line, None, problems.CELL_COUNT(cells=len(cells), columns=len(columns))))
            continue
        rows.append((line, dict(zip(columns, cells, strict=True))))
    return rows


def read_csv(text: str, source: str) -> RosterFile:
    """Read the roster's CSV layout.

    :raises ImportRejected: the file is empty or its header is wrong.
    """
    found = RosterFile()
    for line, cells in _table(text, source, REQUIRED_COLUMNS, COLUMNS, found.errors):
        _csv_row(line, cells, found)
    return found


def read_unit_map(text: str, source: str) -> dict[str, str]:
    """Read a map file (``address,unit``) for a doveadm listing: address key → unit id.

    :raises ImportRejected: the map has problems (every one is listed).
    """
    errors: list[ImportRowError] = []
    found: dict[str, str] = {}
    for line, cells in _table(text, source, ("address", "unit"), ("address", "unit"), errors):
        try:
            key = parse_mailbox_address(cells["address"]).key
        except ValueError as exc:
            errors.append(ImportRowError(line, "address", problems.problem_of(exc),
                                         value=cells["address"]))
            continue
        if key in found:
            errors.append(ImportRowError(line, "address", problems.MAPPED_TWICE(address=key)))
        elif not cells["unit"].strip():
            errors.append(ImportRowError(line, "unit", problems.UNIT_EMPTY()))
        else:
            found[key] = cells["unit"].strip()
    if errors:
        raise ImportRejected(source, errors)
    return found


def read_doveadm(text: str, *, unit: str | None, unit_map: Mapping[str, str]) -> RosterFile:
    """Read ``doveadm user '*'`` output: one address a line, the unit from the map,
    else ``unit``."""
    found = RosterFile()
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            address = parse_mailbox_address(raw)
        except ValueError as exc:
            found.errors.append(ImportRowError(line, "address", problems.problem_of(exc),
                                               value=raw.strip()))
            continue
        found.keys.add(address.key)
        unit_id = unit_map.get(address.key, unit)
        if unit_id is None:
            found.errors.append(ImportRowError(
                line, "unit", problems.NOT_IN_MAP(address=address.addr_spec),
                value=address.addr_spec))
            continue
        found.rows.append(RosterRow(line, Mailbox(address, "", unit_id),
                                    frozenset({"unit", "active"})))
    return found


def _ldif_unit(values: list[str], units: Mapping[str, Unit]) -> str | None:
    names = {_nfc(unit.name).casefold(): unit.id for unit in units.values()}
    for value in values:
        if value.strip() in units:
            return value.strip()
        if (found := names.get(_nfc(value).casefold())) is not None:
            return found
    return None


def read_ldif_roster(text: str, units: Mapping[str, Unit]) -> RosterFile:
    """Read LDIF entries that have ``mail``: ``cn`` the name, ``title`` the position,
    the unit from ``ou`` (or the DN's ``ou=``) matched to a unit's id or name.
    Entries without ``mail`` (the tree's own nodes) are passed over."""
    records, errors = read_ldif(text)
    found = RosterFile(errors=errors)
    for record in records:
        mails = record.attributes.get("mail", [])
        if not mails:
            continue
        refused = []
        address: Address | None = None
        try:
            if len(mails) > 1:
                raise problems.Problem(problems.LDIF_MAILS(count=len(mails)))
            address = parse_mailbox_address(mails[0])
            found.keys.add(address.key)
        except ValueError as exc:
            refused.append(ImportRowError(record.line, "mail", problems.problem_of(exc),
                                          value=mails[0]))
        full_name = _nfc(record.first("cn"))
        if not full_name:
            refused.append(ImportRowError(record.line, "cn", problems.LDIF_NO_CN()))
        ous = record.attributes.get("ou") or [
            part.split("=", 1)[1] for part in record.dn.split(",")
            if part.strip().lower().startswith("ou=")]
        unit_id = _ldif_unit(ous, units)
        if unit_id is None:
            refused.append(ImportRowError(
                record.line, "ou",
                problems.LDIF_UNKNOWN_UNIT(names=", ".join(map(repr, ous)))
                if ous else problems.LDIF_NO_OU()))
        if refused or address is None or unit_id is None:
            found.errors.extend(refused)
            continue
        found.rows.append(RosterRow(record.line, Mailbox(
            address=address, full_name=full_name, unit_id=unit_id,
            position=_nfc(record.first("title")),
        ), frozenset({"full_name", "unit", "position", "active"})))
    return found
