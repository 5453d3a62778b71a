"""Walk the hash chain and the checkpoints; name the first record that is wrong.

What can be detected: a changed row (its hash no longer matches its content), a
removed row (a gap in ``seq`` and a broken link), an inserted row, two rows swapped,
rows removed from the end up to the newest signed checkpoint, a forged or altered
checkpoint. What cannot, without a checkpoint exported elsewhere: rows removed from
the end after the newest checkpoint, or a whole chain rewritten by someone who also
holds the checkpoint key (see audit/README.md).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field

from audit.chain import GENESIS, Checkpoint, tuple_hash
from audit.schema import HASHED_COLUMNS

_CHUNK = 5000

# The query indexes, checked against the chained rows: a row deleted from
# ``memberships`` would hide a record from its unit's auditor. Each index is checked
# by an anti-join (every entry the chained rows imply is there, found through the
# primary key) and a count (nothing more is there); only when the count is off is
# the costly set difference run, to name the record.
_INDEXES: list[tuple[str, str, str, str, str]] = [
    (
        "memberships",
        # (name, missing entries, expected count, stored rows, expected rows)
        "SELECT e.seq, e.sender_unit, 'sent' FROM events e WHERE e.kind = 'message' "
        "AND e.sender_unit IS NOT NULL AND NOT EXISTS (SELECT 1 FROM memberships m "
        "WHERE m.unit_id = e.sender_unit AND m.role = 'sent' AND m.record_id = e.seq "
        "AND m.at = e.at) "
        "UNION ALL SELECT e.seq, j.value, 'received' FROM events e, "
        "json_each(e.detail, '$.recipient_units') j WHERE e.kind = 'message' "
        "AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.record_id = e.seq "
        "AND m.role = 'received' AND m.at = e.at "
        "AND (m.unit_id = j.value OR congvu_cut(m.unit_id) = j.value))",
        "SELECT SUM(CASE WHEN sender_unit IS NULL THEN 0 ELSE 1 END) + "
        "SUM(json_array_length(detail, '$.recipient_units')) FROM events "
        "WHERE kind = 'message'",
        "SELECT record_id, unit_id, role, at FROM memberships",
        "SELECT seq, sender_unit, 'sent', at FROM events WHERE kind = 'message' "
        "AND sender_unit IS NOT NULL UNION SELECT e.seq, j.value, 'received', e.at "
        "FROM events e, json_each(e.detail, '$.recipient_units') j WHERE e.kind = 'message'",
    ),
    (
        "recipients",
        "SELECT e.seq, j.value FROM events e, json_each(e.detail, '$.envelope_recipients') j "
        "WHERE e.kind = 'message' AND NOT EXISTS (SELECT 1 FROM recipients r "
        "WHERE r.record_id = e.seq AND r.position = j.key "
        "AND r.unit_id IS json_extract(e.detail, '$.envelope_recipient_units[' || j.key || ']') "
        "AND (r.address = congvu_lower(j.value) "
        "OR congvu_cut(r.address) = congvu_lower(j.value)))",
        "SELECT SUM(json_array_length(detail, '$.envelope_recipients')) FROM events "
        "WHERE kind = 'message'",
        "SELECT record_id, position, address, unit_id FROM recipients",
        "SELECT e.seq, j.key, congvu_lower(j.value), "
        "json_extract(e.detail, '$.envelope_recipient_units[' || j.key || ']') FROM events e, "
        "json_each(e.detail, '$.envelope_recipients') j WHERE e.kind = 'message'",
    ),
    (
        "attachments",
        "SELECT e.seq, json_extract(j.value, '$.sha256') FROM events e, "
        "json_each(e.detail, '$.attachments') j WHERE e.kind = 'message' "
        "AND NOT EXISTS (SELECT 1 FROM attachments a WHERE a.record_id = e.seq "
        "AND a.position = j.key AND a.sha256 = json_extract(j.value, '$.sha256') "
        "AND a.size = json_extract(j.value, '$.size') "
        "AND a.document IS json_extract(j.value, '$.document') "
        "AND (a.filename IS json_extract(j.value, '$.filename') "
        "OR congvu_cut(a.filename) IS json_extract(j.value, '$.filename')))",
        "SELECT SUM(json_array_length(detail, '$.attachments')) FROM events "
        "WHERE kind = 'message'",
        "SELECT record_id, position, sha256, filename, size FROM attachments",
        "SELECT e.seq, j.key, json_extract(j.value, '$.sha256'), "
        "json_extract(j.value, '$.filename'), json_extract(j.value, '$.size') "
        "FROM events e, json_each(e.detail, '$.attachments') j WHERE e.kind = 'message'",
    ),
]


def _index_problem(conn: sqlite3.Connection) -> tuple[str, int] | None:
    """The first disagreement between a query index and the chained rows, if any."""
    conn.create_function("congvu_lower", 1, lambda v: None if v is None else v.lower(),
                         deterministic=True)
    # SQLite's JSON functions (3.40) end a string at an escaped NUL; stored text keeps
    # it, so a stored value is also compared cut at its first NUL.
    conn.create_function("congvu_cut", 1,
                         lambda v: v.split("\0", 1)[0] if isinstance(v, str) else v,
                         deterministic=True)
    for name, missing, expected_count, stored, expected in _INDEXES:
        row = conn.execute(f"SELECT * FROM ({missing}) ORDER BY 1 LIMIT 1").fetchone()
        if row is not None:
            return (f"the {name} index lost or changed an entry of record {row[0]} "
                    f"({', '.join(map(str, row[1:]))})", int(row[0]))
        want = conn.execute(expected_count).fetchone()[0] or 0
        have = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        if have != want:
            row = conn.execute(
                f"SELECT * FROM ({stored}) EXCEPT SELECT * FROM ({expected}) "
                "ORDER BY 1 LIMIT 1"
            ).fetchone()
            seq = int(row[0]) if row else 0
            detail = f" ({', '.join(map(str, row[1:]))})" if row else ""
            return (f"the {name} index has an entry record {seq} does not carry{detail}", seq)
    return None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :func:`verify_chain`: intact, or the first problem and its record."""

    is_intact: bool
    events: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    problem: str | None = None
    seq: int | None = None
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One paragraph an administrator can read."""
        if self.is_intact:
            span = f"{self.first_seq}-{self.last_seq}" if self.events else "none"
            text = (
                f"intact: {self.events} events (seq {span}), "
                f"{self.checkpoints} signed checkpoints checked"
            )
        else:
            text = f"NOT intact: {self.problem}"
        return "\n".join([text, *(f"note: {n}" for n in self.notes)])


def _rows(conn: sqlite3.Connection) -> Iterator[tuple[object, ...]]:
    cursor = conn.execute(
        f"SELECT seq, hash, {', '.join(HASHED_COLUMNS)} FROM events ORDER BY seq"
    )
    while True:
        chunk = cursor.fetchmany(_CHUNK)
        if not chunk:
            return
        yield from chunk


def _broken(
    row: tuple[object, ...], expected: str, prev_seq: int | None, before: str | None,
    following: tuple[object, ...] | None,
) -> str:
    """Classify a broken link at ``row`` (whose own hash is consistent).

    ``expected`` is the previous row's hash, ``before`` the hash of the row before
    that, ``following`` the next row.
    """
    seq, prev = row[0], row[-1]
    if following is not None and prev == following[1] and following[-1] == expected:
        return f"records {seq} and {following[0]} were reordered"
    if following is not None and following[-1] == expected:
        return f"record {seq} was inserted (the chain continues without it)"
    if before is not None and prev == before and prev_seq is not None:
        return f"record {prev_seq} was inserted (the chain continues without it)"
    if prev_seq is not None and isinstance(seq, int) and seq > prev_seq + 1:
        gone = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1}-{seq - 1}"
        return f"record(s) {gone} were removed (the chain breaks before record {seq})"
    return (
        f"the chain breaks before record {seq}: a record before it was removed, "
        "changed or replaced"
    )


def verify_chain(
    conn: sqlite3.Connection, *, exported: Checkpoint | None = None
) -> VerifyReport:
    """Verify the whole chain, every stored checkpoint, and an exported one if given."""
    checkpoints = {
        int(r[0]): Checkpoint(*r) for r in conn.execute(
            "SELECT seq, hash, at, public_key, signature FROM checkpoints"
        )
    }
    notes: list[str] = []
    keys = {cp.public_key for cp in checkpoints.values()}
    if len(keys) > 1:
        notes.append(f"checkpoints are signed by {len(keys)} different keys")
    for cp in sorted(checkpoints.values(), key=lambda c: c.seq):
        if not cp.is_valid():
            return VerifyReport(False, 0, None, None, len(checkpoints),
                                f"the checkpoint at record {cp.seq} has a bad signature",
                                cp.seq, notes)
    if exported is not None:
        if not exported.is_valid():
            return VerifyReport(False, 0, None, None, len(checkpoints),
                                "the exported checkpoint's signature is not valid",
                                exported.seq, notes)
        if keys and exported.public_key not in keys:
            notes.append("the exported checkpoint is signed by a key the store does not use")
    count, first, last = 0, None, None
    expected, prev_seq, before = GENESIS, None, None
    rows = _rows(conn)

    def fail(problem: str, seq: object) -> VerifyReport:
        return VerifyReport(False, count, first, last, len(checkpoints), problem,
                            seq if isinstance(seq, int) else None, notes)

    row = next(rows, None)
    if row is not None:
        first = int(row[0])  # type: ignore[call-overload]
        if first != 1:
            boundary = checkpoints.get(first - 1)
            if boundary is None:
                return fail(
                    f"records 1-{first - 1} are missing and no signed checkpoint "
                    "vouches for their removal by retention", first,
                )
            expected, prev_seq = boundary.hash, boundary.seq
            notes.append(f"records 1-{first - 1} were removed by retention")
    while row is not None:
        following = next(rows, None)
        seq = row[0]
        if tuple_hash(row[2:]) != row[1]:
            return fail(f"record {seq} was changed (its content does not match its hash)", seq)
        if row[-1] != expected:
            return fail(_broken(row, expected, prev_seq, before, following), seq)
        if prev_seq is not None and isinstance(seq, int) and seq != prev_seq + 1:
            return fail(f"record(s) {prev_seq + 1}-{seq - 1} are missing", seq)
        signed = checkpoints.get(seq) if isinstance(seq, int) else None
        if signed is not None and signed.hash != row[1]:
            return fail(f"record {seq} differs from its signed checkpoint", seq)
        if exported is not None and exported.seq == seq and exported.hash != row[1]:
            return fail(f"the chain up to record {seq} differs from the exported checkpoint",
                        seq)
        before, expected, prev_seq = expected, str(row[1]), int(seq)  # type: ignore[call-overload]
        count, last = count + 1, prev_seq
        row = following
    latest = max(checkpoints, default=0)
    if latest and (last is None or latest > last):
        return fail(
            f"records {0 if last is None else last + 1}-{latest} were removed from the end "
            f"(a signed checkpoint covers record {latest})", latest,
        )
    if exported is not None:
        if last is None or exported.seq > last:
            return fail(
                f"records up to {exported.seq} were removed from the end "
                f"(the exported checkpoint covers record {exported.seq})", exported.seq,
            )
        if first is not None and exported.seq < first - 1:
            notes.append(
                f"the exported checkpoint (record {exported.seq}) predates the retention "
                f"boundary (record {first - 1}); the chain is verified from the boundary"
            )
    index = _index_problem(conn)
    if index is not None:
        return fail(*index)
    return VerifyReport(True, count, first, last, len(checkpoints), None, None, notes)
