"""Walk the hash chain and the checkpoints; name the first record that is wrong.

What can be detected: a changed row (its hash no longer matches its content), a
removed row (a gap in ``seq`` and a broken link), an inserted row, two rows swapped,
rows removed from the end up to the newest signed checkpoint, a forged or altered
checkpoint. What cannot, without a checkpoint exported elsewhere: rows removed from
the end after the newest checkpoint, or a whole chain rewritten by someone who also
holds the checkpoint key (see audit/README.md).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from audit.chain import GENESIS, Checkpoint, tuple_hash
from audit.keys import Accepted, Enrolment, KeyTrust, accept, fingerprint
from audit.links import link_problem
from audit.records import AdminKind
from audit.rows import iso
from audit.schema import CHAIN_SPAN, HASHED_COLUMNS

CHECKPOINT_COLUMNS = ("seq, hash, at, public_key, signature, every_records, every_seconds, "
                      "batch_from, link_from, link, link_signature")
# Clocks of the servers sharing a store, and a commit that takes a moment.
SCHEDULE_SLACK_SECONDS = 60
_AT = 2 + HASHED_COLUMNS.index("at")
_ADMIN_KIND = 2 + HASHED_COLUMNS.index("admin_kind")
_RECORD_ID = 2 + HASHED_COLUMNS.index("record_id")
_STOP = AdminKind.SERVICE_STOP.value
_ENROLLED = AdminKind.KEY_ENROLLED.value

_CHUNK = 5000

# The query indexes, checked against the chained rows: a row deleted from
# ``memberships`` would hide a record from its unit's auditor. Each index is checked
# by an anti-join (every entry the chained rows imply is there, found through the
# primary key) and a count (nothing more is there); only when the count is off is
# the costly set difference run, to name the record.
IndexCheck = tuple[str, str, str, str, str]
INDEXES: list[IndexCheck] = [
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
        "AND a.size = CAST(json_extract(j.value, '$.size') AS BIGINT) "
        "AND a.document IS json_extract(j.value, '$.document') "
        "AND (a.filename IS json_extract(j.value, '$.filename') "
        "OR congvu_cut(a.filename) IS json_extract(j.value, '$.filename')))",
        "SELECT SUM(json_array_length(detail, '$.attachments')) FROM events "
        "WHERE kind = 'message'",
        "SELECT record_id, position, sha256, filename, size FROM attachments",
        "SELECT e.seq, j.key, json_extract(j.value, '$.sha256'), "
        "json_extract(j.value, '$.filename'), CAST(json_extract(j.value, '$.size') AS BIGINT) "
        "FROM events e, json_each(e.detail, '$.attachments') j WHERE e.kind = 'message'",
    ),
]


def _index_problem(conn: sqlite3.Connection, indexes: Sequence[IndexCheck]
                   ) -> tuple[str, int] | None:
    """The first disagreement between a query index and the chained rows, if any."""
    conn.create_function("congvu_lower", 1, lambda v: None if v is None else v.lower(),
                         deterministic=True)
    # SQLite's JSON functions (3.40) end a string at an escaped NUL; stored text keeps
    # it, so a stored value is also compared cut at its first NUL.
    conn.create_function("congvu_cut", 1,
                         lambda v: v.split("\0", 1)[0] if isinstance(v, str) else v,
                         deterministic=True)
    for name, missing, expected_count, stored, expected in indexes:
        row = conn.execute(f"SELECT * FROM ({missing}) AS missing ORDER BY 1 LIMIT 1").fetchone()
        if row is not None:
            return (f"the {name} index lost or changed an entry of record {row[0]} "
                    f"({', '.join(map(str, row[1:]))})", int(row[0]))
        want = conn.execute(expected_count).fetchone()[0] or 0
        have = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        if have != want:
            row = conn.execute(
                f"SELECT * FROM ({stored}) AS stored EXCEPT SELECT * FROM ({expected}) AS expected "
                "ORDER BY 1 LIMIT 1"
            ).fetchone()
            seq = int(row[0]) if row else 0
            detail = f" ({', '.join(map(str, row[1:]))})" if row else ""
            return (f"the {name} index has an entry record {seq} does not carry{detail}", seq)
    return None


@dataclass(frozen=True, slots=True)
class ChainScope:
    """Which chain of a store a walk reads: the live chain (``chain`` None, ``base``
    0), or a chain imported at ``base`` (its rows are the store's ids ``base + n``,
    where ``n`` is the position its own log gave them; audit/chains.py)."""

    chain: str | None = None
    base: int = 0

    @property
    def end(self) -> int:
        """The first store id past this chain's span."""
        return self.base + CHAIN_SPAN

    def where(self, column: str = "seq") -> str:
        """SQL: ``column`` is an id of this chain (constants only: no parameters)."""
        return f"{column} > {self.base} AND {column} < {self.end}"

    def position(self, store_id: int) -> int:
        """A store id as its chain numbers it."""
        return store_id - self.base


