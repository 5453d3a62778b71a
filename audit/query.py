"""The auditors' reads: filtered, paginated record summaries; one record; a document's trail.

The SQL here is portable (plain SELECTs, ``?`` parameters, no SQLite functions) except
for full-text search, which the :class:`Dialect` supplies (audit/pgstore.py brings
PostgreSQL's). The reads span every chain of the store (audit/chains.py): each summary
and trace entry names the imported chain it is of (``chain``, None for the live chain),
and :func:`show` gives ``chain`` for an imported chain's event.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from audit.attribution import TRUSTED, attributed, claimed_by, sent_by
from audit.errors import AuditError, QueryError
from audit.records import Action, Direction, Fate
from audit.renames import NO_RENAMES, UnitRenames, load_renames
from audit.rows import iso
from mailbase import fold

T = TypeVar("T")
MAX_PAGE_SIZE = 1000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_WORD = re.compile(r"\w+")
_OUTCOMES = {o.value for o in Fate} | {"incomplete"}
_RESULTS = {"pass", "fail", "neutral", "none", "temperror", "permerror", "policy", "softfail"}


class Dialect:
    """What differs between SQL stores: full-text search (this one is SQLite FTS5), and
    how a lookup finds its records."""

    #: which events are records, when a lookup (sender, Message-ID, queue id) narrows
    #: the query: SQLite keeps no statistics of the log, and would read every record
    #: through ``events_kind_at`` and test each rather than take the few the lookup's
    #: own index names; the unary ``+`` keeps ``kind`` off that index
    records_looked_up = "+e.kind = 'message'"

    def text_search(self, words: Sequence[str]) -> tuple[str, list[Any]]:
        """A condition on ``e.seq`` matching records whose folded text has every word."""
        match = " ".join(f'"{w}"' for w in words)
        return "e.seq IN (SELECT rowid FROM search WHERE search MATCH ?)", [match]


@dataclass(frozen=True, slots=True)
class Filters:
    """What an auditor asks for; every field narrows the result (AND).

    ``units``: mail these units are involved in (sent, received, or claimed by the
    From of untrusted mail); with direction ``outbound``, mail they sent.
    ``sender_units``: mail these units sent (the trusted path only).
    ``recipient_units``: mail delivered to these units.
    """

    units: tuple[str, ...] = ()
    sender_units: tuple[str, ...] = ()
    recipient_units: tuple[str, ...] = ()
    direction: Direction | None = None
    since: datetime | None = None
    until: datetime | None = None
    sender: str | None = None
    recipient: str | None = None
    text: str | None = None
    message_id: str | None = None
    queue_id: str | None = None
    sha256: str | None = None
    filename: str | None = None
    action: Action | None = None
    dkim: str | None = None
    smime: str | None = None
    outcome: str | None = None  # a Fate value, or "incomplete" (no completion)
    page: int = 1
    page_size: int = 50

    def check(self) -> None:
        """Refuse filters that cannot mean anything.

        :raises QueryError: naming the filter, the value and the reason.
        """
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise QueryError(name, value, "a time needs its offset (or use the CLI, "
                                 "which reads dates in the configured zone)")
        if self.since and self.until and self.since >= self.until:
            raise QueryError("until", self.until, "must be after since")
        if self.sha256 is not None and not _SHA256.match(self.sha256.lower()):
            raise QueryError("sha256", self.sha256, "must be 64 hexadecimal digits")
        if self.text is not None and not _WORD.findall(fold(self.text)):
            raise QueryError("text", self.text, "has no words to search for")
        for name in ("dkim", "smime"):
            value = getattr(self, name)
            if value is not None and value not in _RESULTS:
                raise QueryError(name, value, f"must be one of {', '.join(sorted(_RESULTS))}")
        if self.outcome is not None and self.outcome not in _OUTCOMES:
            raise QueryError("outcome", self.outcome,
                             f"must be one of {', '.join(sorted(_OUTCOMES))}")
        if self.page < 1:
            raise QueryError("page", self.page, "pages are numbered from 1")
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise QueryError("page_size", self.page_size, f"must be 1 to {MAX_PAGE_SIZE}")
        for name, units in (("unit", self.units), ("sender_unit", self.sender_units),
                            ("recipient_unit", self.recipient_units)):
            if any(not unit.strip() for unit in units):
                raise QueryError(name, units, "a unit id cannot be empty")


@dataclass(frozen=True, slots=True)
class RecordSummary:
    """One line of a query's result."""

    id: int
    received_at: datetime
    direction: str
    listener: str
    envelope_sender: str
    header_from: str | None
    subject: str | None
    recipients: int
    attachments: int
    size: int
    action: str
    outcome: str | None  # None: no completion yet (in flight, or the filter died)
    dkim: str | None
    smime: str | None
    #: the unit that sent it: set on the trusted path only (audit/attribution.py)
    sender_unit: str | None
    queue_id: str | None
    message_id: str | None
    #: the unit the From of untrusted (inbound) mail claims: never its sender
    claimed_unit: str | None = None
    #: the imported chain it is of (audit/chains.py); None: the live chain
    chain: str | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results and where it sits in the whole."""

    items: list[T]
    total: int
    page: int
    page_size: int

    @property
    def has_more(self) -> bool:
        """Whether later pages exist."""
        return self.page * self.page_size < self.total


_SUMMARY = """
    e.seq, e.at, e.direction, e.listener, e.envelope_sender, e.header_from, e.subject,
    (SELECT count(*) FROM recipients r WHERE r.record_id = e.seq) AS recipients,
    (SELECT count(*) FROM attachments a WHERE a.record_id = e.seq) AS attachments,
    e.size, e.action,
    (SELECT c.outcome FROM events c WHERE c.record_id = e.seq AND c.kind = 'completion'
     ORDER BY c.seq DESC LIMIT 1) AS outcome,
    e.dkim, e.smime, e.sender_unit, e.queue_id, e.message_id, e.chain
