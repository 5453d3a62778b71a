"""Use per official: the roster's mailboxes against the mail the log shows they sent.

audit/ has no directory: the caller passes the roster as :class:`RosterMailbox`
values (the composition root reads them from directory/'s store). What an official
*sent* is what the report's ``sent`` column counts, by the envelope sender: mail on
the trusted path that was relayed (stripped included) or released from quarantine;
receiving mail is not use. For each active mailbox (active on the roster, made
before the period's end):

- **activated**: it sent a message since ``created`` (at any time up to the period's
  end), or the roster says the official logged in (``last_login``) after ``created``
  and before the period's end;
- **used regularly**: in every month of the period since the month of ``created`` it
  sent at least ``regular_min`` messages (on or after ``created``).

The period's messages come from the report's one pass (:meth:`SentTally.add`); only
for the mailboxes that sent nothing in the period is the log before it read
(:func:`audit.reportsql.last_sent_before`), by one grouped query.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise

from audit.reportsql import last_sent_before
from audit.rows import iso
from mailbase import AddressError, Period, parse_address

#: The default of ``[audit] regular_use_min_messages``.
REGULAR_MIN = 4


@dataclass(frozen=True, slots=True)
class RosterMailbox:
    """An official's own mailbox as the roster lists it (plain data for the report).

    ``address`` is the roster's key: the local part in lower case, the domain in
    lower-case ASCII (IDNA), as directory/'s ``Address.key``.
    """

    address: str
    unit_id: str
    full_name: str = ""
    is_active: bool = True
    #: the day the mailbox was made (the report's zone); None: not known
    created: date | None = None
    #: when the official last logged in, as the mail server last said; None: not said
    last_login: datetime | None = None


@dataclass(frozen=True, slots=True)
class Use:
    """Use of the roster's mailboxes over a unit, or over every unit reported."""

    mailboxes: int = 0  # active at the end of the period
    activated: int = 0
    regular: int = 0

    @property
    def activation_rate(self) -> float:
        """Activated mailboxes over active ones (0 when there is none)."""
        return self.activated / self.mailboxes if self.mailboxes else 0.0

    @property
    def regular_rate(self) -> float:
        """Regularly used mailboxes over active ones (0 when there is none)."""
        return self.regular / self.mailboxes if self.mailboxes else 0.0

    def __add__(self, other: Use) -> Use:
        return Use(self.mailboxes + other.mailboxes, self.activated + other.activated,
                   self.regular + other.regular)


@dataclass(frozen=True, slots=True)
class OfficialUse:
    """One active roster mailbox in the period."""

    mailbox: RosterMailbox
    is_activated: bool
    is_regular: bool
    #: messages it sent in the period, on or after ``created``
    sent: int
    #: the last message it sent up to the period's end (on or after ``created``)
    last_sent: datetime | None

    @property
    def use(self) -> Use:
        """This mailbox as a :class:`Use` of one."""
        return Use(1, int(self.is_activated), int(self.is_regular))


class Calendar:
    """The days and months of a period in its zone, as stored times (UTC ISO text),
    so that a record's ``at`` finds its day by comparing text."""

    def __init__(self, period: Period, tz: tzinfo) -> None:
        self.tz = tz
        first = period.start.astimezone(tz).date()
        last = (period.end.astimezone(tz) - timedelta(microseconds=1)).date()
        self.dates = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        self.days = [self.midnight(day) for day in self.dates]
        #: the index in ``dates`` of each month's first day
        self.months = [i for i, day in enumerate(self.dates) if i == 0 or day.day == 1]

    def midnight(self, day: date) -> str:
        """The stored form of the start of ``day`` in the period's zone."""
        return iso(datetime.combine(day, time(0), tzinfo=self.tz))

    def day(self, at: str) -> int:
        """The index of the day a stored time falls on (the period holds it)."""
        return bisect_right(self.days, at) - 1