LIVE = ChainScope()


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
    #: each imported chain's own report, by chain id (the live chain's is this one)
    chains: tuple[tuple[str, VerifyReport], ...] = ()
    #: the live chain's own report, when an imported chain's problem is this one's
    live: VerifyReport | None = None
    #: the newest trusted checkpoint the walk matched (what an incremental verify
    #: starts from next time: audit/verified.py)
    verified: Checkpoint | None = None

    def describe(self) -> str:
        """One paragraph an administrator can read; with imported chains, one more per
        chain."""
        if not self.chains:
            return self._describe()
        lines = [f"live chain: {(self.live or self)._describe()}"]
        lines.extend(f"chain {chain}: {report._describe()}" for chain, report in self.chains)
        return "\n".join(lines)

    def with_chains(self, chains: Sequence[tuple[str, VerifyReport]]) -> VerifyReport:
        """This (the live chain's) report with the imported chains' beside it: intact
        only when every chain is; the first problem is the live chain's, else that of
        the first chain that has one, named."""
        report = replace(self, chains=tuple(chains))
        if not self.is_intact:
            return report
        for chain, found in chains:
            if not found.is_intact:
                return replace(report, is_intact=False, live=report,
                               problem=f"chain {chain}: {found.problem}", seq=found.seq)
        return report

    def _describe(self) -> str:
        if self.is_intact:
            span = f"{self.first_seq}-{self.last_seq}" if self.events else "none"
            text = (
                f"intact: {self.events} events (seq {span}), "
                f"{self.checkpoints} signed checkpoints checked"
            )
        else:
            text = f"NOT intact: {self.problem}"
        return "\n".join([text, *(f"note: {n}" for n in self.notes)])


def _rows(conn: sqlite3.Connection, scope: ChainScope = LIVE, *,
          after: int = 0) -> Iterator[tuple[object, ...]]:
    """The chain's rows in order (those after record ``after``), numbered as the chain
    numbers them."""
    # One lower bound: SQLite's scan of a primary key range takes one of several, and
    # given the chain's own it read every row up to ``after`` to skip it, so that an
    # incremental verify took longer as the log grew.
    cursor = conn.execute(
        f"SELECT seq, hash, {', '.join(HASHED_COLUMNS)} FROM events "
        f"WHERE seq > {scope.base + max(int(after), 0)} AND seq < {scope.end} ORDER BY seq"
    )
    base = scope.base
    while True:
        chunk = cursor.fetchmany(_CHUNK)
        if not chunk:
            return
        if not base:
            yield from chunk
            continue
        for row in chunk:
            # the store keeps an imported row at its chain's span; its hash is of the
            # position (and completed record) its own log gave it
            values: list[Any] = list(row)
            values[0] = int(values[0]) - base
            if values[_RECORD_ID] is not None:
                values[_RECORD_ID] = int(values[_RECORD_ID]) - base
            yield tuple(values)


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


def checkpoints_of(conn: sqlite3.Connection, scope: ChainScope = LIVE
                   ) -> dict[int, Checkpoint]:
    """Every stored checkpoint of the chain, by record (as the chain numbers them)."""
    if scope.chain is None:
        return {int(r[0]): Checkpoint(*r) for r in conn.execute(
            f"SELECT {CHECKPOINT_COLUMNS} FROM checkpoints")}
    return {int(r[0]): Checkpoint(*r) for r in conn.execute(
        f"SELECT {CHECKPOINT_COLUMNS} FROM imported_checkpoints WHERE chain = ?",
        (scope.chain,))}