"""


def _members(units: Sequence[str], role: str | None, filters: Filters,
             renames: UnitRenames) -> tuple[str, list[Any]]:
    """A condition on the memberships index's rows ``m``: those of ``units`` (in
    ``role`` when given) in the period; a record written before a rename of units is a
    member by its renamed ids."""
    cond, params = renames.condition("m.unit_id", "m.record_id", units)
    if role is not None:
        cond += " AND m.role = ?"
        params.append(role)
    if filters.since:
        cond += " AND m.at >= ?"
        params.append(iso(filters.since))
    if filters.until:
        cond += " AND m.at < ?"
        params.append(iso(filters.until))
    return cond, params


def _members_alone(filters: Filters, renames: UnitRenames) -> tuple[str, list[Any]] | None:
    """The matching records as the memberships index's rows alone (each record once:
    its ``at`` and ``seq``), when one unit filter and at most a period are all the
    filters (``units``, or ``recipient_units``; ``sender_units`` also asks for the
    trusted path, which only the record says); None otherwise.

    The index says what the records' rows would: only records have members, each on
    its record's ``at`` (verify's index checks hold it to the chain). Read through the
    records instead, each of the unit's records in the period was fetched to test its
    kind and time again and to order the page: PostgreSQL read as many rows of
    ``events`` as the unit has records in the period (twice, for the total and the
    page), past its buffers as the log grew, and its time grew faster than SQLite's;
    here the total and the page are read from the index."""
    alone = Filters(units=filters.units, recipient_units=filters.recipient_units,
                    since=filters.since, until=filters.until, page=filters.page,
                    page_size=filters.page_size)
    if filters != alone or bool(filters.units) == bool(filters.recipient_units):
        return None
    units, role = ((filters.units, None) if filters.units
                   else (filters.recipient_units, "received"))
    cond, params = _members(units, role, filters, renames)
    return f"SELECT DISTINCT m.at, m.record_id AS seq FROM memberships m WHERE {cond}", params


def _found(filters: Filters, dialect: Dialect, renames: UnitRenames
           ) -> tuple[str, str, list[Any]]:
    """Two SELECTs with the same ``params``: how many records match, and their ``seq``
    newest first."""
    members = _members_alone(filters, renames)
    if members is not None:
        keys, params = members
        return (f"SELECT count(*) FROM ({keys}) k",
                f"{keys} ORDER BY m.at DESC, m.record_id DESC", params)
    where, params = _where(filters, dialect, renames)
    return (f"SELECT count(*) FROM events e WHERE {where}",
            f"SELECT e.seq FROM events e WHERE {where} ORDER BY e.at DESC, e.seq DESC", params)


def _where(filters: Filters, dialect: Dialect, renames: UnitRenames = NO_RENAMES
           ) -> tuple[str, list[Any]]:
    is_looked_up = bool(filters.sender or filters.message_id or filters.queue_id)
    conds: list[str] = [dialect.records_looked_up if is_looked_up else "e.kind = 'message'"]
    params: list[Any] = []
    # outbound mail of a unit is mail it sent, not mail others sent to it
    involved = "sent" if filters.direction is Direction.OUTBOUND else None
    for units, role in ((filters.units, involved), (filters.sender_units, "sent"),
                        (filters.recipient_units, "received")):
        if units:
            cond, more = _members(units, role, filters, renames)
            conds.append(f"e.seq IN (SELECT m.record_id FROM memberships m WHERE {cond})")
            params.extend(more)
    if filters.sender_units:
        # a unit sends only on the trusted path; inbound mail's From only claims one
        conds.append("e.direction = ?")
        params.append(TRUSTED)
    if filters.since:
        conds.append("e.at >= ?")
        params.append(iso(filters.since))
    if filters.until:
        conds.append("e.at < ?")
        params.append(iso(filters.until))
    if filters.direction:
        conds.append("e.direction = ?")
        params.append(filters.direction.value)
    if filters.sender:
        conds.append("e.envelope_sender IN (?, ?)")
        params.extend([filters.sender, filters.sender.lower()])
    if filters.recipient:
        conds.append("e.seq IN (SELECT record_id FROM recipients WHERE address = ?)")
        params.append(filters.recipient.lower())
    if filters.text:
        cond, more = dialect.text_search(_WORD.findall(fold(filters.text)))
        conds.append(cond)
        params.extend(more)
    if filters.message_id:
        bare = filters.message_id.strip().strip("<>")
        conds.append("e.message_id IN (?, ?)")
        params.extend([bare, f"<{bare}>"])
    if filters.queue_id:
        conds.append("e.queue_id = ?")
        params.append(filters.queue_id)
    if filters.sha256:
        conds.append("e.seq IN (SELECT record_id FROM attachments WHERE sha256 = ?)")
        params.append(filters.sha256.lower())
    if filters.filename:
        conds.append("e.seq IN (SELECT record_id FROM attachments WHERE filename_folded = ?)")
        params.append(fold(filters.filename))
    if filters.action:
        conds.append("e.action = ?")
        params.append(filters.action.value)
    for name in ("dkim", "smime"):
        if getattr(filters, name):
            conds.append(f"e.{name} = ?")
            params.append(getattr(filters, name))
    if filters.outcome == "incomplete":
        conds.append("NOT EXISTS (SELECT 1 FROM events c WHERE c.kind = 'completion' "
                     "AND c.record_id = e.seq)")
    elif filters.outcome:
        conds.append("(SELECT c.outcome FROM events c WHERE c.kind = 'completion' AND "
                     "c.record_id = e.seq ORDER BY c.seq DESC LIMIT 1) = ?")
        params.append(filters.outcome)
    return " AND ".join(conds), params


def _summary(row: Sequence[Any], renames: UnitRenames = NO_RENAMES) -> RecordSummary:
    (seq, at, direction, listener, sender, header_from, subject, recipients, attachments,
     size, action, outcome, dkim, smime, unit, queue_id, message_id, chain) = row
    unit = renames.unit(unit, seq)
    return RecordSummary(
        seq, datetime.fromisoformat(at), direction, listener, sender, header_from, subject,
        recipients, attachments, size, action, outcome, dkim, smime,
        sender_unit=sent_by(direction, unit), queue_id=queue_id, message_id=message_id,
        claimed_unit=claimed_by(direction, unit), chain=chain)


def query(conn: sqlite3.Connection, filters: Filters, dialect: Dialect | None = None
          ) -> Page[RecordSummary]:
    """One page of the records matching ``filters``, newest first.

    :raises QueryError: bad filters.
    """
    filters.check()
    renames = load_renames(conn)
    counted, found, params = _found(filters, dialect or Dialect(), renames)
    total = conn.execute(counted, params).fetchone()[0]
    # the page's records found and ordered first, their summaries made for them alone: a
    # lookup's records are ordered after they are read, and a summary made for each of
    # them (three subqueries) before the order, as SQLite makes it, cost nearly three
    # times as much for a sender of 15,000 records
    rows = conn.execute(
        f"SELECT {_SUMMARY} FROM ({found} LIMIT ? OFFSET ?) p JOIN events e ON e.seq = p.seq "
        "ORDER BY e.at DESC, e.seq DESC",
        [*params, filters.page_size, (filters.page - 1) * filters.page_size],
    ).fetchall()
    return Page([_summary(r, renames) for r in rows], int(total), filters.page,
                filters.page_size)


def iter_records(conn: sqlite3.Connection, filters: Filters, dialect: Dialect | None = None
                 ) -> Iterator[dict[str, Any]]:
    """Every matching record in full (for export), oldest first, ignoring pagination."""
    filters.check()
    renames = load_renames(conn)
    where, params = _where(filters, dialect or Dialect(), renames)
    cursor = conn.execute(f"SELECT e.seq FROM events e WHERE {where} ORDER BY e.seq", params)
    for (seq,) in cursor.fetchall():
        yield show(conn, seq, renames)


def count(conn: sqlite3.Connection, filters: Filters, dialect: Dialect | None = None) -> int:
    """How many records match."""
    filters.check()
    counted, _, params = _found(filters, dialect or Dialect(), load_renames(conn))
    return int(conn.execute(counted, params).fetchone()[0])


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One sending of a document: to whom, when, and what became of it."""

    record_id: int
    received_at: datetime
    filename: str | None
    envelope_sender: str
    sender_unit: str | None  # set on the trusted path only (audit/attribution.py)
    recipients: list[str]
    recipient_units: list[str]
    subject: str | None
    outcome: str | None
    reply: str | None
    completed_at: datetime | None = field(default=None)
    #: the document's signature verdict and its signatures, when verified
    document: str | None = field(default=None)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    #: the unit the From of untrusted mail claims
    claimed_unit: str | None = field(default=None)
    #: the imported chain it is of (audit/chains.py); None: the live chain
    chain: str | None = field(default=None)


