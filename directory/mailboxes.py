"""The roster in the store: officials' mailboxes, their checks, history and exports.

A roster import is the whole roster (or the whole roster of one unit's subtree):
listed mailboxes are created or updated, and those missing become inactive, never
deleted. Every change is written to ``mailbox_history`` as the units' changes are
to ``history``. The checks here need the store: the unit exists (and is active for
an active mailbox), is inside the imported subtree, and no unit has the address.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlite_utils import Database

from directory import problems
from directory.errors import ImportRowError
from directory.model import Address, Mailbox, Unit
from directory.roster import COLUMNS, RosterFile, RosterRow
from mailbase import Reason


def has_roster(db: Database) -> bool:
    """Whether the file has the roster's tables (a store the previous release made,
    opened read-only, has not; a PostgreSQL store is opened only when it is current)."""
    if not _is_sqlite(db):
        return True
    return db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'mailboxes'"
    ).fetchone() is not None


def _is_sqlite(db: Database) -> bool:
    return isinstance(db.conn, sqlite3.Connection)


def _has_last_login(db: Database) -> bool:
    # a store migrated before the column, opened read-only, has not
    if not _is_sqlite(db):
        return True
    return any(row[1] == "last_login" for row in db.execute("PRAGMA table_info(mailboxes)"))


def load_mailboxes(db: Database) -> list[Mailbox]:
    """Every mailbox of the roster, by address."""
    if not has_roster(db):
        return []
    login = "last_login" if _has_last_login(db) else "NULL"
    return [
        Mailbox(address=Address(local, domain), full_name=full_name, unit_id=unit_id,
                position=position, is_active=bool(active),
                created=date.fromisoformat(created) if created else None,
                last_login=datetime.fromisoformat(last_login) if last_login else None)
        for local, domain, full_name, unit_id, position, active, created, last_login
        in db.execute("SELECT local, domain, full_name, unit_id, position, active, created,"
                      f" {login} FROM mailboxes ORDER BY key")
    ]


def _login_text(mailbox: Mailbox) -> str | None:
    """The stored (and exported) form of the last login: UTC ISO 8601, seconds."""
    login = mailbox.last_login
    return login.astimezone(UTC).isoformat(timespec="seconds") if login else None


def snapshot(mailbox: Mailbox) -> dict[str, Any]:
    """A mailbox as plain JSON values, one key per CSV column but ``last_login``
    (history and exports: the last login is an observation, not a roster change)."""
    return {
        "address": mailbox.address.addr_spec, "full_name": mailbox.full_name,
        "unit": mailbox.unit_id, "position": mailbox.position, "active": mailbox.is_active,
        "created": mailbox.created.isoformat() if mailbox.created else None,
    }


def _merged(row: RosterRow, old: Mailbox | None) -> Mailbox:
    """The row's mailbox, with what the file does not carry kept from the store."""
    new = row.mailbox
    if old is None:
        return new
    return replace(
        new,
        full_name=new.full_name if "full_name" in row.carried else old.full_name,
        position=new.position if "position" in row.carried else old.position,
        created=new.created if "created" in row.carried else old.created,
        last_login=new.last_login if "last_login" in row.carried else old.last_login,
    )


@dataclass(frozen=True, slots=True)
class RosterPlan:
    """What an import will write: ``(mailbox, action, diff)`` per change, and the last
    logins of mailboxes that did not otherwise change (no history for those)."""

    changes: list[tuple[Mailbox, str, dict[str, list[Any]]]]
    unchanged: int
    errors: list[ImportRowError]
    logins: list[Mailbox] = field(default_factory=list)


