"""The report's one read of the store: each message of a period with what its columns need.

One SELECT over ``events`` (the ``kind, at`` index, or the unit memberships when the
caller names units) gives, per message: direction and stored sender unit, the latest
completion, the DKIM and S/MIME summaries, its recipients and their units, the DMARC
facts and, for mail on the trusted path, its documents. JSON in the chained detail is
parsed by SQLite only after a substring test says the entry can be there, so records
without DMARC entries or attachments are never parsed.

The fate of a held message is read from the admin events: milter completes a held
message with the reply ``quarantined as <id>``, and a release or deletion is an admin
event whose target is that id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from audit import records
from audit.attribution import TRUSTED, claimed_by, sent_by
from audit.records import AdminKind
from audit.rows import iso
from mailbase import Period

#: What milter records as the DMARC disposition of inbound mail that forged one of
#: the province's own senders: refused, held, or (when so configured) only tagged.
SPOOF_REFUSED = "spoof-refused"
SPOOF_QUARANTINE = "spoof-quarantine"
#: Refused or held as forged: a forgery attempt on the unit the From claims.
FORGED = (SPOOF_REFUSED, SPOOF_QUARANTINE)
HELD_REPLY = "quarantined as "

#: Detected types that make an attachment a document (PDF, OOXML, ODF; prefixes).
DOCUMENT_TYPES = ("application/pdf", "application/vnd.openxmlformats",
                  "application/vnd.oasis.opendocument")
#: Detected types that are programs: never a document, whatever they claim.
EXECUTABLE_TYPES = ("application/x-dosexec", "application/x-executable",
                    "application/x-sharedlib", "application/x-pie-executable",
                    "application/x-mach-binary", "application/x-ms-shortcut",
                    "application/java-archive", "application/x-msdownload")
_SEP, _PAIR = "\x1f", "\x1e"


class Fate(Enum):
    """What finally became of a message, as the report counts it."""

    DELIVERED = "delivered"  # relayed (stripped included), or released from quarantine
    REFUSED = "refused"  # rejected, or deleted from quarantine (by hand or retention)
    HELD = "held"  # still in quarantine


@dataclass(frozen=True, slots=True)
class Message:
    """One message as the report sees it."""

    sender: str | None  # the unit that sent it (trusted path only)
    claimed: str | None  # the unit an untrusted From claims
    envelope_sender: str  # lower case; '' for the null sender
    fate: Fate | None  # None: tempfailed, or no completion yet
    is_forged: bool
    dkim_pass: bool
    smime_pass: bool
    dmarc_checked: bool
    dmarc_pass: bool
    spoof_refused: bool
    documents: tuple[int, int, int]  # documents, signed, with a valid signature
    recipient_units: tuple[str, ...]
    recipients: tuple[tuple[str, str | None], ...]  # address, its unit

    @property
    def mailbox(self) -> str:
        """The sender's mailbox row: its address, ``<>`` for the null sender."""
        return self.envelope_sender or "<>"


def _has_auth(test: str, needle: str) -> str:
    """SQL: the record's detail has an authentication entry for which ``test`` holds
    (on ``j.value``); ``needle`` is a substring such an entry must contain."""
    return (f"(instr(e.detail, '{needle}') > 0 AND EXISTS (SELECT 1 FROM "
            f"json_each(e.detail, '$.authentication') j WHERE {test}))")