def trace(conn: sqlite3.Connection, sha256: str) -> list[TraceEntry]:
    """Every message that carried the document with this SHA-256, oldest first.

    :raises QueryError: not a SHA-256.
    """
    Filters(sha256=sha256).check()
    rows = conn.execute(
        "SELECT e.seq, e.at, a.filename, e.envelope_sender, e.sender_unit, e.subject, "
        "e.detail, a.position, e.direction, e.chain FROM attachments a "
        "JOIN events e ON e.seq = a.record_id "
        "WHERE a.sha256 = ? ORDER BY e.seq, a.position", (sha256.lower(),),
    ).fetchall()
    entries, seen = [], set()
    renames = load_renames(conn)
    for seq, at, filename, sender, unit, subject, detail, position, direction, chain in rows:
        if seq in seen:
            continue
        seen.add(seq)
        data = json.loads(detail)
        unit = renames.unit(unit, seq)
        attachment = data["attachments"][position] if position < len(
            data["attachments"]) else {}
        done = conn.execute(
            "SELECT outcome, reply, at FROM events WHERE kind = 'completion' AND record_id = ? "
            "ORDER BY seq DESC LIMIT 1", (seq,),
        ).fetchone()
        entries.append(TraceEntry(
            seq, datetime.fromisoformat(at), filename, sender, sent_by(direction, unit),
            data["envelope_recipients"],
            list(dict.fromkeys(renames.resolve(u, seq) for u in data["recipient_units"])),
            subject, done[0] if done else None, done[1] if done else None,
            datetime.fromisoformat(done[2]) if done else None,
            attachment.get("document"), attachment.get("signatures") or [],
            claimed_by(direction, unit), chain,
        ))
    return entries


