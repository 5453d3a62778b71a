"""The DKIM rotation state's schema in PostgreSQL: a schema of its own, ``dkim``.

One row per rotated selector, as signer/dkim_rotation.py's JSON file keeps one object
per key, in the same order (``position``) and with the same stored values (``state`` is
``pending``, ``active``, ``retiring`` or ``retired``; times are UTC ISO 8601 text).
Each migration is named and remembered in ``dkim._migrations``, applied in one
transaction under :data:`ROTATION_LOCK` (mailbase.pgconn.migrate_schema); the ``congvu
dkim`` commands take the same lock to change the state, so two servers rotating at once
do not overwrite each other.
"""

from __future__ import annotations

SCHEMA = "dkim"
#: The advisory lock the rotation state's migrations and changes take.
ROTATION_LOCK = 0x636F6E67_646B  # "cong" "dk"

_TEXT = 'text COLLATE "C"'

#: The migrations, oldest first; never edit one that has shipped, add a new one.
MIGRATIONS: list[tuple[str, list[str]]] = [
    ("0001-rotated-keys", [
        f"""CREATE TABLE rotated_keys (
            position bigint PRIMARY KEY, domain {_TEXT} NOT NULL, selector {_TEXT} NOT NULL,
            algorithm {_TEXT} NOT NULL, key_file {_TEXT} NOT NULL, state {_TEXT} NOT NULL,
            created {_TEXT} NOT NULL, activated {_TEXT}, retire_at {_TEXT},
            UNIQUE (domain, selector))""",
    ]),
]
