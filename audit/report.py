"""The periodic report: one definition, counted by one code path for every format.

Per unit and period, one record is one message (audit/README.md has the table):
``sent``, ``sent_refused``, ``sent_held`` count the unit's own mail (trusted path
only, :mod:`audit.attribution`); ``received`` and ``received_refused`` the mail to
it; ``forgery_attempts`` the inbound mail whose From claimed it and that congvu
refused or held as forged; ``documents_*`` the documents attached to its sent mail.
The DKIM, S/MIME and DMARC columns follow.

One SQL pass (:mod:`audit.reportsql`) reads each message of the period once, with
its latest completion and the facts the columns need; Python then adds each message
to the units it counts for, so that a subtotal or total can count each message once
(a message to two units is received once in the total).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from audit.renames import (
    UnitRenames,
    load_renames,
    read_units,
    renamed_message,
    rolled_roster,
)
from audit.reportsql import (
    NO_DOCUMENTS,
    Fate,
    Message,
    chain_head,
    messages,
    quarantine_fates,
    released_ids,
)
from audit.reporttree import tree
from audit.reportuse import (
    REGULAR_MIN,
    Calendar,
    OfficialUse,
    RosterMailbox,
    SentTally,
    Use,
    official_use,
)
from audit.summaryschema import COUNTED, SEP, is_current, midnight, whole_days
from mailbase import Period

TOP_CORRESPONDENTS = 5

#: The columns of the definition, in order (CSV and JSON names).
FIELDS: tuple[str, ...] = (
    "sent", "sent_refused", "sent_held", "received", "received_refused",
    "forgery_attempts", "documents_sent", "documents_signed", "documents_valid",
    "dkim_signed", "smime_signed", "dmarc_checked", "dmarc_pass", "spoof_refused",
    "documents_valid_gov", "documents_valid_public", "documents_received",
    "documents_received_valid", "documents_received_complete", "documents_sealed",
    "documents_complete", "classified_marked", "legacy_encoded",
)
_INDEX = {name: i for i, name in enumerate(FIELDS)}


@dataclass(frozen=True, slots=True)
class Counts:
    """The report's counts over a set of messages (a unit, a mailbox, the total).

    ``dkim_signed`` and ``smime_signed`` count sent messages carrying congvu's
    signature; ``dmarc_checked``, ``dmarc_pass`` and ``spoof_refused`` count the
    messages addressed to the unit (whatever became of them) that went through the
    DMARC check, passed it (a forgery never passes), and were refused as forging a
    provincial sender.
    """

    sent: int = 0
    sent_refused: int = 0
    sent_held: int = 0
    received: int = 0
    received_refused: int = 0
    forgery_attempts: int = 0
    documents_sent: int = 0
    documents_signed: int = 0
    documents_valid: int = 0
    dkim_signed: int = 0
    smime_signed: int = 0
    dmarc_checked: int = 0
    dmarc_pass: int = 0
    spoof_refused: int = 0
    #: of documents_valid: a valid signature chains to a government PKI root, or
    #: (and none to a government one) to the public PKI's national root
    documents_valid_gov: int = 0
    documents_valid_public: int = 0
    #: the documents columns over received mail (each message once per unit)
    documents_received: int = 0
    documents_received_valid: int = 0
    documents_received_complete: int = 0
    #: of documents_valid: with a valid organisation signature of the sending unit,
    #: and complete (a valid person's signature, then a valid organisation signature
    #: of a directory unit covering the whole document), as recorded when judged
    documents_sealed: int = 0
    documents_complete: int = 0
    #: the unit's own messages (sent, refused or held) the policy found marked
    #: classified, or typed in a legacy encoding
    classified_marked: int = 0
    legacy_encoded: int = 0

    @property
    def documents_valid_other(self) -> int:
        """Valid documents whose root is neither the government's nor the public
        national root, or was not recorded (documents judged before families were)."""
        return self.documents_valid - self.documents_valid_gov - self.documents_valid_public

    @property
    def dkim_share(self) -> float:
        """The share of sent messages that left DKIM-signed (0 when none was sent)."""
        return self.dkim_signed / self.sent if self.sent else 0.0

    @property
    def smime_share(self) -> float:
        """The share of sent messages that left S/MIME-signed (0 when none was sent)."""
        return self.smime_signed / self.sent if self.sent else 0.0

    @property
    def dmarc_share(self) -> float:
        """The share of DMARC-checked messages that passed (0 when none was checked)."""
        return self.dmarc_pass / self.dmarc_checked if self.dmarc_checked else 0.0


@dataclass(frozen=True, slots=True)
class MailboxReport:
    """One mailbox of a unit: the sender's address for the sent columns, the
    recipient's address for the received ones."""

    address: str
    counts: Counts
    #: an active mailbox of the roster: its official's use (None for other addresses)
    official: OfficialUse | None = None


