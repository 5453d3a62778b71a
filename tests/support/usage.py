"""A generated province's month of mail, and the report's figures counted independently.

``Province.generate()`` makes 100 units (from :mod:`support.province`), 3,000 officials
on the roster with varied histories (regular senders, occasional ones, some who sent
only the month before, logged in without sending, were made in the middle of the
month after a predecessor used the address, are inactive, or are made after it), and
their month up to now (a roster says nothing of the future): :class:`Sent` messages
with fates and documents of every kind, mail from outside, and the month before.
:func:`expected` counts what the report must say from that traffic alone, without the
report's code.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audit.config import AuditConfig
from audit.records import (
    Action,
    AdminEvent,
    AdminKind,
    Attachment,
    AuditRecord,
    Completion,
    Direction,
    Fate,
    Role,
)
from audit.store import AuditLog
from support.pki import Issued, TestPki, _ca_cert, _name, new_key
from support.province import province_rows

TZ_NAME = "Asia/Ho_Chi_Minh"
UNITS = 100
OFFICIALS = 3000
EXTERNAL = "doitac@example.org"
REGULAR_MIN = 4

#: Document kinds: (is a document, signed, valid, root family of the valid, complete).
DOCUMENT_KINDS: dict[str, tuple[bool, bool, bool, str | None, bool]] = {
    "unsigned": (True, False, False, None, False),
    "gov": (True, True, True, "gov", False),
    "public": (True, True, True, "public", False),
    "other": (True, True, True, "other", False),
    "legacy": (True, True, True, "other", False),  # judged before families were kept
    "complete": (True, True, True, "gov", True),  # signed and sealed: two certificates
    "invalid": (True, True, False, None, False),
    "image": (False, False, False, None, False),
}
#: The roots of the three families, as (common name, organisation).
ROOTS = {
    "gov": ("Cơ quan chứng thực số chuyên dùng Chính phủ", "Ban Cơ yếu Chính phủ"),
    "public": ("Vietnam National Root CA", "Ministry of Information and Communications"),
    "other": ("Test Root CA", "UBND tinh"),
}


def pki_under(root_common_name: str, organisation: str) -> TestPki:
    """A root and an issuing CA whose root names ``organisation`` (O=); EC keys (fast
    to make)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root_key, int_key = new_key("ec"), new_key("ec")
    root_name = _name(root_common_name, organisation)
    root = _ca_cert(root_name, root_key, root_name, root_key, serial=1,
                    not_before=now - dt.timedelta(days=1),
                    not_after=now + dt.timedelta(days=3650), path_length=1)
    issuing = _ca_cert(_name("Issuing CA", organisation), int_key, root_name, root_key,
                       serial=2, not_before=now - dt.timedelta(days=1),
                       not_after=now + dt.timedelta(days=1825), path_length=0)
    return TestPki(root=Issued(root, root_key), intermediate=Issued(issuing, int_key, (root,)),
                   now=now, key_kind="ec")


@dataclass(frozen=True)
class Official:
    """One roster mailbox and what the generator makes it do."""

    address: str
    unit: str
    name: str
    plan: str
    is_active: bool = True
    created: dt.date | None = None
    last_login: dt.datetime | None = None

    def roster_row(self) -> dict[str, str]:
        """Its row in the roster's CSV layout."""
        return {"address": self.address, "full_name": self.name, "unit": self.unit,
                "active": "yes" if self.is_active else "no",
                "created": self.created.isoformat() if self.created else "",
                "last_login": self.last_login.isoformat() if self.last_login else ""}


@dataclass
class Sent:
    """One generated message, as milter would have recorded it, and what became of it.

    ``fate`` is relayed, stripped, rejected, tempfailed, held (still in quarantine),
    released or deleted.
    """

    at: dt.datetime
    sender: str
    sender_unit: str | None  # the trusted path's sender unit; None from outside
    recipients: list[tuple[str, str | None]]
    documents: list[str]
    fate: str
    claimed_unit: str | None = None

    @property
    def is_outbound(self) -> bool:
        """Mail on the trusted path."""
        return self.sender_unit is not None

    @property
    def delivered(self) -> bool:
        """Counted as sent or received."""
        return self.fate in ("relayed", "stripped", "released")

    @property
    def refused(self) -> bool:
        """Counted as refused."""
        return self.fate in ("rejected", "deleted")


