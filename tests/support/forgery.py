"""What someone who can write an audit store file, but lacks its checkpoint key, can do.

Plain sqlite3 on the file, with the store's own hash function: edit or remove records,
renumber, recompute the whole chain, drop the checkpoints, and sign the new head with
a key of their own (stored beside it, as the old `verify` trusted).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from audit.chain import GENESIS, CheckpointSigner, Schedule, row_hash
from audit.schema import EVENT_COLUMNS

INDEXES = ("memberships", "recipients", "attachments")


def rechain(path: Path, *, edit: dict[int, dict[str, object]] | None = None,
            remove: int | None = None, keep_checkpoints_below: int = 0,
            sign_with: Path | None = None) -> str | None:
    """Rewrite the store at ``path``; return the forger's public key (hex) if signed.

    :param edit: seq -> columns to change before re-chaining.
    :param remove: a record to delete; the records after it are renumbered.
    :param keep_checkpoints_below: checkpoints at records below this are kept.
    :param sign_with: a keys directory for the forger's own key, to sign the new head.
    """
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    columns = list(EVENT_COLUMNS)
    rows = [dict(r) for r in conn.execute("SELECT * FROM events ORDER BY seq")]
    with conn:
        if remove is not None:
            rows = [r for r in rows if r["seq"] != remove]
            for table in INDEXES:
                conn.execute(f"DELETE FROM {table} WHERE record_id = ?", (remove,))
                conn.execute(f"UPDATE {table} SET record_id = record_id - 1 "
                             "WHERE record_id > ?", (remove,))
            conn.execute("DELETE FROM search WHERE rowid = ?", (remove,))
        first = rows[0]["seq"] if rows else 1
        prev = GENESIS if first == 1 else conn.execute(
            "SELECT hash FROM checkpoints WHERE seq = ?", (first - 1,)).fetchone()[0]
        for number, row in enumerate(rows, start=first):
            row.update((edit or {}).get(row["seq"], {}))
            row["seq"], row["prev_hash"] = number, prev
            row["hash"] = prev = row_hash(row)
        conn.execute("DELETE FROM events")
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO events ({', '.join(columns)}) VALUES ({marks})",
                         [tuple(r[c] for c in columns) for r in rows])
        conn.execute("DELETE FROM checkpoints WHERE seq >= ?", (keep_checkpoints_below,))
        public = None
        if sign_with is not None and rows:
            signer = CheckpointSigner.load_or_create(sign_with)
            head = len(rows) + first - 1
            cp = signer.sign(head, prev, datetime.now(UTC).isoformat(timespec="microseconds"),
                             schedule=Schedule(1000, 60.0), batch_from=head + 1)
            conn.execute(
                "INSERT INTO checkpoints (seq, hash, at, public_key, signature, every_records, "
                "every_seconds, batch_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cp.seq, cp.hash, cp.at, cp.public_key, cp.signature, cp.every_records,
                 cp.every_seconds, cp.batch_from))
            public = signer.public_key
    conn.close()
    return public
