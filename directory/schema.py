"""The directory's SQLite schema, created explicitly and versioned by migrations.

Each migration is a function run once, in order, inside a transaction; the number
of the last one applied is SQLite's ``user_version``. Tables are STRICT, with NOT
NULL wherever a value is always present: the schema is never inferred from data.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database


def _create_units(db: Database) -> None:
    db.table("units").create(
        {
            "id": str, "name": str, "short_name": str, "name_en": str, "kind": str,
            "parent": str, "dkim_domain": str, "certificate": str, "phone": str,
            "website": str, "active": int, "valid_from": str, "valid_until": str,
            "successor": str, "position": int,
        },
        pk="id",
        not_null=["name", "short_name", "name_en", "kind", "dkim_domain", "certificate",
                  "phone", "website", "active", "position"],
        strict=True,
    )
    db.table("units").create_index(["parent"])
    # key: the case-folded address (Address.key), unique across all units.
    db.table("addresses").create(
        {"key": str, "local": str, "domain": str, "unit_id": str, "is_primary": int,
         "position": int},
        pk="key",
        not_null=["local", "domain", "unit_id", "is_primary", "position"],
        foreign_keys=[("unit_id", "units", "id")],
        strict=True,
    )
    db.table("addresses").create_index(["unit_id"])
    db.table("senders").create(
        {"unit_id": str, "login": str, "position": int},
        pk=("unit_id", "login"),
        not_null=["position"],
        foreign_keys=[("unit_id", "units", "id")],
        strict=True,
    )
    # Who changed what, when: one row per unit changed. ``changes`` is a JSON object
    # of field -> [old, new]; ``action`` is created, updated or deactivated.
    db.table("history").create(
        {"id": int, "at": str, "actor": str, "unit_id": str, "action": str,
         "changes": str, "import_id": int},
        pk="id",
        not_null=["at", "actor", "unit_id", "action", "changes"],
        strict=True,
    )
    db.table("history").create_index(["unit_id"])
    db.table("imports").create(
        {"id": int, "at": str, "actor": str, "source": str, "created": int,
         "updated": int, "deactivated": int, "skipped": int},
        pk="id",
        not_null=["at", "actor", "source", "created", "updated", "deactivated", "skipped"],
        strict=True,
    )


def _create_roster(db: Database) -> None:
    # The roster of officials' own mailboxes. Additive only: the units' tables keep
    # their shape, so the previous release still reads and imports units into a file
    # this one migrated. ``key`` is the case-folded address (Address.key).
    db.table("mailboxes").create(
        {"key": str, "local": str, "domain": str, "full_name": str, "unit_id": str,
         "position": str, "active": int, "created": str},
        pk="key",
        not_null=["local", "domain", "full_name", "unit_id", "position", "active"],
        foreign_keys=[("unit_id", "units", "id")],
        strict=True,
    )
    db.table("mailboxes").create_index(["unit_id"])
    # The roster's history, as ``history`` is the units': one row per mailbox changed.
    db.table("mailbox_history").create(
        {"id": int, "at": str, "actor": str, "address": str, "action": str,
         "changes": str, "import_id": int},
        pk="id",
        not_null=["at", "actor", "address", "action", "changes"],
        strict=True,
    )
    db.table("mailbox_history").create_index(["address"])
    # what an import brought in; the previous release's inserts get 'units'
    db.execute("ALTER TABLE imports ADD COLUMN kind TEXT NOT NULL DEFAULT 'units'")


def _roster_last_login(db: Database) -> None:
    # When the official last logged in (UTC ISO 8601), as the mail server said at the
    # last import that carried it: an observation, not in the roster's history.
    db.execute("ALTER TABLE mailboxes ADD COLUMN last_login TEXT")


def _unit_document_certificates(db: Database) -> None:
    # The SHA-256 fingerprints (lowercase hex, ';'-separated) of the certificates the
    # unit seals documents with, beside the address rule that names most of them.
    db.execute("ALTER TABLE units ADD COLUMN document_certificates TEXT NOT NULL DEFAULT ''")


def _unit_organ_id(db: Database) -> None:
    # The unit's identifier code in the national document exchange (edXML OrganId);
    # NULL when not given, so the units of an older store read as having none.
    db.execute("ALTER TABLE units ADD COLUMN organ_id TEXT")


#: The migrations, oldest first; never edit one that has shipped, add a new one.
MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    _create_units, _create_roster, _roster_last_login, _unit_document_certificates,
    _unit_organ_id)


def migrate(db: Database) -> None:
    """Bring the file's schema up to date (a new file gets every migration)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
        with db.atomic():
            migration(db)
            db.execute(f"PRAGMA user_version = {number}")