@dataclass
class Province:
    """The generated province and its month (``month`` is its first day, local)."""

    month: dt.date
    tz: dt.tzinfo
    #: the end of the generated traffic: now, or the month's end if that came first
    until: dt.datetime
    units: list[dict[str, str]]
    officials: list[Official]
    mail: list[Sent] = field(default_factory=list)

    @property
    def start(self) -> dt.datetime:
        """The month's first instant (UTC)."""
        return _midnight(self.month, self.tz)

    @property
    def end(self) -> dt.datetime:
        """The instant after the month (UTC)."""
        return _midnight(_next_month(self.month), self.tz)

    @classmethod
    def generate(cls, month: dt.date, tz: dt.tzinfo, *, now: dt.datetime, seed: int = 2026,
                 officials: int = OFFICIALS) -> Province:
        """The province, its roster and its month of bulk mail up to ``now``."""
        rng = random.Random(seed)
        units = province_rows(2 * UNITS)[:UNITS]  # parents come before their children
        until = min(now, _midnight(_next_month(month), tz))
        province = cls(month, tz, until, units, [])
        province.officials = [province._official(n, rng) for n in range(officials)]
        province.mail = list(province._month(rng))
        return province

    def unit_address(self, unit: str) -> str:
        """A unit's official address."""
        return next(u["address"] for u in self.units if u["id"] == unit)

    def _official(self, n: int, rng: random.Random) -> Official:
        unit = self.units[n % len(self.units)]
        domain = unit["address"].split("@")[1]
        plan = rng.choices(
            ["regular", "occasional", "earlier", "login", "stale-login", "never", "new",
             "inactive", "future"],
            [40, 20, 12, 6, 2, 8, 6, 3, 3])[0]
        today = self.until.astimezone(self.tz).date()
        created: dt.date | None = None
        if plan in ("new", "stale-login"):  # made this month, after the month's first day
            created = self.month + dt.timedelta(days=rng.randrange((today - self.month).days + 1))
        elif plan == "future":
            created = _next_month(self.month) + dt.timedelta(days=rng.randrange(0, 5))
        elif rng.random() < 0.5:
            created = self.month - dt.timedelta(days=rng.randrange(40, 900))
        login = None
        if plan == "login":
            login = self._when(rng, self.start, self.until)
        elif plan == "stale-login" and created is not None:  # before its mailbox was made
            login = _midnight(created, self.tz) - dt.timedelta(hours=rng.randrange(1, 48))
        return Official(address=f"cb{n:04d}@{domain}", unit=unit["id"], name=f"Cán bộ {n:04d}",
                        plan=plan, is_active=plan != "inactive", created=created,
                        last_login=login)

    def _when(self, rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
        """A time in [start, end) (start itself when the span is empty)."""
        span = int((end - start).total_seconds() * 1_000_000)
        return start + dt.timedelta(microseconds=rng.randrange(span) if span > 0 else 0)

    def _recipients(self, rng: random.Random) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for _ in range(rng.choice((1, 1, 1, 2))):
            pick = rng.random()
            if pick < 0.6:
                other = rng.choice(self.officials)
                if other.is_active:
                    found.append((other.address, other.unit))
            elif pick < 0.85:
                unit = rng.choice(self.units)
                found.append((unit["address"], unit["id"]))
            else:
                found.append((EXTERNAL, None))
        return found or [(EXTERNAL, None)]

    def _message(self, rng: random.Random, at: dt.datetime, sender: str,
                 unit: str | None) -> Sent:
        documents = [rng.choice(list(DOCUMENT_KINDS)) for _ in range(rng.choice((0, 1, 1, 2)))]
        fate = rng.choices(
            ["relayed", "stripped", "rejected", "tempfailed", "held", "released", "deleted"],
            [86, 3, 3, 2, 2, 2, 2])[0]
        return Sent(at, sender, unit, self._recipients(rng), documents, fate)

    def _month(self, rng: random.Random) -> Iterator[Sent]:
        before = _midnight(_previous_month(self.month), self.tz)
        for official in self.officials:
            start = (max(self.start, _midnight(official.created, self.tz))
                     if official.created else self.start)
            count = {"regular": rng.randrange(4, 8), "occasional": rng.randrange(1, 4),
                     "new": rng.randrange(2, 7), "inactive": rng.randrange(0, 4)}.get(
                official.plan, 0)
            if official.plan == "future":
                continue
            for _ in range(count):
                yield self._message(rng, self._when(rng, start, self.until), official.address,
                                    official.unit)
            if official.plan == "new":  # the address's previous owner, before it was made
                for _ in range(rng.randrange(1, 3)):
                    yield self._message(rng, self._when(rng, self.start, start),
                                        official.address, official.unit)
            if official.plan in ("earlier", "occasional") or rng.random() < 0.1:
                for _ in range(rng.randrange(1, 3)):
                    yield self._message(rng, self._when(rng, before, self.start),
                                        official.address, official.unit)
        for unit in self.units[::3]:  # the units' own addresses (their secretariats)
            for _ in range(rng.randrange(1, 6)):
                yield self._message(rng, self._when(rng, self.start, self.until),
                                    unit["address"], unit["id"])
        for _ in range(600):  # from outside, to officials and units
            mail = self._message(rng, self._when(rng, self.start, self.until), EXTERNAL, None)
            mail.recipients = [r for r in mail.recipients if r[1] is not None] or [
                (self.unit_address(self.units[0]["id"]), self.units[0]["id"])]
            mail.fate = "rejected" if mail.fate in ("held", "released", "deleted") else mail.fate
            yield mail


def _midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _previous_month(day: dt.date) -> dt.date:
    return dt.date(day.year - (day.month == 1), (day.month - 2) % 12 + 1, 1)


@dataclass
class Expected:
    """What the report must say, counted from the traffic alone."""

    units: dict[str, Counter[str]]
    total: Counter[str]
    use: dict[str, tuple[int, int, int]]
    total_use: tuple[int, int, int]
    #: address -> (activated, regular, sent in the month, last sent)
    officials: dict[str, tuple[bool, bool, int, dt.datetime | None]]


def _documents(kinds: Iterable[str], prefix: str) -> Counter[str]:
    found: Counter[str] = Counter()
    for kind in kinds:
        is_document, signed, valid, family, complete = DOCUMENT_KINDS[kind]
        if not is_document:
            continue
        found[f"documents_{prefix}"] += 1
        if prefix == "sent":
            found["documents_signed"] += signed
            found["documents_valid"] += valid
            if valid:
                found[f"documents_valid_{family}"] += 1
        else:
            found["documents_received_valid"] += valid
            found["documents_received_complete"] += complete
    return found


def expected(province: Province, mail: Iterable[Sent]) -> Expected:
    """The report's figures for the province's month, from ``mail`` alone."""
    units: dict[str, Counter[str]] = defaultdict(Counter)
    total: Counter[str] = Counter()
    sent_by: dict[str, list[dt.datetime]] = defaultdict(list)
    for m in mail:
        in_month = province.start <= m.at < province.end
        if m.is_outbound and m.delivered:
            sent_by[m.sender].append(m.at)
        if not in_month:
            continue
        figures: Counter[str] = Counter()
        if m.is_outbound:
            if m.delivered:
                figures.update({"sent": 1, **_documents(m.documents, "sent")})
            elif m.refused:
                figures["sent_refused"] += 1
            elif m.fate == "held":
                figures["sent_held"] += 1
            assert m.sender_unit is not None
            units[m.sender_unit].update(figures)
        received: Counter[str] = Counter()
        if m.delivered:
            received.update({"received": 1, **_documents(m.documents, "received")})
        elif m.refused:
            received["received_refused"] += 1
        for unit in {u for _, u in m.recipients if u is not None}:
            units[unit].update(received)
        if any(u is not None for _, u in m.recipients):
            figures.update(received)
        total.update(figures)
    officials: dict[str, tuple[bool, bool, int, dt.datetime | None]] = {}
    use: dict[str, tuple[int, int, int]] = {}
    for o in province.officials:
        since = _midnight(o.created, province.tz) if o.created else province.start - dt.timedelta(
            days=100_000)
        if not o.is_active or since >= province.end:
            continue
        times = [t for t in sent_by[o.address] if since <= t < province.end]
        in_month = [t for t in times if t >= province.start]
        logged_in = o.last_login is not None and since <= o.last_login < province.end
        activated, regular = bool(times) or logged_in, len(in_month) >= REGULAR_MIN
        officials[o.address] = (activated, regular, len(in_month), max(times, default=None))
        mailboxes, a, r = use.get(o.unit, (0, 0, 0))
        use[o.unit] = (mailboxes + 1, a + activated, r + regular)
    total_use = tuple(sum(v[i] for v in use.values()) for i in range(3))
    return Expected(dict(units), total, use, (total_use[0], total_use[1], total_use[2]),
                    officials)


def signature(kind: str, n: int) -> list[dict[str, Any]]:
    """The recorded signatures of a document of ``kind`` (as milter records them)."""
    base: dict[str, Any] = {
        "verdict": "valid", "reason": "chained to a trust anchor", "signer": f"Cán bộ {n}",
        "issuer": "CN=Issuing CA", "serial": f"{n:x}", "chain": ["CN=leaf", "CN=root"],
        "is_timestamp": False,
    }
    if kind in ("gov", "public", "other"):
        return [{**base, "root_family": kind}]
    if kind == "legacy":
        return [base]
    if kind == "complete":
        return [{**base, "root_family": "gov"},
                {**base, "signer": "Văn thư", "serial": f"{n:x}0", "root_family": "gov"}]
    if kind == "invalid":
        return [{**base, "verdict": "invalid", "reason": "the document changed"}]
    return []


def _record(m: Sent, n: int) -> AuditRecord:
    attachments = []
    for i, kind in enumerate(m.documents):
        is_document, _, valid, _, _ = DOCUMENT_KINDS[kind]
        verdict = ("valid" if valid else "unsigned" if kind == "unsigned" else "invalid"
                   ) if is_document else None
        attachments.append(Attachment(
            path=str(i + 2), filename=f"{kind}.pdf", size=1000,
            detected_type="application/pdf" if is_document else "image/jpeg",
            sha256=hashlib.sha256(f"{n}/{i}".encode()).hexdigest(), document=verdict,
            signatures=signature(kind, n) if is_document else None))
    outbound = m.is_outbound
    return AuditRecord(
        received_at=m.at, decided_at=m.at, listener="submission" if outbound else "mx",
        role=Role.OUTBOUND if outbound else Role.INBOUND,
        direction=Direction.OUTBOUND if outbound else Direction.INBOUND,
        envelope_sender=m.sender, header_from=m.sender, sender_unit=m.sender_unit,
        envelope_recipients=[a for a, _ in m.recipients],
        recipient_unit_of={a: u for a, u in m.recipients if u is not None},
        recipient_units=[u for _, u in m.recipients if u is not None],
        size=2000, attachments=attachments,
        action=Action.REJECT if m.fate == "rejected" else Action.ACCEPT, processing_ms=1.0)


_OUTCOME = {"relayed": Fate.RELAYED, "stripped": Fate.STRIPPED, "rejected": Fate.REJECTED,
            "tempfailed": Fate.TEMPFAILED, "held": Fate.QUARANTINED,
            "released": Fate.QUARANTINED, "deleted": Fate.QUARANTINED}


def bulk_write(config: AuditConfig, mail: list[Sent]) -> None:
    """The generated mail into the store through its batch write, as milter's writer
    would commit it: each record, then its completion, then releases and deletions."""
    with AuditLog.open(config) as log:
        for first in range(0, len(mail), 2000):
            batch = mail[first:first + 2000]
            ids = log.write([_record(m, first + i) for i, m in enumerate(batch)])
            log.write([Completion(
                record_id=rid, outcome=_OUTCOME[m.fate], at=m.at,
                reply=f"quarantined as q{rid}" if m.fate in ("held", "released", "deleted")
                else "250 2.0.0 Ok") for rid, m in zip(ids, batch, strict=True)])
            log.write([AdminEvent(
                kind=AdminKind.QUARANTINE_RELEASE if m.fate == "released"
                else AdminKind.QUARANTINE_DELETE, actor="admin", target=f"q{rid}")
                for rid, m in zip(ids, batch, strict=True) if m.fate in ("released", "deleted")])