@dataclass(frozen=True, slots=True)
class UnitReport:
    """One unit's use of official e-mail in the period."""

    unit_id: str
    counts: Counts
    mailboxes: list[MailboxReport] = field(default_factory=list)
    #: the addresses it exchanged most messages with (recipients of its sent mail,
    #: senders of its received mail)
    correspondents: list[tuple[str, int]] = field(default_factory=list)
    #: the use of its officials' mailboxes (None: no roster was given)
    use: Use | None = None
    #: its depth in the directory's tree as shown (0 without a tree)
    depth: int = 0
    #: the unit and every unit below it shown, each message once (None: no unit below
    #: it is shown, or the subtree is the whole report, whose total it would repeat)
    subtotal: Counts | None = None


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The log's newest event when the report was counted: its position and hash."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Report:
    """The report for one period: a row per unit, and the total over them."""

    period: Period
    units: list[UnitReport]
    total: Counts
    #: the use of the roster's mailboxes over every unit reported (None: no roster)
    use: Use | None = None
    #: every active roster mailbox of the units reported, by unit and address
    officials: list[OfficialUse] = field(default_factory=list)
    #: where the chain stood when the figures were read (None: an empty log)
    head: ChainHead | None = None
    #: messages a month that make a mailbox used regularly
    regular_min: int = REGULAR_MIN

    @property
    def not_using(self) -> list[OfficialUse]:
        """The officials whose mailbox was not used regularly in the period."""
        return [o for o in self.officials if not o.is_regular]


class _Tally:
    """Counts being added up (a list, not a dataclass: this runs per message)."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values = [0] * len(FIELDS)

    def add(self, increments: Iterable[tuple[int, int]]) -> None:
        for index, n in increments:
            self.values[index] += n

    def add_values(self, values: Sequence[int]) -> None:
        for index, n in enumerate(values):
            if n:
                self.values[index] += n

    def counts(self) -> Counts:
        return Counts(*self.values)


def _pairs(**columns: int) -> list[tuple[int, int]]:
    return [(_INDEX[name], n) for name, n in columns.items() if n]


# Column positions, for the per-message code below (it runs for every message).
(_SENT, _SENT_REFUSED, _SENT_HELD, _RECEIVED, _RECEIVED_REFUSED, _DOCS_SENT, _DOCS_SIGNED,
 _DOCS_VALID, _DKIM, _SMIME, _DMARC_CHECKED, _DMARC_PASS, _SPOOF_REFUSED, _DOCS_GOV,
 _DOCS_PUBLIC, _DOCS_RECEIVED, _DOCS_RECEIVED_VALID, _DOCS_RECEIVED_COMPLETE, _DOCS_SEALED,
 _DOCS_COMPLETE) = (
    _INDEX[name] for name in (
        "sent", "sent_refused", "sent_held", "received", "received_refused",
        "documents_sent", "documents_signed", "documents_valid", "dkim_signed",
        "smime_signed", "dmarc_checked", "dmarc_pass", "spoof_refused",
        "documents_valid_gov", "documents_valid_public", "documents_received",
        "documents_received_valid", "documents_received_complete", "documents_sealed",
        "documents_complete"))


def _sent_side(msg: Message) -> list[tuple[int, int]]:
    """What a message adds to its sender unit's columns (trusted path only)."""
    if msg.sender is None:
        return []
    if msg.fate is Fate.DELIVERED:
        found = [(_SENT, 1)]
        if msg.documents is not NO_DOCUMENTS:
            n, signed, valid, gov, public, _, sealed, complete = msg.documents
            found += ((_DOCS_SENT, n), (_DOCS_SIGNED, signed), (_DOCS_VALID, valid),
                      (_DOCS_GOV, gov), (_DOCS_PUBLIC, public), (_DOCS_SEALED, sealed),
                      (_DOCS_COMPLETE, complete))
        if msg.dkim_pass:
            found.append((_DKIM, 1))
        if msg.smime_pass:
            found.append((_SMIME, 1))
        return found
    if msg.fate is Fate.REFUSED:
        return [(_SENT_REFUSED, 1)]
    if msg.fate is Fate.HELD:
        return [(_SENT_HELD, 1)]
    return []


