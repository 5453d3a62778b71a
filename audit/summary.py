"""The report's summary, kept with the log: counted on every append, made again from the
records on demand, and checked against them by ``audit verify``.

What the tables hold is in audit/summaryschema.py. Each message adds to them what the
report's own code (:func:`audit.report.sent_figures` and
:func:`audit.report.received_figures`) says it adds, read by the report's own query
(:func:`audit.reportsql.stretched`), so the report reads the same figures from a day of
the summary as from that day's records.

On append (:func:`maintain`, in the append's transaction, on both backends) the
batch's messages are counted, and a message whose fate the batch changes (its
completion, the release or deletion of what it held) is taken out as it stood before the
batch and counted again as it stands after it. The shared store counts most batches
so before the chain's lock instead (:func:`ahead`), and the database server adds the
figures under it unless an event appended since makes them out of date (audit/pgstore.py);
both count a message with :class:`Counted`. A rebuild (:func:`rebuild`) counts the
records a month at a time, each month in a write transaction of its own, so mail keeps
flowing meanwhile; :func:`check` counts them again and compares.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from audit.errors import AuditError
from audit.records import AdminEvent, AdminKind, AuditRecord, Completion, Operation
from audit.records import Fate as Outcome
from audit.report import FIELDS, received_figures, sent_figures
from audit.reportsql import (
    HELD_REPLY,
    Fate,
    Message,
    Stretched,
    Written,
    decide,
    quarantine_fates,
    stretched,
    stretched_known,
)
from audit.rows import iso
from audit.schema import CHAIN_SPAN
from audit.summaryschema import (
    KEYS,
    NOT_BUILT,
    SEP,
    added,
    chains_text,
    day_of,
    is_current,
    live_head,
    midnight,
)
from audit.verify import VerifyReport

if TYPE_CHECKING:
    from audit.interface import Item
    from audit.store import AuditLog

log = logging.getLogger("congvu.audit")

_WIDTH = len(FIELDS)
_SENT = FIELDS.index("sent")
_FORGED = FIELDS.index("forgery_attempts")
_HELD_KINDS = (AdminKind.QUARANTINE_RELEASE.value, AdminKind.QUARANTINE_DELETE.value)


class _Fates(Mapping[str, Fate]):
    """The quarantine fates, read only when a message's fate needs them (most batches
    hold no quarantined message)."""

    def __init__(self, load: Callable[[], dict[str, Fate]]) -> None:
        self._load = load
        self._fates: dict[str, Fate] | None = None

    def _all(self) -> dict[str, Fate]:
        if self._fates is None:
            self._fates = self._load()
        return self._fates

    def __getitem__(self, key: str) -> Fate:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


@dataclass(slots=True)
class Counted:
    """Figures being added up, by table and key: a vector of :data:`COUNTED` (and, for
    ``summary_sent``, the last time a message counted as sent left), or a count."""

    vectors: dict[tuple[str, tuple[Any, ...]], list[int]] = field(default_factory=dict)
    last: dict[tuple[Any, ...], str] = field(default_factory=dict)
    talk: dict[tuple[Any, ...], int] = field(default_factory=dict)
    #: summary_sent keys a message counted as sent was taken out of (its last time
    #: must be read again)
    unsent: set[tuple[Any, ...]] = field(default_factory=set)

    def _add(self, table: str, key: tuple[Any, ...], pairs: Sequence[tuple[int, int]],
             sign: int) -> None:
        vector = self.vectors.get((table, key))
        if vector is None:
            vector = self.vectors[(table, key)] = [0] * _WIDTH
        for index, n in pairs:
            vector[index] += sign * n

    def add(self, msg: Message, stretch: int, sign: int = 1) -> None:
        """What ``msg`` (units as written) adds to the summary, times ``sign``."""
        day = day_of(msg.at)
        sent = sent_figures(msg)
        delivered = msg.fate is Fate.DELIVERED
        if sent and msg.sender is not None:
            key = (day, stretch, msg.sender, msg.mailbox)
            self._add("summary_sent", key, sent, sign)
            if delivered:
                if sign > 0:
                    if msg.at > self.last.get(key, ""):
                        self.last[key] = msg.at
                else:
                    self.unsent.add(key)
                for address in {address for address, _ in msg.recipients}:
                    self._talk((day, stretch, "s", msg.sender, address), sign)
        if msg.is_forged and msg.claimed is not None:
            self._add("summary_sent", (day, stretch, msg.claimed, ""), [(_FORGED, 1)], sign)
        received = received_figures(msg)
        if not received or not msg.recipient_units:
            return
        units = SEP.join(sorted(set(msg.recipient_units)))
        self._add("summary_received", (day, stretch, units), received, sign)
        if delivered and msg.envelope_sender:
            self._talk((day, stretch, "r", units, msg.envelope_sender), sign)
        for address, unit in {(a, u) for a, u in msg.recipients if u is not None}:
            self._add("summary_boxes", (day, stretch, units, unit, address), received, sign)

    def _talk(self, key: tuple[Any, ...], sign: int) -> None:
        self.talk[key] = self.talk.get(key, 0) + sign

    def add_all(self, found: Iterator[Stretched]) -> None:
        """Each message found, and each one's earlier state taken out."""
        for each in found:
            if each.before is not None:
                self.add(each.before, each.stretch, -1)
            self.add(each.message, each.stretch)

    def rows(self) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """Each table's rows that change (a key whose figures add up to nothing is left
        out), as (table, key + values)."""
        for (table, key), vector in self.vectors.items():
            if any(vector) or (table == "summary_sent" and key in self.last):
                extra = (self.last.get(key),) if table == "summary_sent" else ()
                yield table, (*key, *vector, *extra)
        for key, n in self.talk.items():
            if n:
                yield "summary_talk", (*key, n)