class SentTally:
    """What each roster mailbox sent in the period: messages per day, and the last."""

    def __init__(self, keys: Iterable[str], calendar: Calendar) -> None:
        self.calendar = calendar
        self.keys = set(keys)
        self.per_day: dict[str, list[int]] = {}
        self.last: dict[str, str] = {}
        self._seen: dict[str, str | None] = {}

    def key(self, envelope_sender: str) -> str | None:
        """The roster key of an envelope sender, when it is a roster mailbox."""
        found = self._seen.get(envelope_sender, "")
        if found != "":
            return found
        key = _key(envelope_sender)
        self._seen[envelope_sender] = key if key in self.keys else None
        return self._seen[envelope_sender]

    def add(self, envelope_sender: str, at: str) -> None:
        """Count one message sent (as the ``sent`` column counts it) at ``at``."""
        key = self.key(envelope_sender)
        if key is None:
            return
        days = self.per_day.get(key)
        if days is None:
            days = self.per_day[key] = [0] * len(self.calendar.days)
        days[self.calendar.day(at)] += 1
        if at > self.last.get(key, ""):
            self.last[key] = at


    def add_day(self, envelope_sender: str, day: str, n: int, last: str) -> None:
        """Count ``n`` messages sent on ``day`` (ISO date, a day of the calendar), the
        last of them at ``last`` (a day of the report's summary)."""
        key = self.key(envelope_sender)
        if key is None:
            return
        days = self.per_day.get(key)
        if days is None:
            days = self.per_day[key] = [0] * len(self.calendar.days)
        days[(date.fromisoformat(day) - self.calendar.dates[0]).days] += n
        if last > self.last.get(key, ""):
            self.last[key] = last


#: Characters that make an address more than a plain local@domain (RFC 5322 specials).
_SPECIAL = frozenset('"\\ <>()[],;:')


def _key(address: str) -> str | None:
    """The roster's form of an address (local part lower case, ASCII domain)."""
    local, at, domain = address.rpartition("@")
    if at and local and domain and address.isascii() and not _SPECIAL.intersection(address):
        # the plain form mailbase's parser would give back as it is (parsing costs ~1 ms)
        return f"{local.lower()}@{domain.rstrip('.').lower()}"
    try:
        parsed = parse_address(address)
    except AddressError:
        return None
    return f"{parsed.local.lower()}@{parsed.domain}"


def _time(at: str) -> datetime:
    return datetime.fromisoformat(at).astimezone(UTC)


def official_use(conn: sqlite3.Connection, roster: Sequence[RosterMailbox], tally: SentTally,
                 period: Period, *, regular_min: int, released: Sequence[str]
                 ) -> list[OfficialUse]:
    """The use of each mailbox of ``roster`` that is active at the period's end."""
    calendar = tally.calendar
    end = iso(period.end)
    active = [m for m in roster if m.is_active
              and (m.created is None or calendar.midnight(m.created) < end)]
    since = {m.address: calendar.midnight(m.created) if m.created else "" for m in active}
    found: dict[str, tuple[int, str | None]] = {}
    quiet = []
    for mailbox in active:
        days = tally.per_day.get(mailbox.address)
        first = calendar.day(since[mailbox.address]) if since[mailbox.address] else 0
        first = max(first, 0)
        sent = sum(days[first:]) if days else 0
        last = tally.last.get(mailbox.address) if sent else None
        found[mailbox.address] = (sent, last)
        if last is None:
            quiet.append(mailbox)
    if quiet:
        earliest = min(since[m.address] for m in quiet)
        before = last_sent_before(conn, earliest, iso(period.start), released,
                                  [m.address for m in quiet])
        for raw, at in before.items():
            key = _key(raw)
            if key in found and at >= since[key] and at > (found[key][1] or ""):
                found[key] = (found[key][0], at)
    result = []
    for mailbox in active:
        sent, last = found[mailbox.address]
        login = mailbox.last_login
        logged_in = (login is not None and iso(login) < end
                     and iso(login) >= since[mailbox.address])
        result.append(OfficialUse(
            mailbox=mailbox, is_activated=last is not None or logged_in,
            is_regular=_is_regular(tally.per_day.get(mailbox.address), since[mailbox.address],
                                   calendar, regular_min),
            sent=sent, last_sent=_time(last) if last else None))
    return result


def _is_regular(days: list[int] | None, since: str, calendar: Calendar, regular_min: int
                ) -> bool:
    """At least ``regular_min`` messages in each month of the period the mailbox existed
    in (from the month of ``created``), counting days from ``created`` on."""
    first = max(calendar.day(since), 0) if since else 0
    bounds = [*calendar.months, len(calendar.days)]
    for start, stop in pairwise(bounds):
        if stop <= first:
            continue  # a month before the mailbox was made
        if not days or sum(days[max(start, first):stop]) < regular_min:
            return False
    return True