def show(conn: sqlite3.Connection, record_id: int, renames: UnitRenames | None = None
         ) -> dict[str, Any]:
    """One event in full: its columns, its detail, and (for messages) its completions;
    a message's units renamed as the log's later unit renames say (``renames``: the
    log's, when the caller has read them; audit/renames.py).

    A message's stored ``sender_unit`` is shown as ``sender_unit`` only when the unit
    sent it (trusted path), else as ``claimed_unit`` (audit/attribution.py).

    :raises AuditError: no such record.
    """
    conn_rows = conn.execute("SELECT * FROM events WHERE seq = ?", (record_id,))
    names = [d[0] for d in conn_rows.description]
    row = conn_rows.fetchone()
    if row is None:
        raise AuditError(f"no audit record {record_id}")
    record = {k: v for k, v in zip(names, row, strict=True) if v is not None}
    record["id"] = record.pop("seq")
    record["detail"] = json.loads(record["detail"])
    if record["kind"] == "message":
        record.update(record.pop("detail"))
        record["received_at"] = record.pop("at")
        record["completions"] = [
            {"id": s, "at": a, "outcome": o, "reply": r, "ms": ms}
            for s, a, o, r, ms in conn.execute(
                "SELECT seq, at, outcome, reply, processing_ms FROM events "
                "WHERE kind = 'completion' AND record_id = ? ORDER BY seq", (record_id,),
            )
        ]
    return attributed((load_renames(conn) if renames is None else renames).record(record))


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    """A message record as the archive reads it: what it names and whose it is."""

    record_id: int
    #: the SHA-256 of the archived message, None when none was archived
    sha256: str | None
    received_at: datetime
    direction: str
    #: the units whose mail it is: outbound its sender unit, then its recipient units
    units: tuple[str, ...]
    #: the envelope sender and recipients, lower-cased
    addresses: tuple[str, ...]