@functools.cache  # a batch upserts into each table: its statement made once
def _upsert(table: str) -> str:
    columns, conflict = added(table)
    return (f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) {conflict}")


def _write(conn: sqlite3.Connection, counted: Counted) -> None:
    by_table: dict[str, list[tuple[Any, ...]]] = {table: [] for table in KEYS}
    for table, row in counted.rows():
        by_table[table].append(row)
    for table, rows in by_table.items():
        if rows:
            conn.executemany(_upsert(table), rows)


def counts_before_completion(record: AuditRecord) -> bool:
    """Whether a message record adds anything to the summary before its completion: only
    its DMARC results can (checked, passed, refused or held as forged; every other column
    waits for its fate), so the other records are counted with their completion."""
    return any(a.method == "dmarc" and a.operation is Operation.VERIFY
               for a in record.authentication)


def maintain(conn: sqlite3.Connection, *, head_before: int, head_after: int,
             records: Sequence[int], completed: Sequence[int],
             held_targets: Sequence[str],
             known: Mapping[int, Sequence[Any]] | None = None) -> None:
    """Count a batch just appended (positions ``head_before`` + 1 to ``head_after``) in
    the summary, in the append's transaction: its message ``records``, the messages
    ``completed`` by its completions and those whose held message its admin events
    released or deleted (``held_targets``: quarantine ids). A summary that described
    the log before the batch describes it after. A record left out of ``records``
    must add nothing before its completion (:func:`counts_before_completion`).
    ``known``: the rows of messages the caller appended (:func:`~audit.reportsql.columns_of`,
    by position), which are not read back."""
    affected = set(records) | set(completed) | _held_by(conn, held_targets)
    if affected:
        before = head_before + 1
        held = _Fates(lambda: quarantine_fates(conn))
        held_before = _Fates(lambda: quarantine_fates(conn, before))
        rows = {seq: known[seq] for seq in affected if known is not None and seq in known}
        rest = sorted(affected - rows.keys())
        counted = Counted()
        if rows:
            counted.add_all(stretched_known(conn, rows, held=held, before=before,
                                            held_before=held_before))
        if rest:
            counted.add_all(stretched(conn, f"e.seq IN ({', '.join('?' * len(rest))})", rest,
                                      held=held, before=before, held_before=held_before))
        _write(conn, counted)
        if counted.unsent:
            _last_again(conn, counted.unsent)
    # a statement with no answer, so the PostgreSQL writer sends it with the commit
    conn.executemany("UPDATE summary_state SET live_through = ? WHERE live_through = ?",
                     [(head_after, head_before)])


