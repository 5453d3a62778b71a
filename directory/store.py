"""The directory store: units, addresses and their change history in one SQLite file.

:class:`Directory` is the facade (sqlite-utils' ``Database`` underneath): open a
file, import a CSV, read units back, export and publish. Every change to a unit is
written to the ``history`` table with who made it, when, and what changed, so the
directory is itself auditable.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from directory import problems
from directory.checks import check_rows
from directory.config import DirectoryConfig
from directory.errors import ImportRejected, ImportRowError, StoreError, UnknownUnit
from directory.mailboxes import export_csv as roster_csv
from directory.mailboxes import export_json as roster_json
from directory.mailboxes import (
    has_roster,
    load_mailboxes,
    plan_import,
    write_import,
)
from directory.model import (
    Address,
    InvalidAddress,
    Mailbox,
    Unit,
    ancestry,
    parse_official_address,
    tree_order,
)
from directory.publish import publish
from directory.published import export_csv, export_json
from directory.roster import (
    RosterFile,
    RosterFormat,
    parse_mailbox_address,
    read_csv,
    read_doveadm,
    read_ldif_roster,
    read_unit_map,
)
from directory.rows import ParsedFile, decode, parse_rows
from directory.schema import migrate
from mailbase import use_wal


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: units created, updated, made inactive, rows skipped."""

    source: str
    created: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: int
    deactivated: tuple[str, ...]
    skipped: tuple[ImportRowError, ...] = ()

    def __str__(self) -> str:
        lines = [
            f"{self.source}: {len(self.created)} created, {len(self.updated)} updated, "
            f"{self.unchanged} unchanged, {len(self.deactivated)} made inactive, "
            f"{len(self.skipped)} row(s) skipped"
        ]
        if self.deactivated:
            lines.append("made inactive (missing from the file): " + ", ".join(self.deactivated))
        lines.extend(f"skipped {error}" for error in self.skipped)
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change history: who changed which unit, when, and how.

    ``changes`` maps each changed field to its ``(old, new)`` values.
    """

    id: int
    at: datetime
    actor: str
    unit_id: str
    action: str
    changes: dict[str, tuple[Any, Any]]


def snapshot(unit: Unit) -> dict[str, Any]:
    """A unit as plain JSON values, one key per CSV column (history and exports)."""
    return {
        "id": unit.id, "name": unit.name, "parent": unit.parent,
        "address": unit.address.addr_spec,
        "short_name": unit.short_name, "name_en": unit.name_en, "kind": unit.kind,
        "aliases": [address.addr_spec for address in unit.aliases],
        "dkim_domain": unit.dkim_domain, "phone": unit.phone, "website": unit.website,
        "active": unit.is_active, "senders": list(unit.senders),
        "certificate": unit.certificate,
        "valid_from": unit.valid_from.isoformat() if unit.valid_from else None,
        "valid_until": unit.valid_until.isoformat() if unit.valid_until else None,
        "successor": unit.successor,
        "document_certificates": list(unit.document_certificates),
        "organ_id": unit.organ_id,
    }


def _diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, list[Any]]:
    if old is None:
        return {key: [None, value] for key, value in new.items() if value not in (None, "", [])}
    return {key: [old[key], value] for key, value in new.items() if old[key] != value}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Directory:
    """The province's units and addresses in one SQLite file, with their history.

    One object may move between threads (a service's executor) but must not be
    used by two threads at once.
    """

    def __init__(self, db: Database, path: str) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path | str | DirectoryConfig, *, read_only: bool = False) -> Directory:
        """Open (creating and migrating unless ``read_only``) the store at ``path``, or
        the one a ``[directory]`` table names: its ``url`` (PostgreSQL, shared by several
        servers: directory/pgstore.py), else its ``path``.

        :raises StoreError: the store cannot be opened, reached or logged into, or is
            not a directory store.
        """
        if isinstance(path, DirectoryConfig):
            if path.url is None:
                return cls.open(path.path, read_only=read_only)
            from directory.pgstore import PgDirectory  # psycopg only where it is used

            return PgDirectory.open_url(path, read_only=read_only)
        name = str(path)
        if name.startswith(("postgresql:", "postgres:")):
            raise StoreError(name, problems.STORE_IS_POSTGRESQL())
        try:
            if read_only:
                if not Path(path).is_file():
                    raise StoreError(name, problems.STORE_MISSING())
                conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                                       check_same_thread=False)
                db = Database(conn)
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                db = Database(sqlite3.connect(name, check_same_thread=False))
                use_wal(db.conn, wait_seconds=5.0)
                migrate(db)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(name, problems.STORE_CANNOT_OPEN(detail=str(exc))) from exc
        return cls(db, name)

    def close(self) -> None:
        """Close the SQLite connection."""
        self.db.close()

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _mapped(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(self.path, problems.STORE_FAILED(doing=doing, detail=str(exc))
                             ) from exc

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """One write transaction that holds the store's writers off from its first read
        to its commit: an import compares the file with what is stored, and another
        import between the two would be undone without a trace in the history."""
        with self._mapped(doing):
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                self.db.conn.rollback()
                raise

    # -- reading ----------------------------------------------------------------

    def _load(self, where: str = "", params: Sequence[Any] = ()) -> list[Unit]:
        units = list(self.db.execute(
            "SELECT id, name, short_name, name_en, kind, parent, dkim_domain, certificate, "
            "phone, website, active, valid_from, valid_until, successor, document_certificates, "
            "organ_id FROM units "
            f"{where} ORDER BY position, id", params,
        ))
        if not units:
            return []
        scope = "" if not where else f"WHERE unit_id IN (SELECT id FROM units {where})"
        addresses: dict[str, list[tuple[int, Address]]] = defaultdict(list)
        for unit_id, local, domain, is_primary, position in self.db.execute(
            f"SELECT unit_id, local, domain, is_primary, position FROM addresses {scope}", params,
        ):
            addresses[unit_id].append((0 if is_primary else position + 1, Address(local, domain)))
        senders: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for unit_id, login, position in self.db.execute(
            f"SELECT unit_id, login, position FROM senders {scope}", params,
        ):
            senders[unit_id].append((position, login))
        found = []
        for (unit_id, name, short_name, name_en, kind, parent, dkim_domain, certificate,
             phone, website, active, valid_from, valid_until, successor,
             fingerprints, organ_id) in units:
            ordered = [address for _, address in sorted(addresses[unit_id])]
            found.append(Unit(
                id=unit_id, name=name, address=ordered[0], parent=parent,
                aliases=tuple(ordered[1:]), short_name=short_name, name_en=name_en,
                kind=kind, dkim_domain=dkim_domain, certificate=certificate, phone=phone,
                website=website, is_active=bool(active),
                senders=tuple(login for _, login in sorted(senders[unit_id])),
                valid_from=date.fromisoformat(valid_from) if valid_from else None,
                valid_until=date.fromisoformat(valid_until) if valid_until else None,
                successor=successor,
                document_certificates=tuple(f for f in fingerprints.split(";") if f),
                organ_id=organ_id,
            ))
        return found

    def units(self, *, include_inactive: bool = True) -> list[Unit]:
        """Every unit, in the order of the last imported file."""
        with self._mapped("reading the units"):
            return self._load("" if include_inactive else "WHERE active = 1")

    def unit_id_for(self, address: str) -> str | None:
        """The id of the unit owning ``address`` (aliases and ``user+tag`` too), or None."""
        try:
            parsed = parse_official_address(address)
        except InvalidAddress:
            return None
        keys = [parsed.key]
        if "+" in parsed.local:
            keys.append(f"{parsed.local.split('+', 1)[0].lower()}@{parsed.domain}")
        with self._mapped("looking up an address"):
            for key in keys:
                row = self.db.execute(
                    "SELECT unit_id FROM addresses WHERE key = ?", [key]).fetchone()
                if row:
                    return str(row[0])
        return None

    def get(self, key: str) -> Unit:
        """The unit with this id, or owning this address.

        :raises UnknownUnit: no unit has this id or address.
        """
        unit_id = self.unit_id_for(key) if "@" in key else key.strip()
        with self._mapped("reading a unit"):
            found = self._load("WHERE id = ?", [unit_id]) if unit_id else []
        if not found:
            raise UnknownUnit(key)
        return found[0]

    def ancestors(self, unit_id: str) -> list[str]:
        """The unit's id first, then its parent's, up to the root.

        :raises UnknownUnit: no unit has this id.
        """
        with self._mapped("reading the parents"):
            rows = self.db.execute(
                "WITH RECURSIVE up(id, parent, depth) AS ("
                " SELECT id, parent, 0 FROM units WHERE id = ?"
                " UNION ALL SELECT u.id, u.parent, up.depth + 1 FROM units u"
                " JOIN up ON u.id = up.parent WHERE up.depth < 1000)"
                " SELECT id FROM up ORDER BY depth", [unit_id],
            ).fetchall()
        if not rows:
            raise UnknownUnit(unit_id)
        return [row[0] for row in rows]

    def history(self, unit_id: str | None = None) -> list[Change]:
        """The change history, oldest first (of one unit, or of all)."""
        where, params = ("WHERE unit_id = ?", [unit_id]) if unit_id else ("", [])
        with self._mapped("reading the history"):
            rows = self.db.execute(
                f"SELECT id, at, actor, unit_id, action, changes FROM history {where} ORDER BY id",
                params,
            ).fetchall()
        return [
            Change(id=row[0], at=datetime.fromisoformat(row[1]), actor=row[2], unit_id=row[3],
                   action=row[4], changes={k: (v[0], v[1]) for k, v in json.loads(row[5]).items()})
            for row in rows
        ]

    def revision(self) -> int:
        """A number that grows whenever a unit or a roster mailbox changes (the sum of
        the last ids of the two histories, which only grow)."""
        with self._mapped("reading the revision"):
            units = self.db.execute("SELECT coalesce(max(id), 0) FROM history").fetchone()[0]
            if not has_roster(self.db):
                return int(units)
            roster = self.db.execute(
                "SELECT coalesce(max(id), 0) FROM mailbox_history").fetchone()[0]
            return int(units) + int(roster)

    def mailboxes(self, *, unit: str | None = None) -> list[Mailbox]:
        """The roster of officials' mailboxes by address, inactive ones included
        (of ``unit``'s subtree only, when given).

        :raises UnknownUnit: no unit has the id ``unit``.
        """
        with self._mapped("reading the roster"):
            found = load_mailboxes(self.db)
        if unit is None:
            return found
        scope = self.subtree(unit)
        return [mailbox for mailbox in found if mailbox.unit_id in scope]

    def subtree(self, unit_id: str) -> set[str]:
        """The ids of the unit and of every unit under it.

        :raises UnknownUnit: no unit has this id.
        """
        units = self.units()
        if unit_id not in {unit.id for unit in units}:
            raise UnknownUnit(unit_id)
        chains = ancestry({unit.id: unit for unit in units})
        return {uid for uid, chain in chains.items() if unit_id in chain}

    def mailbox_history(self, address: str | None = None) -> list[Change]:
        """The roster's change history, oldest first (of one address, or of all);
        each :class:`Change` names the mailbox's address in ``unit_id``."""
        key = ""
        if address:
            try:
                key = parse_mailbox_address(address).key
            except ValueError:
                key = address.strip().lower()
        where, params = ("WHERE address = ?", [key]) if address else ("", [])
        with self._mapped("reading the roster's history"):
            if not has_roster(self.db):
                return []
            rows = self.db.execute(
                f"SELECT id, at, actor, address, action, changes FROM mailbox_history {where}"
                " ORDER BY id", params,
            ).fetchall()
        return [
            Change(id=row[0], at=datetime.fromisoformat(row[1]), actor=row[2], unit_id=row[3],
                   action=row[4], changes={k: (v[0], v[1]) for k, v in json.loads(row[5]).items()})
            for row in rows
        ]

    def export_mailboxes_csv(self, *, bom: bool = False) -> str:
        """The roster as CSV in its import layout (re-importing it changes nothing)."""
        return roster_csv(self.mailboxes(), bom=bom)

    def export_mailboxes_json(self) -> str:
        """The roster as a JSON array (the CSV layout's keys)."""
        return roster_json(self.mailboxes())

    def data_version(self) -> int:
        """SQLite's ``data_version``: changes when another connection commits."""
        with self._mapped("reading the data version"):
            return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def export_csv(self, *, include_senders: bool = True, bom: bool = False) -> str:
        """Every unit as CSV text in the import layout (re-importing it changes nothing)."""
        return export_csv(tree_order(self.units()), include_senders=include_senders, bom=bom)

    def export_json(self, *, include_senders: bool = True) -> str:
        """Every unit as JSON text following directory.schema.json."""
        units = tree_order(self.units())
        return export_json(units, ancestry({u.id: u for u in units}),
                           include_senders=include_senders)

    def publish(
        self, out_dir: Path, *, title: str = "Danh bạ thư điện tử công vụ",
        ldap_base: str | None = None,
    ) -> list[Path]:
        """Write the published files into ``out_dir`` (see :func:`directory.publish.publish`).

        :raises StoreError: the store cannot be read.
        :raises OSError: the folder cannot be written.
        """
        with self._mapped("reading the units"):
            units = self.units()
        return publish(units, out_dir, title=title, ldap_base=ldap_base,
                       mailboxes=self.mailboxes())

    # -- writing ----------------------------------------------------------------

    def import_csv(
        self, source: Path | str | bytes, *, partial: bool = False, actor: str = "unknown",
    ) -> ImportSummary:
        """Import a CSV file of units (the layout in directory/README.md).

        ``source`` is a path (:class:`~pathlib.Path`), CSV text (``str``) or the
        file's bytes. All or nothing: any bad row rejects the whole file, with every
        problem listed; with ``partial``, the good rows are imported and the bad ones
        listed in the summary. Units in the store but missing from the file become
        inactive (never deleted). Running the same file again changes nothing.

        :raises ImportRejected: the file cannot be read, or a row is bad and not ``partial``.
        :raises StoreError: the store could not be written.
        """
        name, text = _read(source, "<csv>")
        parsed = parse_rows(text, name)
        with self._writing("importing the units"):
            return self._import_units(name, parsed, partial=partial, actor=actor)

    def _import_units(self, name: str, parsed: ParsedFile, *, partial: bool,
                      actor: str) -> ImportSummary:
        """:meth:`import_csv`'s checks against the store and its write, in one
        transaction."""
        stored = {unit.id: unit for unit in self.units()}
        with self._mapped("reading the roster"):
            reserved = {m.address.key: m.unit_id for m in load_mailboxes(self.db)
                        if m.is_active}
        rows, errors = check_rows(parsed, partial=partial, stored=stored, reserved=reserved)
        if errors and not partial:
            raise ImportRejected(name, errors)
        present = parsed.ids if partial else {row.unit.id for row in rows}
        changed: list[tuple[Unit, str, dict[str, list[Any]]]] = []
        unchanged = 0
        for row in rows:
            old = stored.get(row.unit.id)
            diff = _diff(snapshot(old) if old else None, snapshot(row.unit))
            if old is None:
                changed.append((row.unit, "created", diff))
            elif diff:
                changed.append((row.unit, "updated", diff))
            else:
                unchanged += 1
        for unit in stored.values():
            if unit.id not in present and unit.is_active:
                inactive = replace(unit, is_active=False)
                changed.append((inactive, "deactivated", _diff(snapshot(unit), snapshot(inactive))))
        positions = [(index, row.unit.id) for index, row in enumerate(rows)]
        with self._mapped("writing the import"):
            self._write(name, actor, changed, positions, len(errors))
        return ImportSummary(
            source=name,
            created=tuple(u.id for u, action, _ in changed if action == "created"),
            updated=tuple(u.id for u, action, _ in changed if action == "updated"),
            unchanged=unchanged,
            deactivated=tuple(u.id for u, action, _ in changed if action == "deactivated"),
            skipped=tuple(errors),
        )

    def import_mailboxes(
        self, source: Path | str | bytes, *, fmt: RosterFormat = RosterFormat.CSV,
        unit: str | None = None, unit_map: Path | str | bytes | None = None,
        partial: bool = False, actor: str = "unknown",
    ) -> ImportSummary:
        """Import the roster of officials' mailboxes (the layouts in directory/README.md).

        ``source`` is a path, text or bytes in ``fmt``. The file is the whole roster,
        or with ``unit`` the whole roster of that unit's subtree: listed mailboxes are
        created or updated, missing ones become inactive (never deleted). A doveadm
        listing takes its units from ``unit_map`` (``address,unit`` CSV), else
        ``unit``. All or nothing, every problem listed, unless ``partial``. The
        summary names mailboxes by address.

        :raises ImportRejected: the file cannot be read, or it has problems and not
            ``partial``.
        :raises UnknownUnit: ``unit`` is not a unit's id.
        :raises StoreError: the store could not be read or written.
        :raises ValueError: a doveadm listing without ``unit`` or ``unit_map``.
        """
        fmt = RosterFormat(fmt)
        if fmt is RosterFormat.DOVEADM and unit is None and unit_map is None:
            raise ValueError("a doveadm listing needs a unit or a map file for its units")
        name, text = _read(source, f"<{fmt.value}>")
        with self._writing("importing the roster"):
            return self._import_roster(name, text, fmt=fmt, unit=unit, unit_map=unit_map,
                                       partial=partial, actor=actor)

    def _import_roster(
        self, name: str, text: str, *, fmt: RosterFormat, unit: str | None,
        unit_map: Path | str | bytes | None, partial: bool, actor: str,
    ) -> ImportSummary:
        """:meth:`import_mailboxes`' checks against the store and its write, in one
        transaction."""
        units = {u.id: u for u in self.units()}
        scope = self.subtree(unit) if unit is not None else None
        parsed: RosterFile
        if fmt is RosterFormat.CSV:
            parsed = read_csv(text, name)
        elif fmt is RosterFormat.LDIF:
            parsed = read_ldif_roster(text, units)
        else:
            mapping: dict[str, str] = {}
            if unit_map is not None:
                map_name, map_text = _read(unit_map, "<map>")
                mapping = read_unit_map(map_text, map_name)
            parsed = read_doveadm(text, unit=unit, unit_map=mapping)
        if not parsed.rows and not parsed.errors:
            raise ImportRejected(name, [ImportRowError(1, None, problems.NO_MAILBOX())])
        with self._mapped("reading the roster"):
            stored = {m.address.key: m for m in load_mailboxes(self.db)}
        plan = plan_import(parsed, stored=stored, units=units, scope=scope, partial=partial)
        if plan.errors and not partial:
            raise ImportRejected(name, plan.errors)
        with self._mapped("writing the roster"):
            write_import(self.db, at=_now(), source=name, actor=actor, plan=plan,
                         skipped=len(plan.errors))
        return ImportSummary(
            source=name,
            created=tuple(m.address.addr_spec for m, a, _ in plan.changes if a == "created"),
            updated=tuple(m.address.addr_spec for m, a, _ in plan.changes if a == "updated"),
            unchanged=plan.unchanged,
            deactivated=tuple(
                m.address.addr_spec for m, a, _ in plan.changes if a == "deactivated"),
            skipped=tuple(plan.errors),
        )

    def _write(
        self, source: str, actor: str, changed: list[tuple[Unit, str, dict[str, list[Any]]]],
        positions: list[tuple[int, str]], skipped: int,
    ) -> None:
        at = _now()
        ids = [(unit.id,) for unit, _, _ in changed]
        base = len(positions)
        with self.db.atomic():
            import_id = self.db.execute(
                "INSERT INTO imports (at, actor, source, created, updated, deactivated, skipped)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [at, actor, source, *(sum(1 for _, a, _ in changed if a == action)
                                      for action in ("created", "updated", "deactivated")),
                 skipped],
            ).fetchone()[0]
            conn = self.db.conn
            conn.executemany("DELETE FROM addresses WHERE unit_id = ?", ids)
            conn.executemany("DELETE FROM senders WHERE unit_id = ?", ids)
            conn.executemany(
                "INSERT INTO units (id, name, short_name, name_en, kind, parent, dkim_domain,"
                " certificate, phone, website, active, valid_from, valid_until, successor,"
                " document_certificates, organ_id, position)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " short_name = excluded.short_name, name_en = excluded.name_en,"
                " kind = excluded.kind, parent = excluded.parent,"
                " dkim_domain = excluded.dkim_domain, certificate = excluded.certificate,"
                " phone = excluded.phone, website = excluded.website,"
                " active = excluded.active, valid_from = excluded.valid_from,"
                " valid_until = excluded.valid_until, successor = excluded.successor,"
                " document_certificates = excluded.document_certificates,"
                " organ_id = excluded.organ_id",
                [(u.id, u.name, u.short_name, u.name_en, u.kind, u.parent, u.dkim_domain,
                  u.certificate, u.phone, u.website, int(u.is_active),
                  u.valid_from.isoformat() if u.valid_from else None,
                  u.valid_until.isoformat() if u.valid_until else None, u.successor,
                  ";".join(u.document_certificates), u.organ_id, base)
                 for u, _, _ in changed],
            )
            conn.executemany(
                "INSERT INTO addresses (key, local, domain, unit_id, is_primary, position)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(a.key, a.local, a.domain, u.id, int(i == 0), i)
                 for u, _, _ in changed for i, a in enumerate(u.addresses)],
            )
            conn.executemany(
                "INSERT INTO senders (unit_id, login, position) VALUES (?, ?, ?)",
                [(u.id, login, i) for u, _, _ in changed for i, login in enumerate(u.senders)],
            )
            conn.executemany(
                "UPDATE units SET position = ? WHERE id = ? AND position != ?",
                [(index, unit_id, index) for index, unit_id in positions],
            )
            conn.executemany(
                "INSERT INTO history (at, actor, unit_id, action, changes, import_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(at, actor, u.id, action, json.dumps(diff, ensure_ascii=False), import_id)
                 for u, action, diff in changed],
            )


def _read(source: Path | str | bytes, label: str) -> tuple[str, str]:
    """The name and text of an imported file: a path, its bytes, or its text.

    :raises ImportRejected: the file cannot be read or is not UTF-8.
    """
    if isinstance(source, Path):
        name = str(source)
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ImportRejected(
                name, [ImportRowError(0, None, problems.UNREADABLE(detail=str(exc)))]) from exc
        return name, decode(data, name)
    if isinstance(source, bytes):
        return label, decode(source, label)
    return label, source.removeprefix("\ufeff")
