"""Links: how one row of the chain is proven to an outsider without showing the others.

A row's hash covers its whole content, the previous hash included, so walking the
chain from a record to a checkpoint needs every row in between in full: the other
messages. A checkpoint therefore also signs a *link*: :func:`audit.chain.link_of` the
hashes of the rows after ``link_from`` up to its own row (``link_from`` is the previous
checkpoint, so the writer's links cover the chain once). A proof shows its record in
full, which gives that row's hash, and the other rows of the span as hashes only;
folding them must give the signed link, and the span's last hash is the signed head.

The link is a second signature with columns of its own (``link_from``, ``link``,
``link_signature``): row hashes and the checkpoint's first signature keep their
recipe, so stores written before still verify and the previous release still
verifies a store this one writes (it does not read the new columns).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from audit.chain import Checkpoint, link_of, tuple_hash
from audit.errors import AuditError
from audit.schema import CHAIN_SPAN, HASHED_COLUMNS

_LINK_COLUMNS = ", ".join(HASHED_COLUMNS)
# Proofs and the checkpoints signed for them are of the live chain (ids below the
# first imported chain's span, audit/chains.py).
_FIRST_LIVE = f"SELECT min(seq) FROM events WHERE seq < {CHAIN_SPAN}"


def link_for(conn: sqlite3.Connection, seq: int, *,
             before: int | None = None) -> tuple[int, str] | None:
    """``(link_from, link)`` for a checkpoint at ``seq``: from the latest checkpoint
    below ``before`` (default ``seq``), or from the first row retention left; None when
    the rows up to ``seq`` are not all there."""
    start = conn.execute("SELECT max(seq) FROM checkpoints WHERE seq < ?",
                         (seq if before is None else before,)).fetchone()[0]
    first = conn.execute(_FIRST_LIVE).fetchone()[0]
    if first is None:
        return None
    link_from = max(int(start or 0), int(first) - 1)
    hashes = _hashes(conn, link_from, seq)
    if len(hashes) != seq - link_from:
        return None
    return link_from, link_of(hashes)


def _hashes(conn: sqlite3.Connection, after: int, through: int) -> list[str]:
    return [str(h) for (h,) in conn.execute(
        "SELECT hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq", (after, through))]


def link_problem(conn: sqlite3.Connection, checkpoints: dict[int, Checkpoint], *,
                 base: int = 0) -> tuple[str, int] | None:
    """The first checkpoint whose signed link is not that of the stored rows' hashes
    (its signatures are checked elsewhere); a span retention has cut is skipped. With
    ``base``, the checkpoints are of the chain imported there (numbered as its log
    numbered them)."""
    first = conn.execute("SELECT min(seq) - ? FROM events WHERE seq > ? AND seq < ?",
                         (base, base, base + CHAIN_SPAN)).fetchone()[0]
    for cp in sorted(checkpoints.values(), key=lambda c: c.seq):
        if cp.link is None or cp.link_from is None or first is None or cp.link_from < first - 1:
            continue
        hashes = _hashes(conn, cp.link_from + base, cp.seq + base)
        if (len(hashes) != cp.seq - cp.link_from or link_of(hashes) != cp.link
                or (hashes and hashes[-1] != cp.hash)):
            return (f"the checkpoint at record {cp.seq} signs a link of records "
                    f"{cp.link_from + 1}-{cp.seq} that the stored rows do not give: rows "
                    "were changed, removed or inserted", cp.seq)
    return None


def covering(conn: sqlite3.Connection, record_id: int,
             columns: str) -> Checkpoint | None:
    """The first stored checkpoint whose link spans ``record_id`` with all its rows
    still there."""
    first = conn.execute(_FIRST_LIVE).fetchone()[0]
    row = conn.execute(
        f"SELECT {columns} FROM checkpoints WHERE seq >= ? AND link IS NOT NULL AND "
        "link_from < ? AND link_from >= ? ORDER BY seq LIMIT 1",
        (record_id, record_id, int(first or 1) - 1)).fetchone()
    return None if row is None else Checkpoint(*row)


def proof_of(conn: sqlite3.Connection, record_id: int, cp: Checkpoint) -> dict[str, Any]:
    """What a proof of row ``record_id`` under ``cp`` shows: that row in full, the
    completion of it in full when ``cp`` covers it, the span's other rows as hashes.

    Each row of the span is checked against its hash first: a proof is never made
    over a changed row.

    :raises AuditError: a row of the span does not match its hash.
    """
    assert cp.link_from is not None
    rows = conn.execute(
        f"SELECT seq, hash, {_LINK_COLUMNS} FROM events WHERE seq > ? AND seq <= ? "
        "ORDER BY seq", (cp.link_from, cp.seq)).fetchall()
    shown: dict[str, Any] = {}
    for row in rows:
        seq, digest, values = int(row[0]), str(row[1]), row[2:]
        if tuple_hash(values) != digest:
            raise AuditError(f"record {seq} does not match its hash: the chain was changed "
                             "(run congvu audit verify); no proof is made over it")
        content = {name: value for name, value in zip(HASHED_COLUMNS, values, strict=True)
                   if value is not None}
        if seq == record_id:
            shown["record"] = content
        elif (content.get("kind") == "completion" and content.get("record_id") == record_id
              and "completion" not in shown):
            shown["completion"] = {"seq": seq, "row": content}
    return {
        "record_id": record_id,
        "record": shown["record"],
        "completion": shown.get("completion"),
        "link_from": cp.link_from,
        "hashes": [str(row[1]) for row in rows],
        "checkpoint": cp,
    }