def _held_by(conn: sqlite3.Connection, targets: Sequence[str]) -> set[int]:
    """The records whose completions held them as one of the quarantine ids ``targets``."""
    if not targets:
        return set()
    marks = ", ".join("?" * len(targets))
    return {int(r[0]) for r in conn.execute(
        "SELECT record_id FROM events WHERE kind = 'completion' "
        f"AND outcome = 'quarantined' AND substr(reply, 1, {len(HELD_REPLY)}) = "
        f"'{HELD_REPLY}' AND trim(substr(reply, {len(HELD_REPLY) + 1})) IN ({marks})",
        list(targets))}


@dataclass(frozen=True, slots=True)
class Ahead:
    """A batch's change to the summary, counted before the chain's lock from the log as
    it stood at position ``read_head`` (None: the batch changes no figure, nothing was
    read): the figures to add (``counted``, the same :func:`maintain` adds), valid while
    no event after ``read_head`` completes one of the messages ``watched``, holds a
    message when the batch releases or deletes one (``decides_held``), or decides a held
    message, imports a chain or removes events (a database server applying it checks
    that under the lock)."""

    read_head: int | None
    watched: list[int]
    decides_held: bool
    #: the figures; a stretch -n is that of the batch's n-th event (a record counted
    #: before its completion), which only its place says
    counted: Counted


def _done(item: Completion) -> str:
    """A completion as the report reads a message's latest one: ``outcome<US>reply``."""
    return f"{item.outcome.value}{SEP}{item.reply or ''}"


#: The messages of the events given (:func:`~audit.reportsql.written`): of the store's,
#: or of a batch's not stored yet (by their positions in it, from 1).
Read = Callable[[Sequence[int]], list[Written]]


def ahead(conn: sqlite3.Connection, items: Sequence[Item], *, stored: Read, fresh: Read,
          read_head: int | None = None) -> Ahead | None:
    """Count what appending ``items`` changes in the summary, before the lock, in
    statements of their own (see :class:`Ahead`), reading the messages concerned with
    ``stored`` and the batch's own with ``fresh``; ``read_head``: the live chain's head
    as the caller read it before any read of ``stored`` (None: read here, first). None:
    it must be counted under the lock (:func:`maintain`): the batch holds a completion
    of a record the live chain holds no message of before the batch (the writer's way
    refuses one of none, of an imported chain's or of another event), or takes a
    delivered message back out (the last time its mailbox sent is counted again from its
    day's records)."""
    completions = [i for i in items if isinstance(i, Completion)]
    # a release or deletion with no target names no held message: it decides nothing
    # (audit/reportsql.py's decide), so it changes no figure
    decisions = [i for i in items if isinstance(i, AdminEvent)
                 and i.kind.value in _HELD_KINDS and i.target]
    early = [n for n, i in enumerate(items, 1)
             if isinstance(i, AuditRecord) and counts_before_completion(i)]
    counted = Counted()
    for record in fresh(early) if early else ():
        counted.add(record.message(None, {}), record.stretch)  # none completes it yet
    if not completions and not decisions:
        return Ahead(None, [], False, counted)
    if read_head is None:
        read_head = live_head(conn)  # first: what happens after it is seen, or checked
    targets = [i.target for i in decisions]
    concerned = sorted({i.record_id for i in completions} | _held_by(conn, targets))
    found = {w.seq: w for w in (stored(concerned) if concerned else ())}
    if any(i.record_id not in found or i.record_id >= CHAIN_SPAN for i in completions):
        return None
    latest = {w.seq: w.done for w in found.values()}
    after = {**latest, **{i.record_id: _done(i) for i in completions}}
    quarantined = f"{Outcome.QUARANTINED.value}{SEP}"
    held = quarantine_fates(conn) if any(
        d is not None and d.startswith(quarantined) for d in (*latest.values(), *after.values())
    ) else {}
    held_after = dict(held)
    for each in decisions:
        decide(held_after, each.kind.value, each.target)
    for seq, record in found.items():
        counted.add(record.message(latest[seq], held), record.stretch, -1)
        counted.add(record.message(after[seq], held_after), record.stretch)
    if counted.unsent:
        return None
    return Ahead(read_head, sorted(found), bool(decisions), counted)


