"""The periodic report the directive asks for: per unit, and per mailbox within it.

Counts come from portable SQL over ``memberships`` (unit, role, time) joined to the
message rows; shares are of the messages the unit sent. The DMARC counts (issue 12)
read the record's authentication entries from its chained detail with SQLite's JSON
functions, after a plain substring test so that records without DMARC entries are
never parsed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from audit.rows import iso
from mailbase import Period

TOP_CORRESPONDENTS = 5

#: What milter records as the DMARC disposition of inbound mail refused because it
#: passed itself off as one of the province's own domains (issue 12, point 4).
SPOOF_REFUSED = "spoof-refused"


def _has_auth(test: str, needle: str) -> str:
    """SQL: the record's detail has an authentication entry for which ``test`` holds
    (on ``j.value``); ``needle`` is a substring such an entry must contain."""
    return (f"(instr(e.detail, '{needle}') > 0 AND EXISTS (SELECT 1 FROM "
            f"json_each(e.detail, '$.authentication') j WHERE {test}))")


_DMARC_VERIFY = ("json_extract(j.value, '$.method') = 'dmarc' "
                 "AND json_extract(j.value, '$.operation') = 'verify'")
_DMARC_CHECKED = _has_auth(_DMARC_VERIFY, '"method":"dmarc"')
_DMARC_PASS = _has_auth(f"{_DMARC_VERIFY} AND json_extract(j.value, '$.result') = 'pass'",
                        '"method":"dmarc"')
_SPOOFED = _has_auth(f"{_DMARC_VERIFY} AND json_extract(j.value, '$.disposition') = "
                     f"'{SPOOF_REFUSED}'", f'"disposition":"{SPOOF_REFUSED}"')

_COUNTS = f"""
    count(*),
    SUM(CASE WHEN e.dkim = 'pass' THEN 1 ELSE 0 END),
    SUM(CASE WHEN e.smime = 'pass' THEN 1 ELSE 0 END),
    SUM(CASE WHEN e.action = 'reject' THEN 1 ELSE 0 END),
    SUM(CASE WHEN e.action = 'quarantine' THEN 1 ELSE 0 END),
    SUM((SELECT count(*) FROM attachments a WHERE a.record_id = e.seq)),
    SUM((SELECT count(*) FROM attachments a WHERE a.record_id = e.seq
         AND a.document IS NOT NULL)),
    SUM((SELECT count(*) FROM attachments a WHERE a.record_id = e.seq
         AND a.document IS NOT NULL AND a.document <> 'unsigned')),
    SUM((SELECT count(*) FROM attachments a WHERE a.record_id = e.seq
         AND a.document = 'valid')),
    SUM(CASE WHEN {_DMARC_CHECKED} THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_DMARC_PASS} AND NOT {_SPOOFED} THEN 1 ELSE 0 END),
    SUM(CASE WHEN {_SPOOFED} THEN 1 ELSE 0 END)
"""


@dataclass(frozen=True, slots=True)
class Counts:
    """Counts over a set of messages."""

    messages: int = 0
    dkim_signed: int = 0
    smime_signed: int = 0
    rejected: int = 0
    quarantined: int = 0
    documents: int = 0
    #: PDF and Office documents among the attachments (issue 11), those carrying a
    #: signature, and those with at least one valid signature
    documents_checked: int = 0
    documents_signed: int = 0
    documents_valid: int = 0
    #: issue 12, for received mail: messages that went through the DMARC check (any
    #: result, ``none`` included), those that passed it (a message refused as
    #: spoofing never counts as passed), and those refused as spoofing a provincial
    #: domain. Always 0 for sent mail, which is not DMARC-checked.
    dmarc_checked: int = 0
    dmarc_pass: int = 0
    spoof_refused: int = 0

    @classmethod
    def of(cls, row: Sequence[Any] | None) -> Counts:
        """From a row of :data:`_COUNTS` (NULL sums are 0)."""
        return cls(*(int(v or 0) for v in row)) if row else cls()

    def share(self, part: int) -> float:
        """``part`` as a fraction of the messages (0 when there are none)."""
        return part / self.messages if self.messages else 0.0

    @property
    def dmarc_share(self) -> float:
        """The share of DMARC-checked messages that passed (0 when none was checked)."""
        return self.dmarc_pass / self.dmarc_checked if self.dmarc_checked else 0.0


@dataclass(frozen=True, slots=True)
class MailboxReport:
    """One official's mailbox within a unit: what it sent and received."""

    address: str
    sent: Counts
    received: Counts = field(default_factory=Counts)