def _quoted(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


_DMARC_VERIFY = ("json_extract(j.value, '$.method') = 'dmarc' "
                 "AND json_extract(j.value, '$.operation') = 'verify'")
_DISPOSITION = "json_extract(j.value, '$.disposition')"
_CHECKED = _has_auth(_DMARC_VERIFY, '"method":"dmarc"')
_PASSED = _has_auth(f"{_DMARC_VERIFY} AND json_extract(j.value, '$.result') = 'pass'",
                    '"method":"dmarc"')
_SPOOFED = _has_auth(f"{_DMARC_VERIFY} AND {_DISPOSITION} = '{SPOOF_REFUSED}'",
                     f'"disposition":"{SPOOF_REFUSED}"')
_FORGED = _has_auth(f"{_DMARC_VERIFY} AND {_DISPOSITION} IN ({_quoted(FORGED)})",
                    '"disposition":"spoof-')

# One attachment (j.value) is a document by its detected type, or because signer/
# judged its signatures (PDF and Office, archive members included); a program never is.
_TYPE = "coalesce(json_extract(j.value, '$.detected_type'), '')"
_VERDICT = "json_extract(j.value, '$.document')"
_IS_DOCUMENT = (
    f"({_TYPE} NOT IN ({_quoted(EXECUTABLE_TYPES)}) AND ({_VERDICT} IS NOT NULL OR "
    + " OR ".join(f"{_TYPE} LIKE '{t}%'" for t in DOCUMENT_TYPES) + "))")
# A document timestamp alone is not a signature.
_SIGNATURE = ("EXISTS (SELECT 1 FROM json_each(j.value, '$.signatures') s WHERE "
              "NOT coalesce(json_extract(s.value, '$.is_timestamp'), 0){})")
_IS_SIGNED = (f"(({_VERDICT} IS NOT NULL AND {_VERDICT} NOT IN ('unsigned', 'unverifiable'))"
              f" OR {_SIGNATURE.format('')})")
_IS_VALID = " AND json_extract(s.value, '$.verdict') = 'valid'"
_HAS_VALID = f"({_VERDICT} = 'valid' OR {_SIGNATURE.format(_IS_VALID)})"
# Parsed only for mail on the trusted path that has attachments: 'n,signed,valid'.
_DOCUMENTS = (
    "CASE WHEN e.direction = 'outbound' AND e.sender_unit IS NOT NULL "
    "AND instr(e.detail, '\"attachments\":[]') = 0 THEN (SELECT "
    "coalesce(sum(d), 0) || ',' || coalesce(sum(d AND s), 0) || ',' || coalesce(sum(d AND v), 0)"
    f" FROM (SELECT {_IS_DOCUMENT} AS d, {_IS_SIGNED} AS s, {_HAS_VALID} AS v "
    "FROM json_each(e.detail, '$.attachments') j)) END"
)

_COLUMNS = f"""
    e.direction, e.sender_unit, lower(e.envelope_sender), e.dkim, e.smime,
    (SELECT c.outcome || char(31) || coalesce(c.reply, '') FROM events c
     WHERE c.record_id = e.seq AND c.kind = 'completion' ORDER BY c.seq DESC LIMIT 1),
    (SELECT group_concat(m.unit_id, char(31)) FROM memberships m
     WHERE m.record_id = e.seq AND m.role = 'received'),
    (SELECT group_concat(r.address || char(30) || coalesce(r.unit_id, ''), char(31))
     FROM recipients r WHERE r.record_id = e.seq),
    {_CHECKED}, {_PASSED} AND NOT {_FORGED}, {_SPOOFED}, {_FORGED}, {_DOCUMENTS}
"""


def _where(period: Period, units: Sequence[str]) -> tuple[str, list[Any]]:
    sql = "e.kind = 'message' AND e.at >= ? AND e.at < ?"
    params: list[Any] = [iso(period.start), iso(period.end)]
    if units:
        # through the unit index: any membership (sent, claimed or received)
        marks = ", ".join("?" * len(units))
        sql += (f" AND e.seq IN (SELECT m.record_id FROM memberships m WHERE m.unit_id "
                f"IN ({marks}) AND m.at >= ? AND m.at < ?)")
        params.extend([*units, *params[:2]])
    return sql, params


def quarantine_fates(conn: sqlite3.Connection) -> dict[str, Fate]:
    """Each quarantine id released (delivered) or deleted (refused), from admin events."""
    fates: dict[str, Fate] = {}
    rows = conn.execute(
        "SELECT admin_kind, target FROM events WHERE kind = 'admin' AND admin_kind IN (?, ?) "
        "ORDER BY seq", (AdminKind.QUARANTINE_DELETE.value, AdminKind.QUARANTINE_RELEASE.value))
    for kind, target in rows:
        released = kind == AdminKind.QUARANTINE_RELEASE.value
        # a release is final: the message left, whatever is said of its id later
        if fates.get(target) is not Fate.DELIVERED:
            fates[target] = Fate.DELIVERED if released else Fate.REFUSED
    return fates


def fate(completion: str | None, held: Mapping[str, Fate]) -> Fate | None:
    """The fate of a message from its latest completion (``outcome<US>reply``)."""
    if completion is None:
        return None
    outcome, _, reply = completion.partition(_SEP)
    if outcome in (records.Fate.RELAYED.value, records.Fate.STRIPPED.value):
        return Fate.DELIVERED
    if outcome == records.Fate.REJECTED.value:
        return Fate.REFUSED
    if outcome == records.Fate.QUARANTINED.value:
        qid = reply[len(HELD_REPLY):].strip() if reply.startswith(HELD_REPLY) else ""
        return held.get(qid, Fate.HELD)
    return None  # tempfailed: Postfix keeps it and tries again (a new record)


def _split(text: str | None) -> list[str]:
    return text.split(_SEP) if text else []


def _recipients(text: str | None) -> tuple[tuple[str, str | None], ...]:
    pairs = (item.partition(_PAIR) for item in _split(text))
    return tuple((address, unit or None) for address, _, unit in pairs)


def _documents(text: str | None) -> tuple[int, int, int]:
    if not text:
        return (0, 0, 0)
    n, signed, valid = (int(v) for v in text.split(","))
    return (n, signed, valid)


def messages(conn: sqlite3.Connection, period: Period, units: Sequence[str] = ()
             ) -> Iterator[Message]:
    """Every message recorded in ``period`` (those involving ``units``, when named)."""
    held = quarantine_fates(conn)
    where, params = _where(period, units)
    for row in conn.execute(f"SELECT {_COLUMNS} FROM events e WHERE {where}", params):
        (direction, unit, sender, dkim, smime, done, received, recipients,
         checked, passed, spoofed, forged, documents) = row
        yield Message(
            sender=sent_by(direction, unit), claimed=claimed_by(direction, unit),
            envelope_sender=sender or "", fate=fate(done, held),
            # only untrusted mail is checked for forgery; the claim may name no unit
            is_forged=bool(forged) and direction != TRUSTED,
            dkim_pass=dkim == "pass", smime_pass=smime == "pass",
            dmarc_checked=bool(checked), dmarc_pass=bool(passed), spoof_refused=bool(spoofed),
            documents=_documents(documents), recipient_units=tuple(_split(received)),
            recipients=_recipients(recipients),
        )