def _last_again(conn: sqlite3.Connection, keys: set[tuple[Any, ...]]) -> None:
    """The last time sent of each ``summary_sent`` key a delivered message left (rare:
    a later completion said otherwise), counted again from its day's records."""
    for day, stretch, unit, mailbox in keys:
        start = midnight(date.fromisoformat(day))
        counted = _count_span(conn, start, start + timedelta(days=1))
        row = conn.execute(
            "SELECT last_sent FROM summary_sent WHERE day = ? AND stretch = ? AND unit = ? "
            "AND mailbox = ?", (day, stretch, unit, mailbox)).fetchone()
        if row is not None:
            conn.execute(
                "UPDATE summary_sent SET last_sent = ? WHERE day = ? AND stretch = ? "
                "AND unit = ? AND mailbox = ?",
                (counted.last.get((day, stretch, unit, mailbox)), day, stretch, unit, mailbox))


def _count_span(conn: sqlite3.Connection, start: datetime, end: datetime) -> Counted:
    """The summary of the messages received in ``[start, end)``, counted from records."""
    counted = Counted()
    counted.add_all(stretched(conn, "e.at >= ? AND e.at < ?", [iso(start), iso(end)],
                              held=_Fates(lambda: quarantine_fates(conn))))
    return counted


def _months(conn: sqlite3.Connection, until: date | None = None
            ) -> Iterator[tuple[datetime, datetime]]:
    """The months (local) from the first message's on, each as its start and end: to
    ``until`` (exclusive), else to the end of the last message's day."""
    row = conn.execute("SELECT min(at), max(at) FROM events WHERE kind = 'message'"
                       ).fetchone()
    if not row or row[0] is None:
        return
    first = date.fromisoformat(day_of(row[0])).replace(day=1)
    last = until or date.fromisoformat(day_of(row[1])) + timedelta(days=1)
    while first < last:
        after = (first + timedelta(days=32)).replace(day=1)
        yield midnight(first), midnight(min(after, last))
        first = after


def _delete(conn: sqlite3.Connection, start: datetime, end: datetime) -> None:
    first, after = day_of(iso(start)), day_of(iso(end))
    for table in KEYS:
        conn.execute(f"DELETE FROM {table} WHERE day >= ? AND day < ?", (first, after))


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What a rebuild did: the months counted, and the live chain's head it reached."""

    months: int
    head: int


def rebuild(conn: sqlite3.Connection, transaction: Callable[[], Any]) -> Rebuilt:
    """Count the summary again from the records, a month at a time, each month in a
    write transaction of its own (``transaction()``: the store's, a context manager),
    then say it describes the log.

    Until then the report reads the records; appends meanwhile count themselves in it
    as usual, so every month is right once counted, and the whole once the last is.

    :raises AuditError: a chain was imported meanwhile (run it again).
    """
    with transaction():
        mark_stale(conn)
        chains = chains_text(conn)
        for table in KEYS:
            conn.execute(f"DELETE FROM {table}")
        spans = list(_months(conn))
    for start, end in spans:
        with transaction():
            _recount(conn, start, end)
    with transaction():
        if chains_text(conn) != chains:
            raise AuditError("a chain was imported while the summary was rebuilt: "
                             "run `congvu audit summary rebuild` again")
        head = live_head(conn)
        conn.execute("UPDATE summary_state SET live_through = ?, chains = ?", (head, chains))
    return Rebuilt(len(spans), head)