def archived(conn: sqlite3.Connection, *, since: datetime | None = None,
             record_id: int | None = None) -> Iterator[ArchivedRecord]:
    """Each message record received at ``since`` or later, and each quarantine release
    that archived the message it relayed, or event ``record_id`` only, oldest first:
    every chain's (an imported chain's messages are in the shared archive once ``congvu
    store migrate`` copied its server's archive; audit/chains.py)."""
    sha = "json_extract(detail, '$.archived_sha256')"
    sql = (f"SELECT seq, {sha}, at, kind, direction, sender_unit, "
           "json_extract(detail, '$.recipient_units'), envelope_sender, "
           "json_extract(detail, '$.envelope_recipients'), json_extract(detail, "
           "'$.direction') FROM events WHERE (kind = 'message' OR (kind = 'admin' AND "
           f"admin_kind = 'quarantine-release' AND {sha} IS NOT NULL))")
    params: list[Any] = []
    if record_id is not None:
        sql += " AND seq = ?"
        params.append(record_id)
    if since is not None:
        sql += " AND at >= ?"
        params.append(iso(since))
    renames = load_renames(conn)
    for (seq, sha256, at, kind, direction, unit, units, sender, recipients,
         released) in conn.execute(sql + " ORDER BY seq", params):
        unit = renames.unit(unit, seq)  # a merger's new ids (audit/renames.py)
        if kind == "admin":  # a release: its unit is the held message's
            yield ArchivedRecord(int(seq), sha256, datetime.fromisoformat(at), released,
                                 (unit,) if unit else (), ())
            continue
        sent = (unit,) if unit and sent_by(direction, unit) else ()
        addresses = [sender, *json.loads(recipients or "[]")] if sender else \
            json.loads(recipients or "[]")
        received = (renames.resolve(u, seq) for u in json.loads(units or "[]"))
        yield ArchivedRecord(int(seq), sha256, datetime.fromisoformat(at), direction,
                             tuple(dict.fromkeys((*sent, *received))),
                             tuple(a.lower() for a in addresses))


def admin_events(conn: sqlite3.Connection, *, since: datetime | None = None,
                 until: datetime | None = None, kind: str | None = None,
                 limit: int = 1000) -> list[dict[str, Any]]:
    """Administrative events (releases, deletions, directory and key changes, grants,
    retention), newest first."""
    conds, params = ["kind = 'admin'"], []
    if since:
        conds.append("at >= ?")
        params.append(iso(since))
    if until:
        conds.append("at < ?")
        params.append(iso(until))
    if kind:
        conds.append("admin_kind = ?")
        params.append(kind)
    rows = conn.execute(
        "SELECT seq, at, admin_kind, actor, target, sender_unit, detail FROM events "
        f"WHERE {' AND '.join(conds)} ORDER BY seq DESC LIMIT ?", [*params, limit],
    ).fetchall()
    return [{"id": seq, "at": at, "kind": k, "actor": actor, "target": target,
             "unit_id": unit, "details": json.loads(detail)}
            for seq, at, k, actor, target, unit, detail in rows]