@dataclass(frozen=True, slots=True)
class UnitReport:
    """One unit's use of official e-mail in the period."""

    unit_id: str
    sent: Counts
    received: Counts
    correspondents: list[tuple[str, int]] = field(default_factory=list)
    mailboxes: list[MailboxReport] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Report:
    """The report for one period."""

    period: Period
    units: list[UnitReport]


def _where(role: str, period: Period, units: Sequence[str]) -> tuple[str, list[Any]]:
    sql = "m.role = ? AND m.at >= ? AND m.at < ?"
    params: list[Any] = [role, iso(period.start), iso(period.end)]
    if units:
        sql += f" AND m.unit_id IN ({', '.join('?' * len(units))})"
        params.extend(units)
    return sql, params


def build_report(conn: sqlite3.Connection, period: Period, units: Sequence[str] = ()) -> Report:
    """Count, for each unit (all units with mail in the period, or those given)."""
    per_role: dict[str, dict[str, Counts]] = {}
    for role in ("sent", "received"):
        where, params = _where(role, period, units)
        per_role[role] = {
            row[0]: Counts.of(row[1:]) for row in conn.execute(
                f"SELECT m.unit_id, {_COUNTS} FROM memberships m "
                f"JOIN events e ON e.seq = m.record_id WHERE {where} GROUP BY m.unit_id",
                params,
            )
        }
    names = sorted(set(units) | set(per_role["sent"]) | set(per_role["received"]))
    reports = []
    for unit in names:
        reports.append(UnitReport(
            unit_id=unit,
            sent=per_role["sent"].get(unit, Counts()),
            received=per_role["received"].get(unit, Counts()),
            correspondents=_correspondents(conn, period, unit),
            mailboxes=_mailboxes(conn, period, unit),
        ))
    return Report(period, reports)


def _correspondents(conn: sqlite3.Connection, period: Period, unit: str) -> list[tuple[str, int]]:
    """The addresses the unit exchanged most messages with (recipients of what it sent,
    senders of what it received)."""
    where_s, params_s = _where("sent", period, [unit])
    where_r, params_r = _where("received", period, [unit])
    rows = conn.execute(
        f"SELECT address, count(*) AS n FROM ("
        f" SELECT r.address AS address FROM memberships m "
        f" JOIN recipients r ON r.record_id = m.record_id WHERE {where_s}"
        f" UNION ALL"
        f" SELECT lower(e.envelope_sender) AS address FROM memberships m "
        f" JOIN events e ON e.seq = m.record_id WHERE {where_r} AND e.envelope_sender <> ''"
        f") x GROUP BY address ORDER BY n DESC, address LIMIT ?",
        [*params_s, *params_r, TOP_CORRESPONDENTS],
    )
    return [(str(a), int(n)) for a, n in rows]


def _mailboxes(conn: sqlite3.Connection, period: Period, unit: str) -> list[MailboxReport]:
    """Per mailbox of the unit: what it sent (by envelope sender) and received (by
    envelope recipient, where milter said which unit the recipient belongs to)."""
    where_s, params_s = _where("sent", period, [unit])
    sent = {
        str(row[0]): Counts.of(row[1:]) for row in conn.execute(
            f"SELECT lower(e.envelope_sender) AS box, {_COUNTS} FROM memberships m "
            f"JOIN events e ON e.seq = m.record_id WHERE {where_s} "
            "GROUP BY lower(e.envelope_sender)",
            params_s,
        )
    }
    where_r, params_r = _where("received", period, [unit])
    received = {
        str(row[0]): Counts.of(row[1:]) for row in conn.execute(
            f"SELECT r.address AS box, {_COUNTS} FROM memberships m "
            "JOIN recipients r ON r.record_id = m.record_id AND r.unit_id = m.unit_id "
            f"JOIN events e ON e.seq = m.record_id WHERE {where_r} GROUP BY r.address",
            params_r,
        )
    }
    boxes = sorted(
        set(sent) | set(received),
        key=lambda b: (-(sent.get(b, Counts()).messages + received.get(b, Counts()).messages),
                       b),
    )
    return [MailboxReport(b, sent.get(b, Counts()), received.get(b, Counts())) for b in boxes]