def recount_before(conn: sqlite3.Connection, until: date) -> None:
    """Count again the days before ``until`` (after retention removed records of them),
    in the caller's write transaction."""
    for table in KEYS:
        conn.execute(f"DELETE FROM {table} WHERE day < ?", (until.isoformat(),))
    for start, end in list(_months(conn, until)):
        _write(conn, _count_span(conn, start, end))


def _recount(conn: sqlite3.Connection, start: datetime, end: datetime) -> None:
    _delete(conn, start, end)
    _write(conn, _count_span(conn, start, end))


def mark_stale(conn: sqlite3.Connection) -> None:
    """Say the summary no longer describes the log (the report reads the records)."""
    conn.execute(f"UPDATE summary_state SET live_through = {NOT_BUILT}")


def _stored(conn: sqlite3.Connection, start: datetime, end: datetime) -> Counted:
    first, after = day_of(iso(start)), day_of(iso(end))
    stored = Counted()
    for table, keys in KEYS.items():
        width = len(keys)
        for row in conn.execute(f"SELECT * FROM {table} WHERE day >= ? AND day < ?",
                                (first, after)):
            key = tuple(row[:width])
            if table == "summary_talk":
                stored.talk[key] = int(row[width])
                continue
            stored.vectors[(table, key)] = [int(v) for v in row[width:width + _WIDTH]]
            if table == "summary_sent" and row[-1] is not None:
                stored.last[key] = str(row[-1])
    return stored


def _difference(found: Counted, stored: Counted) -> str | None:
    """The first figure the stored summary has wrong, in words; None: none."""
    def vectors(c: Counted) -> dict[tuple[str, tuple[Any, ...]], list[int]]:
        return {k: v for k, v in c.vectors.items() if any(v)}

    want, have = vectors(found), vectors(stored)
    for key in sorted(want.keys() | have.keys(), key=repr):
        a, b = want.get(key, [0] * _WIDTH), have.get(key, [0] * _WIDTH)
        if a != b:
            table, k = key
            column = next(FIELDS[i] for i in range(_WIDTH) if a[i] != b[i])
            return (f"day {k[0]}, {_who(table, k)}: {column} is {b[FIELDS.index(column)]} "
                    f"in the summary ({table}), {a[FIELDS.index(column)]} in the records")
    for key in sorted(found.last.keys() | stored.last.keys(), key=repr):
        if found.last.get(key) != stored.last.get(key):
            return (f"day {key[0]}, {_who('summary_sent', key)}: last sent "
                    f"{stored.last.get(key)} in the summary, {found.last.get(key)} in the records")
    talk_want = {k: n for k, n in found.talk.items() if n}
    talk_have = {k: n for k, n in stored.talk.items() if n}
    for key in sorted(talk_want.keys() | talk_have.keys(), key=repr):
        if talk_want.get(key, 0) != talk_have.get(key, 0):
            return (f"day {key[0]}, {_who('summary_talk', key)}: {talk_have.get(key, 0)} "
                    f"messages in the summary, {talk_want.get(key, 0)} in the records")
    return None


def _who(table: str, key: tuple[Any, ...]) -> str:
    if table == "summary_sent":
        return f"unit {key[2]}" + (f", mailbox {key[3]}" if key[3] else " (forgeries)")
    if table == "summary_talk":
        side = "sent by unit" if key[2] == "s" else "received by units"
        return f"{side} {key[3].replace(SEP, ', ')}, correspondent {key[4]}"
    units = f"units {key[2].replace(SEP, ', ')}"
    return units + (f", mailbox {key[4]} of unit {key[3]}" if table == "summary_boxes" else "")


@dataclass(frozen=True, slots=True)
class Checked:
    """What :func:`check` found: whether the summary is in use, and the first figure it
    has wrong (None: none)."""

    is_current: bool
    problem: str | None = None