def enrolments_of(conn: sqlite3.Connection, scope: ChainScope = LIVE) -> list[Enrolment]:
    """Every ``audit-key-enrolled`` event of the chain that names a key, oldest first."""
    found = (Enrolment.from_detail(scope.position(int(seq)), str(detail))
             for seq, detail in conn.execute(
                 "SELECT seq, detail FROM events WHERE kind = 'admin' AND admin_kind = ? "
                 f"AND {scope.where()} ORDER BY seq", (_ENROLLED,)))
    return [e for e in found if e is not None]


def _untrusted(cps: list[Checkpoint], accepted: Accepted, trust: KeyTrust) -> str | None:
    """The first checkpoint signed by a key that does not count, described."""
    for cp in cps:
        fp = fingerprint(cp.public_key)
        if fp not in accepted:
            where = ("the exported checkpoint" if cp.seq < 0 else
                     f"the checkpoint at record {cp.seq}")
            return (f"{where} is signed by key {fp}, which is not trusted (trusted: "
                    f"{trust.describe_roots()}): the log was re-signed by someone else, or "
                    "that key is yours and must be pinned")
    return None


@dataclass(frozen=True, slots=True)
class _Window:
    """Records ``after < seq < before`` were committed without a checkpoint, so their
    times must lie within the earlier checkpoint's schedule."""

    after: int
    before: int
    deadline: str
    earlier: Checkpoint


def _schedule_problem(cps: list[Checkpoint]) -> tuple[list[_Window], tuple[str, int] | None]:
    """The time windows to check during the walk, and a record-count gap if any."""
    windows: list[_Window] = []
    for earlier, later in itertools.pairwise(cps):
        schedule = earlier.schedule
        if schedule is None or later.batch_from is None:
            continue  # written before schedules were signed
        unsigned = later.batch_from - 1 - earlier.seq
        if unsigned >= schedule.every_records:
            return windows, (
                f"{unsigned} records after the checkpoint at record {earlier.seq} went "
                f"unsigned, but its schedule signs every {schedule.every_records}: the "
                f"checkpoints between it and record {later.seq} were removed", later.seq)
        limit = datetime.fromisoformat(earlier.at) + timedelta(
            seconds=schedule.every_seconds + SCHEDULE_SLACK_SECONDS)
        windows.append(_Window(earlier.seq, later.batch_from, iso(limit), earlier))
    return windows, None