_MARKED, _LEGACY = _INDEX["classified_marked"], _INDEX["legacy_encoded"]


def _flagged(msg: Message) -> list[tuple[int, int]]:
    """What the policy's findings add to the sender unit's columns, whatever became of
    the message (a marked message is usually held), once it has a fate."""
    if msg.sender is None or msg.fate is None:
        return []
    return [(i, 1) for i, on in ((_MARKED, msg.is_marked), (_LEGACY, msg.is_legacy)) if on]


def _received_side(msg: Message) -> list[tuple[int, int]]:
    """What a message adds to each of its recipient units' columns."""
    found = []
    if msg.fate is Fate.DELIVERED:
        found.append((_RECEIVED, 1))
        if msg.documents is not NO_DOCUMENTS:
            n, _, valid, _, _, complete, _, _ = msg.documents
            found += ((_DOCS_RECEIVED, n), (_DOCS_RECEIVED_VALID, valid),
                      (_DOCS_RECEIVED_COMPLETE, complete))
    # a forgery counts for the unit it claimed, not as mail refused to its recipients
    elif msg.fate is Fate.REFUSED and not msg.is_forged:
        found.append((_RECEIVED_REFUSED, 1))
    if msg.dmarc_checked:
        found.append((_DMARC_CHECKED, 1))
    if msg.dmarc_pass:
        found.append((_DMARC_PASS, 1))
    if msg.spoof_refused:
        found.append((_SPOOF_REFUSED, 1))
    return found


def sent_figures(msg: Message) -> list[tuple[int, int]]:
    """What a message adds to its sending unit's columns (its mailbox's and the
    total's): (column index in :data:`FIELDS`, count) pairs."""
    return _sent_side(msg) + _flagged(msg)


def received_figures(msg: Message) -> list[tuple[int, int]]:
    """What a message adds to each of its recipient units' columns (once to a total or
    subtotal holding any of them)."""
    return _received_side(msg)