def check(conn: sqlite3.Connection) -> Checked:
    """Count the summary again from the records, a month at a time, and compare (in the
    caller's read transaction). A summary not in use (never built, or describing
    another state of the log) is not compared: the report reads the records."""
    if not is_current(conn, live_head(conn)):
        return Checked(False)
    for start, end in _months(conn):
        stored = _stored(conn, start, end)
        problem = _difference(_count_span(conn, start, end), stored)
        if problem:
            return Checked(True, f"the report summary does not match the records: {problem} "
                                 "(`congvu audit summary rebuild` counts it again)")
    return Checked(True)



def _behind(conn: sqlite3.Connection) -> str | None:
    head, chains = live_head(conn), chains_text(conn)
    row = conn.execute("SELECT live_through, chains FROM summary_state").fetchone()
    through, counted = (int(row[0]), str(row[1])) if row else (NOT_BUILT, "")
    if through == head and counted == chains:
        return None
    if through == NOT_BUILT:
        return "it was never built, or was left to be counted again"
    said = []
    if through != head:
        said.append(f"it counts the live chain up to event {through}, which is at {head}")
    new = sorted(set(chains.split(SEP)) - set(counted.split(SEP)) - {""})
    if new:
        said.append(f"chains imported since are not in it ({', '.join(new)})")
    if not said:
        said.append("chains it counts were removed since")
    return "; ".join(said)


def behind(log: AuditLog) -> str | None:
    """Why the summary does not describe ``log`` as it stands (its rows came another way:
    an older release appended, a chain was imported, a store was migrated or loaded in
    bulk), in words, read in one snapshot; None: it does. Until it does the report reads
    the records, right but slower; ``congvu audit summary rebuild`` mends it.

    :raises AuditError: the store cannot be read.
    """
    conn = log.db.conn
    try:
        if conn.in_transaction:
            return _behind(conn)
        conn.execute("BEGIN")  # a reader's snapshot on either backend
        try:
            return _behind(conn)
        finally:
            conn.rollback()
    except log.errors as exc:
        raise AuditError(f"audit store {log.path}: could not read the report summary's "
                         f"state: {exc}") from exc


def decides_held(conn: sqlite3.Connection, through: int) -> bool:
    """Whether an admin event up to ``through`` released or deleted a held message."""
    found = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM events WHERE kind = 'admin' AND admin_kind IN (?, ?) "
        f"AND seq <= ? AND seq < {CHAIN_SPAN})", (*_HELD_KINDS, through)).fetchone()
    return bool(found and found[0])


def after_prune(conn: sqlite3.Connection, *, head: int, before: datetime,
                held_decided: bool) -> None:
    """After retention removed events (all received before ``before``), in its
    transaction: the days they were on counted again from what is left. When a removed
    admin event decided a held message's fate (``held_decided``), that message's fate is
    read differently from now on, whatever its day: the summary is then left to be
    rebuilt (the report reads the records meanwhile), and a log line says so."""
    if not is_current(conn, head):
        return
    if held_decided:
        mark_stale(conn)
        log.warning('{"event": "audit-summary-stale", "why": "retention removed the '
                    'release or deletion of a held message", "next": "congvu audit summary '
                    'rebuild"}')
        return
    recount_before(conn, date.fromisoformat(day_of(iso(before))) + timedelta(days=1))


def verified(conn: sqlite3.Connection, report: VerifyReport) -> VerifyReport:
    """``audit verify``'s report with the summary checked against the records (in one
    read transaction): a figure it has wrong makes it fail, naming the day and unit."""
    if not report.is_intact:
        return report
    if conn.in_transaction:
        found = check(conn)
    else:
        conn.execute("BEGIN")
        try:
            found = check(conn)
        finally:
            conn.rollback()
    if not found.is_current:
        return replace(report, notes=[*report.notes, (
            "the report summary is not in use (never built, or rows came another way): "
            "the report reads the records; `congvu audit summary rebuild` builds it")])
    if found.problem:
        return replace(report, is_intact=False, problem=found.problem)
    return replace(report, notes=[*report.notes, "the report summary matches the records"])