def verify_chain(
    conn: sqlite3.Connection, *, exported: Checkpoint | None = None, trust: KeyTrust,
    indexes: Sequence[IndexCheck] = INDEXES, scope: ChainScope = LIVE,
    since: Checkpoint | None = None,
) -> VerifyReport:
    """Verify the whole chain, every stored checkpoint, and an exported one if given.

    Only checkpoints of keys that ``trust`` accepts (or that a trusted checkpoint's
    enrolment event adds, audit/keys.py) count; any other is tampering. ``scope``: the
    live chain (whose walk also checks the query indexes of every chain), or an
    imported chain, walked and reported as its own log numbered it. ``since``: a
    checkpoint verified before (audit/verified.py): only the rows after it and the
    checkpoints from it on are read, so the time is that of what was added since.
    """
    checkpoints = checkpoints_of(conn, scope)
    if since is not None:
        stored = checkpoints.get(since.seq)
        if stored is not None and stored.hash != since.hash:
            return VerifyReport(False, 0, None, None, len(checkpoints),
                                f"the stored checkpoint at record {since.seq} is not the "
                                "one verified before: checkpoints were replaced", since.seq)
        checkpoints = {seq: cp for seq, cp in checkpoints.items() if seq > since.seq}
        checkpoints[since.seq] = since
    notes: list[str] = []
    keys = {cp.public_key for cp in checkpoints.values()}
    if len(keys) > 1:
        notes.append(f"checkpoints are signed by {len(keys)} different keys")
    ordered = sorted(checkpoints.values(), key=lambda c: c.seq)
    for cp in ordered:
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
    accepted = accept(trust, [*ordered, *([exported] if exported else [])],
                      enrolments_of(conn, scope))
    problem = _untrusted(ordered, accepted, trust)
    if problem is None and exported is not None:
        problem = _untrusted([replace(exported, seq=-1)], accepted, trust)
    if problem is not None:
        return VerifyReport(False, 0, None, None, len(checkpoints), problem, None, notes)
    windows, gap = _schedule_problem(ordered)
    if gap is not None:
        return VerifyReport(False, 0, None, None, len(checkpoints), *gap, notes)
    window = iter(windows)
    current = next(window, None)
    count, first, last, last_at, last_stop = 0, None, None, "", 0
    expected, prev_seq, before = GENESIS, None, None
    start = 0 if since is None else since.seq  # the rows up to it were verified before
    rows = _rows(conn, scope, after=start)

    def fail(problem: str, seq: object) -> VerifyReport:
        return VerifyReport(False, count, first, last, len(checkpoints), problem,
                            seq if isinstance(seq, int) else None, notes)

    row = next(rows, None)
    if since is not None:
        expected, prev_seq = since.hash, since.seq
        notes.append(f"from the checkpoint at record {since.seq} ({since.at}), verified "
                     f"before: records up to {since.seq} were not read again (a full "
                     "verify reads them, and checks the query indexes and imported chains)")
    if row is not None:
        first = int(row[0])  # type: ignore[call-overload]
        if first != start + 1:
            boundary = checkpoints.get(first - 1)
            if boundary is None:
                return fail(
                    f"records {start + 1}-{first - 1} are missing and no signed checkpoint "
                    "vouches for their removal by retention", first,
                )
            expected, prev_seq = boundary.hash, boundary.seq
            notes.append(f"records {start + 1}-{first - 1} were removed by retention")
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
        count, last, last_at = count + 1, prev_seq, str(row[_AT])
        while current is not None and prev_seq >= current.before:
            current = next(window, None)
        if current is not None and current.after < prev_seq and last_at > current.deadline:
            return fail(_late(prev_seq, last_at, current), prev_seq)
        if row[_ADMIN_KIND] == _STOP:
            last_stop = prev_seq
        row = following
    latest = max(checkpoints, default=0)
    end = last if last is not None else (start or None)  # the last record verified
    if latest and (end is None or latest > end):
        return fail(
            f"records {0 if end is None else end + 1}-{latest} were removed from the end "
            f"(a signed checkpoint covers record {latest})", latest,
        )
    if count and not checkpoints:
        return fail(f"the store holds {count} events and no signed checkpoint: its "
                    "checkpoints were deleted (every writer signs one with its first event)",
                    first)
    if last_stop > latest:
        return fail(f"the service stopped cleanly at record {last_stop}, and a clean stop is "
                    "always signed, but no checkpoint covers it: checkpoints were removed",
                    last_stop)
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
    index = (_index_problem(conn, indexes) if indexes else None) or link_problem(
        conn, checkpoints, base=scope.base)
    if index is not None:
        return fail(*index)
    notes.extend(_trust_notes(trust, accepted, bool(checkpoints)))
    if last is not None and last > latest:
        notes.append(f"not yet covered by a checkpoint: {last - latest} events, "
                     f"newest at {last_at}")
    return VerifyReport(True, count, first, last, len(checkpoints), None, None, notes,
                        verified=checkpoints.get(latest))


def _late(seq: int, at: str, window: _Window) -> str:
    schedule = window.earlier.schedule
    assert schedule is not None
    return (f"record {seq} (at {at}) went unsigned although the checkpoint at record "
            f"{window.earlier.seq} ({window.earlier.at}) schedules the next one within "
            f"{schedule.every_seconds:g} s; no checkpoint follows until record "
            f"{window.before}: checkpoints were removed or the chain rewritten")


def _trust_notes(trust: KeyTrust, accepted: Accepted, has_checkpoints: bool) -> list[str]:
    notes = []
    if has_checkpoints and not trust.is_pinned:
        notes.append(f"no checkpoint key is pinned: trusted {trust.describe_roots()}")
    notes.extend(f"accepted key {fp} without a pin: {accepted.reasons[fp]}"
                 for fp in accepted.not_pinned)
    return notes