class _Builder:
    """Adds messages to units, mailboxes and the total (each message once there)."""

    def __init__(self, units: Sequence[str], listed: Sequence[str],
                 tally: SentTally | None = None,
                 parents: Mapping[str, str | None] | None = None) -> None:
        self.tally = tally
        self.named = list(dict.fromkeys(units))
        self.scope = set(self.named) or None  # None: every unit
        # the units shown even without mail, first and in the caller's order (or the
        # tree's, when the caller gives each unit's parent)
        shown = [u for u in dict.fromkeys([*listed, *self.named]) if self._in(u)]
        self.tree = tree(shown, parents or {})
        if parents is not None:
            shown = self.tree.order
        self.units: dict[str, _Tally] = {u: _Tally() for u in shown}
        self.listed = len(shown)
        self.heads = {u: h for u, h in self.tree.heads.items() if h}
        self.subtotals: dict[str, _Tally] = {h: _Tally() for h in self.tree.size}
        self.boxes: dict[str, dict[str, _Tally]] = {}
        self.talk: dict[str, Counter[str]] = {}
        self.total = _Tally()

    def _in(self, unit: str) -> bool:
        return self.scope is None or unit in self.scope

    def _unit(self, unit: str) -> _Tally:
        return self.units.setdefault(unit, _Tally())

    def _box(self, unit: str, address: str) -> _Tally:
        return self.boxes.setdefault(unit, {}).setdefault(address, _Tally())

    def add(self, msg: Message) -> None:
        sent = sent_figures(msg)
        if sent and msg.sender is not None and self._in(msg.sender):
            self._unit(msg.sender).add(sent)
            for head in self.heads.get(msg.sender, ()):
                self.subtotals[head].add(sent)
            self._box(msg.sender, msg.mailbox).add(sent)
            self.total.add(sent)
            if msg.fate is Fate.DELIVERED:
                self.talk.setdefault(msg.sender, Counter()).update(
                    {address for address, _ in msg.recipients})
                if self.tally is not None:
                    self.tally.add(msg.envelope_sender, msg.at)
        if msg.is_forged and msg.claimed is not None and self._in(msg.claimed):
            forged = _pairs(forgery_attempts=1)
            self._unit(msg.claimed).add(forged)
            self.total.add(forged)
            for head in self.heads.get(msg.claimed, ()):
                self.subtotals[head].add(forged)
        received = _received_side(msg)
        mine = [u for u in msg.recipient_units if self._in(u)]
        if not received or not mine:
            return
        self.total.add(received)  # once, however many of its units are in scope
        if self.heads:  # and once in each subtotal holding any of them
            for head in {h for u in mine for h in self.heads.get(u, ())}:
                self.subtotals[head].add(received)
        for unit in mine:
            self._unit(unit).add(received)
            if msg.fate is Fate.DELIVERED and msg.envelope_sender:
                self.talk.setdefault(unit, Counter())[msg.envelope_sender] += 1
        for address, unit in {(a, u) for a, u in msg.recipients if u is not None and u in mine}:
            self._box(unit, address).add(received)

    def add_sent_row(self, unit: str, mailbox: str, values: Sequence[int],
                     day: str, last: str | None) -> None:
        """A day of the summary's figures of one unit's mailbox (``''``: forgeries
        claiming the unit), as :meth:`add` adds its messages."""
        if not self._in(unit) or not any(values):
            return
        self._unit(unit).add_values(values)
        for head in self.heads.get(unit, ()):
            self.subtotals[head].add_values(values)
        self.total.add_values(values)
        if not mailbox:
            return
        self._box(unit, mailbox).add_values(values)
        if self.tally is not None and values[_SENT] and last is not None:
            self.tally.add_day(mailbox if mailbox != "<>" else "", day, values[_SENT], last)

    def add_received_row(self, units: Sequence[str], values: Sequence[int]) -> None:
        """The summary's figures of the messages received by exactly ``units``."""
        mine = [u for u in dict.fromkeys(units) if self._in(u)]
        if not mine or not any(values):
            return
        self.total.add_values(values)
        if self.heads:
            for head in {h for u in mine for h in self.heads.get(u, ())}:
                self.subtotals[head].add_values(values)
        for unit in mine:
            self._unit(unit).add_values(values)

    def add_box_row(self, units: Sequence[str], unit: str, address: str,
                    values: Sequence[int]) -> None:
        """The summary's figures of a recipient mailbox of the messages received by
        exactly ``units``."""
        if unit in units and self._in(unit) and any(values):
            self._box(unit, address).add_values(values)

    def add_talk_row(self, side: str, units: Sequence[str], address: str, n: int) -> None:
        """The summary's count of messages between a unit (side ``s``: the one unit
        that sent them; ``r``: the units that received them) and a correspondent."""
        for unit in dict.fromkeys(units) if side == "r" else units[:1]:
            if self._in(unit) and n:
                self.talk.setdefault(unit, Counter())[address] += n

    def in_scope(self, roster: Sequence[RosterMailbox]) -> list[RosterMailbox]:
        """The roster's mailboxes of the units reported."""
        return [m for m in roster if self._in(m.unit_id)]

    def report(self, period: Period, officials: list[OfficialUse] | None = None, *,
               head: ChainHead | None, regular_min: int) -> Report:
        by_unit: dict[str, dict[str, OfficialUse]] = {}
        for official in officials or ():
            unit, address = official.mailbox.unit_id, official.mailbox.address
            by_unit.setdefault(unit, {})[address] = official
            self._box(unit, address)  # shown even without mail
            self._unit(unit)
        units = list(self.units)
        order = units[:self.listed] + sorted(units[self.listed:])
        found = [self._unit_report(u, by_unit.get(u, {}) if officials is not None else None)
                 for u in order]
        total = None if officials is None else sum((o.use for o in officials), Use())
        listed = sorted(officials or (), key=lambda o: (order.index(o.mailbox.unit_id),
                                                         o.mailbox.address))
        return Report(period, found, self.total.counts(), use=total, officials=listed,
                      head=head, regular_min=regular_min)

    def _unit_report(self, unit: str, officials: dict[str, OfficialUse] | None) -> UnitReport:
        boxes = {a: t.counts() for a, t in self.boxes.get(unit, {}).items()}

        def volume(address: str) -> tuple[int, str]:
            c = boxes[address]
            return (-(c.sent + c.sent_refused + c.sent_held + c.received
                      + c.received_refused), address)

        talk = self.talk.get(unit, Counter())
        top = sorted(talk.items(), key=lambda item: (-item[1], item[0]))[:TOP_CORRESPONDENTS]
        mine = officials or {}
        subtotal = self.subtotals.get(unit)
        return UnitReport(
            unit_id=unit, counts=self._unit(unit).counts(),
            mailboxes=[MailboxReport(a, boxes[a], mine.get(a))
                       for a in sorted(boxes, key=volume)],
            correspondents=top,
            use=None if officials is None else sum((o.use for o in mine.values()), Use()),
            depth=self.tree.depth.get(unit, 0),
            subtotal=None if subtotal is None or self.tree.size[unit] == len(self.units)
            else subtotal.counts(),
        )