def plan_import(
    parsed: RosterFile, *, stored: Mapping[str, Mailbox], units: Mapping[str, Unit],
    scope: Collection[str] | None, partial: bool,
) -> RosterPlan:
    """Check the file against the store and work out the changes.

    ``stored`` maps address keys to the roster's mailboxes, ``units`` ids to units;
    ``scope`` is the set of unit ids the file covers (``None``: all of them).
    """
    errors = list(parsed.errors)
    unit_addresses = {address.key: unit.id for unit in units.values()
                      for address in unit.addresses}
    first: dict[str, int] = {}
    good: list[Mailbox] = []
    for row in parsed.rows:
        mailbox = row.mailbox
        key, unit_id = mailbox.address.key, mailbox.unit_id
        address = mailbox.address.addr_spec
        problem: tuple[str, Reason] | None = None
        if key in first:
            problem = ("address", problems.LISTED_TWICE(address=address, line=first[key]))
        elif key in unit_addresses:
            problem = ("address", problems.UNIT_ADDRESS(address=address,
                                                        unit=unit_addresses[key]))
        elif unit_id not in units:
            problem = ("unit", problems.NO_SUCH_UNIT(unit=unit_id))
        elif scope is not None and unit_id not in scope:
            problem = ("unit", problems.OUTSIDE_SUBTREE(unit=unit_id))
        elif mailbox.is_active and not units[unit_id].is_active:
            problem = ("unit", problems.UNIT_INACTIVE(unit=unit_id))
        first.setdefault(key, row.line)
        if problem:
            errors.append(ImportRowError(row.line, problem[0], problem[1], value=address))
            continue
        good.append(_merged(row, stored.get(key)))
    changes: list[tuple[Mailbox, str, dict[str, list[Any]]]] = []
    logins: list[Mailbox] = []
    unchanged = 0
    for mailbox in good:
        old = stored.get(mailbox.address.key)
        diff = _diff(snapshot(old) if old else None, snapshot(mailbox))
        if old is None:
            changes.append((mailbox, "created", diff))
        elif diff:
            changes.append((mailbox, "updated", diff))
        else:
            unchanged += 1
            if old.last_login != mailbox.last_login:
                logins.append(mailbox)
    present = parsed.keys if partial else {m.address.key for m in good}
    for key, mailbox in stored.items():
        in_scope = scope is None or mailbox.unit_id in scope
        if key not in present and mailbox.is_active and in_scope:
            inactive = replace(mailbox, is_active=False)
            changes.append((inactive, "deactivated",
                            _diff(snapshot(mailbox), snapshot(inactive))))
    return RosterPlan(changes, unchanged, sorted(errors, key=lambda e: (e.row, e.column or "")),
                      logins)


def _diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, list[Any]]:
    if old is None:
        return {key: [None, value] for key, value in new.items() if value not in (None, "")}
    return {key: [old[key], value] for key, value in new.items() if old[key] != value}


def write_import(db: Database, *, at: str, source: str, actor: str, plan: RosterPlan,
                 skipped: int) -> None:
    """Write the plan, its history and the import's row in one transaction."""
    counts = [sum(1 for _, action, _ in plan.changes if action == wanted)
              for wanted in ("created", "updated", "deactivated")]
    with db.atomic():
        import_id = db.execute(
            "INSERT INTO imports (at, actor, source, created, updated, deactivated, skipped,"
            " kind) VALUES (?, ?, ?, ?, ?, ?, ?, 'mailboxes') RETURNING id",
            [at, actor, source, *counts, skipped],
        ).fetchone()[0]
        db.conn.executemany(
            "INSERT INTO mailboxes (key, local, domain, full_name, unit_id, position, active,"
            " created, last_login) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO"
            " UPDATE SET local = excluded.local, domain = excluded.domain,"
            " full_name = excluded.full_name, unit_id = excluded.unit_id,"
            " position = excluded.position, active = excluded.active,"
            " created = excluded.created, last_login = excluded.last_login",
            [(m.address.key, m.address.local, m.address.domain, m.full_name, m.unit_id,
              m.position, int(m.is_active), m.created.isoformat() if m.created else None,
              _login_text(m)) for m, _, _ in plan.changes],
        )
        db.conn.executemany("UPDATE mailboxes SET last_login = ? WHERE key = ?",
                            [(_login_text(m), m.address.key) for m in plan.logins])
        db.conn.executemany(
            "INSERT INTO mailbox_history (at, actor, address, action, changes, import_id)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(at, actor, m.address.key, action, json.dumps(diff, ensure_ascii=False),
              import_id) for m, action, diff in plan.changes],
        )


def export_csv(mailboxes: list[Mailbox], *, bom: bool = False) -> str:
    """The roster in its import layout (importing it again changes nothing)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for mailbox in mailboxes:
        data = snapshot(mailbox)
        data["active"] = "yes" if mailbox.is_active else "no"
        data["last_login"] = _login_text(mailbox)
        writer.writerow(["" if data[column] is None else data[column] for column in COLUMNS])
    return ("\ufeff" if bom else "") + out.getvalue()


def export_json(mailboxes: list[Mailbox]) -> str:
    """The roster as a JSON array of objects with the CSV layout's keys."""
    return json.dumps([{**snapshot(m), "last_login": _login_text(m)} for m in mailboxes],
                      ensure_ascii=False, indent=1) + "\n"