def _summary_days(conn: sqlite3.Connection, period: Period, head: tuple[int, str] | None,
                  tz: tzinfo | None) -> tuple[date, date] | None:
    """The days of ``period`` the summary can answer (audit/summaryschema.py): whole
    days of its zone, when it describes this state of the log; with ``tz`` (the use
    per official counts days there), only when that zone's days are the same."""
    days = whole_days(period.start, period.end)
    if days is None or not is_current(conn, head[0] if head else 0):
        return None
    if tz is not None:
        first, after = days
        for n in range((after - first).days + 1):
            day = first + timedelta(days=n)
            if datetime.combine(day, time(0), tzinfo=tz) != midnight(day):
                return None
    return days


def _spans(period: Period, days: tuple[date, date] | None) -> list[Period]:
    """The parts of ``period`` read from the records: all of it, or what lies outside
    the summary's days."""
    if days is None:
        return [period]
    start, end = midnight(days[0]), midnight(days[1])
    return [Period(period.label, a, b) for a, b in ((period.start, start), (end, period.end))
            if a < b]


def _add_summary(conn: sqlite3.Connection, builder: _Builder, days: tuple[date, date],
                 renames: UnitRenames, rolled: Mapping[str, str]) -> None:
    """The summary's figures of ``days`` (the first, and the one after the last), each
    unit named as the log is read now (renames, then predecessors rolled)."""
    bounds = (days[0].isoformat(), days[1].isoformat())
    named: dict[tuple[int, str], str] = {}

    def unit(stretch: int, written: str) -> str:
        found = named.get((stretch, written))
        if found is None:
            now = renames.resolve(written, stretch) if renames else written
            found = named[(stretch, written)] = rolled.get(now, now)
        return found

    def units(stretch: int, written: str) -> list[str]:
        return [unit(stretch, u) for u in written.split(SEP)]

    width = len(COUNTED)
    for row in conn.execute(f"SELECT day, stretch, unit, mailbox, {', '.join(COUNTED)}, "
                            "last_sent FROM summary_sent WHERE day >= ? AND day < ?", bounds):
        builder.add_sent_row(unit(row[1], row[2]), row[3], row[4:4 + width], row[0],
                             row[4 + width])
    sums = ", ".join(f"sum({c})" for c in COUNTED)
    for row in conn.execute(f"SELECT stretch, units, {sums} FROM summary_received "
                            "WHERE day >= ? AND day < ? GROUP BY stretch, units", bounds):
        builder.add_received_row(units(row[0], row[1]), [int(v) for v in row[2:]])
    for row in conn.execute(f"SELECT stretch, units, unit, address, {sums} FROM summary_boxes "
                            "WHERE day >= ? AND day < ? GROUP BY stretch, units, unit, address",
                            bounds):
        builder.add_box_row(units(row[0], row[1]), unit(row[0], row[2]), row[3],
                            [int(v) for v in row[4:]])
    for stretch, side, written, address, n in conn.execute(
            "SELECT stretch, side, units, address, sum(n) FROM summary_talk "
            "WHERE day >= ? AND day < ? GROUP BY stretch, side, units, address", bounds):
        builder.add_talk_row(side, units(stretch, written), address, int(n))


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: every figure, and the chain head, from one state of the log."""
    if conn.in_transaction:  # the caller's own transaction already is one
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.rollback()  # nothing was written


def build_report(conn: sqlite3.Connection, period: Period, units: Sequence[str] = (), *,
                 listed: Sequence[str] = (), roster: Sequence[RosterMailbox] | None = None,
                 regular_min: int = REGULAR_MIN, tz: tzinfo = UTC,
                 parents: Mapping[str, str | None] | None = None,
                 rolled: Mapping[str, str] | None = None) -> Report:
    """The report for ``period`` over ``units`` (none named: every unit).

    The units of ``listed`` (say, a directory's, in its order), then the other units
    named, come first, with zeros when they had no mail; any other unit with mail in
    the period, or with an active mailbox on ``roster``, follows, sorted. The total
    counts each message of those units once. With ``parents`` (unit id -> parent id,
    the directory's tree), the units shown come in the tree's order, parents first,
    and each unit with units below it shown gets a subtotal over them all, each
    message once (:mod:`audit.reporttree`). With ``roster``, the use columns are
    counted too (:mod:`audit.reportuse`), by the days and months of ``tz``. A record
    written before a rename of units counts for the renamed units
    (:mod:`audit.renames`); with ``rolled`` (a predecessor -> the successor it is
    counted under), a predecessor's mail and officials count for its successor, each
    message once.
    """
    with _snapshot(conn):
        head = chain_head(conn)
        held = quarantine_fates(conn)
        builder = _Builder(units, listed, parents=parents)
        if roster is not None and rolled:
            roster = rolled_roster(roster, rolled)
        mailboxes = builder.in_scope(roster) if roster is not None else []
        if roster is not None:
            builder.tally = SentTally((m.address for m in mailboxes), Calendar(period, tz))
        read = read_units(builder.named, rolled) if rolled else builder.named
        renames = load_renames(conn)
        days = _summary_days(conn, period, head, tz if roster is not None else None)
        for span in _spans(period, days):
            for msg in messages(conn, span, read, held=held, renames=renames):
                builder.add(renamed_message(msg, lambda u: rolled.get(u, u)) if rolled else msg)
        if days is not None:
            _add_summary(conn, builder, days, renames, rolled or {})
        officials = None
        if builder.tally is not None:
            officials = official_use(conn, mailboxes, builder.tally, period,
                                     regular_min=regular_min, released=released_ids(held))
    return builder.report(period, officials, head=ChainHead(*head) if head else None,
                          regular_min=regular_min)
