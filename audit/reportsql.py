"""The report's one read of the store: each message of a period with what its columns need.

One SELECT over ``events`` (the ``kind, at`` index, or the unit memberships when the
caller names units) gives, per message: direction and stored sender unit, the latest
completion, the DKIM and S/MIME summaries, its recipients and their units, the DMARC
facts, and the detail of mail that has attachments (its documents are read from it in
Python). JSON in the chained detail is parsed only after a substring test says the entry
can be there, so records without DMARC entries or attachments are never parsed.

The fate of a held message is read from the admin events: milter completes a held
message with the reply ``quarantined as <id>``, and a release or deletion is an admin
event whose target is that id.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from functools import partial
from typing import Any

from audit import records
from audit.attribution import TRUSTED, claimed_by, sent_by
from audit.records import AdminKind
from audit.renames import NO_RENAMES, UnitRenames, renamed_message
from audit.rows import iso
from audit.schema import CHAIN_SPAN
from audit.summaryschema import STRETCH
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
    #: documents; signed; with a valid signature; valid with a gov / public root;
    #: two valid signatures by two certificates; sealed by the sending unit; complete
    documents: tuple[int, int, int, int, int, int, int, int]
    recipient_units: tuple[str, ...]
    recipients: tuple[tuple[str, str | None], ...]  # address, its unit
    at: str = ""  # when congvu received it: UTC ISO 8601, as stored
    #: the policy found a classified marking (MẬT, TỐI MẬT, TUYỆT MẬT) in it
    is_marked: bool = False
    #: the policy found text typed in a legacy encoding (TCVN3, VNI) in it
    is_legacy: bool = False

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

# The attachments are read in Python from the detail of mail that has any: SQLite
# (3.40) parses a JSON text again for each json_extract, and a document's signatures
# are looked at for five columns.
_ATTACHED = "CASE WHEN instr(e.detail, '\"attachments\":[]') = 0 THEN e.detail END"
# The policy findings the report counts, as bits (1: a classified marking, 2: text in a
# legacy encoding), by substring in the canonical JSON only when there are findings
# (a quote inside a value is escaped there, so '"rule":"..."' is only ever a rule).
_FLAGGED = ("CASE WHEN instr(e.detail, '\"violations\":[]') = 0 THEN "
            "(instr(e.detail, '\"rule\":\"classified-marking\"') > 0) "
            "+ 2 * (instr(e.detail, '\"rule\":\"legacy-encoding\"') > 0) ELSE 0 END")


# The latest completion of e (``outcome<US>reply``).
_LATEST = """(SELECT c.outcome || char(31) || coalesce(c.reply, '') FROM events c
     WHERE c.record_id = e.seq AND c.kind = 'completion' ORDER BY c.seq DESC LIMIT 1)"""

_COLUMNS = f"""
    e.direction, e.sender_unit, lower(e.envelope_sender), e.dkim, e.smime,
    {_LATEST},
    (SELECT group_concat(m.unit_id, char(31)) FROM memberships m
     WHERE m.record_id = e.seq AND m.role = 'received'),
    (SELECT group_concat(r.address || char(30) || coalesce(r.unit_id, ''), char(31))
     FROM recipients r WHERE r.record_id = e.seq),
    {_CHECKED}, {_PASSED} AND NOT {_FORGED}, {_SPOOFED}, {_FORGED}, {_ATTACHED}, e.at, e.seq,
    {_FLAGGED}
"""

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _dmarc_checks(detail: str) -> list[Mapping[str, Any]]:
    """The detail's DMARC verification entries, parsed only when the text has one."""
    if '"method":"dmarc"' not in detail:
        return []
    return [a for a in json.loads(detail).get("authentication", ())
            if a.get("method") == "dmarc" and a.get("operation") == "verify"]


def columns_of(event: Mapping[str, Any], memberships: Sequence[tuple[str, str]],
               recipients: Sequence[tuple[str, str | None]]) -> tuple[Any, ...]:
    """The row of :data:`_COLUMNS` a message record's rows give (its chained row with
    ``seq``, its unit memberships and its recipients, as the store inserts them), made
    from those rows in Python, as SQLite reads it back (``lower`` folds ASCII letters
    only), with no completion: what the writer that appended the record counts its
    completion with, instead of reading the record back."""
    detail = str(event["detail"])
    checks = _dmarc_checks(detail)
    forged = any(a.get("disposition") in FORGED for a in checks)
    received = [unit for unit, role in memberships if role == "received"]
    sender = event.get("envelope_sender")
    flags = 0 if '"violations":[]' in detail else (
        ('"rule":"classified-marking"' in detail) + 2 * ('"rule":"legacy-encoding"' in detail))
    return (
        event.get("direction"), event.get("sender_unit"),
        None if sender is None else str(sender).translate(_ASCII_LOWER),
        event.get("dkim"), event.get("smime"), None,
        _SEP.join(received) if received else None,
        _SEP.join(f"{address}{_PAIR}{unit or ''}" for address, unit in recipients)
        if recipients else None,
        bool(checks), any(a.get("result") == "pass" for a in checks) and not forged,
        any(a.get("disposition") == SPOOF_REFUSED for a in checks), forged,
        None if '"attachments":[]' in detail else detail, event["at"], event["seq"], flags,
    )


def _where(period: Period, units: Sequence[str], renames: UnitRenames
           ) -> tuple[str, list[Any]]:
    sql = "e.kind = 'message' AND e.at >= ? AND e.at < ?"
    params: list[Any] = [iso(period.start), iso(period.end)]
    if units:
        # through the unit index: any membership (sent, claimed or received)
        named, more = renames.condition("m.unit_id", "m.record_id", units)
        sql += (f" AND e.seq IN (SELECT m.record_id FROM memberships m WHERE {named} "
                "AND m.at >= ? AND m.at < ?)")
        params.extend([*more, *params[:2]])
    return sql, params


def quarantine_fates(conn: sqlite3.Connection, before: int | None = None) -> dict[str, Fate]:
    """Each quarantine id released (delivered) or deleted (refused), from admin events
    (the live chain's before position ``before``, when given)."""
    fates: dict[str, Fate] = {}
    rows = conn.execute(
        "SELECT admin_kind, target FROM events WHERE kind = 'admin' AND admin_kind IN (?, ?) "
        f"AND (seq < ? OR seq >= {CHAIN_SPAN}) ORDER BY seq",
        (AdminKind.QUARANTINE_DELETE.value, AdminKind.QUARANTINE_RELEASE.value,
         CHAIN_SPAN if before is None else before))
    for kind, target in rows:
        decide(fates, kind, target)
    return fates


def decide(fates: dict[str, Fate], kind: str, target: str) -> None:
    """Add to ``fates`` a quarantine release or deletion (``kind``) of ``target``, the
    next in the log's order. An empty target names no held message (:func:`fate` reads
    no id as held for good), so it decides nothing: the summary counts such a decision
    as changing no figure (audit/summary.py)."""
    if not target:
        return
    released = kind == AdminKind.QUARANTINE_RELEASE.value
    # a release is final: the message left, whatever is said of its id later
    if fates.get(target) is not Fate.DELIVERED:
        fates[target] = Fate.DELIVERED if released else Fate.REFUSED


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
        # the id as the SQL's trim reads it (spaces only: _DELIVERED, and the summary's
        # search for the messages a decision names); no id stays held (decide)
        qid = reply[len(HELD_REPLY):].strip(" ") if reply.startswith(HELD_REPLY) else ""
        return held.get(qid, Fate.HELD)
    return None  # tempfailed: Postfix keeps it and tries again (a new record)


def released_ids(held: Mapping[str, Fate]) -> list[str]:
    """The quarantine ids whose message was released (delivered)."""
    return [qid for qid, found in held.items() if found is Fate.DELIVERED]


# The latest completion of e says it was delivered: relayed, stripped, or held and
# released (the ids as a JSON array in the second parameter), as fate() reads it.
# (a number, not a truth value: PostgreSQL's coalesce takes no mix of the two)
_DELIVERED = f"""coalesce((SELECT CASE WHEN c.outcome IN ('{records.Fate.RELAYED.value}',
    '{records.Fate.STRIPPED.value}') OR (c.outcome = '{records.Fate.QUARANTINED.value}'
    AND substr(c.reply, 1, {len(HELD_REPLY)}) = '{HELD_REPLY}'
    AND trim(substr(c.reply, {len(HELD_REPLY) + 1})) IN (SELECT value FROM json_each(?)))
    THEN 1 ELSE 0 END
    FROM events c WHERE c.record_id = e.seq AND c.kind = 'completion'
    ORDER BY c.seq DESC LIMIT 1), 0) = 1"""


def last_sent_before(conn: sqlite3.Connection, since: str, until: str,
                     released: Sequence[str], addresses: Sequence[str]) -> dict[str, str]:
    """Envelope sender (as stored) -> when it last sent, between ``since`` and
    ``until`` (stored times), a message the ``sent`` column would count.

    Only senders that may be one of ``addresses`` (lower case) come back: SQLite folds
    ASCII letters only, so a sender with other characters, or quoted, always does, and
    the caller compares it in full.
    """
    rows = conn.execute(
        "SELECT e.envelope_sender, max(e.at) FROM events e WHERE e.kind = 'message' "
        f"AND e.at >= ? AND e.at < ? AND e.direction = '{TRUSTED}' "
        "AND e.sender_unit IS NOT NULL AND (lower(e.envelope_sender) IN "
        "(SELECT value FROM json_each(?)) OR e.envelope_sender GLOB '*[^ -~]*' "
        f"OR e.envelope_sender GLOB '*\"*') AND {_DELIVERED} GROUP BY e.envelope_sender",
        (since, until, json.dumps(list(addresses)), json.dumps(list(released))))
    return {sender: at for sender, at in rows if sender}


def chain_head(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The newest event's position and hash (None for an empty log)."""
    row = conn.execute(  # the live chain's head (imported chains sit above it)
        f"SELECT seq, hash FROM events WHERE seq < {CHAIN_SPAN} ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def _split(text: str | None) -> list[str]:
    return text.split(_SEP) if text else []


def _recipients(text: str | None) -> tuple[tuple[str, str | None], ...]:
    pairs = (item.partition(_PAIR) for item in _split(text))
    return tuple((address, unit or None) for address, _, unit in pairs)


NO_DOCUMENTS = (0, 0, 0, 0, 0, 0, 0, 0)


def _is_document(attachment: Mapping[str, Any]) -> bool:
    """A document by its detected type (PDF, OOXML, ODF), or because signer/ judged its
    signatures (archive members included); a program never is."""
    detected = attachment.get("detected_type") or ""
    if detected in EXECUTABLE_TYPES:
        return False
    return attachment.get("document") is not None or detected.lower().startswith(
        DOCUMENT_TYPES)


def _certificate(signature: Mapping[str, Any], position: int) -> tuple[str, object]:
    """Which certificate made a signature: issuer and serial (else what names it)."""
    return (signature.get("issuer") or "", next(
        (v for v in (signature.get(k) for k in ("serial", "subject", "signer")) if v is not None),
        position))


def _is_sealed(signature: Mapping[str, Any], unit: str | None) -> bool:
    """A valid organisation signature of ``unit`` (a signature recorded before roles
    were has no role, so never is one)."""
    return (unit is not None and signature.get("verdict") == "valid"
            and signature.get("signer_role") == "organisation"
            and signature.get("signer_unit") == unit)


def document_figures(attachment: Mapping[str, Any], sender: str | None = None
                     ) -> tuple[int, int, int, int, int, int, int, int]:
    """One attachment: is a document; signed; validly signed; valid with a gov root;
    with a public root (and none gov); two valid signatures by two certificates; sealed
    by ``sender`` (the sending unit); complete as signer/ judged it (audit/README.md).
    A document timestamp is no signature."""
    if not _is_document(attachment):
        return NO_DOCUMENTS
    verdict = attachment.get("document")
    people = [(i, s) for i, s in enumerate(attachment.get("signatures") or ())
              if not s.get("is_timestamp")]
    signed = (verdict is not None and verdict not in ("unsigned", "unverifiable")) or bool(people)
    valid_ones = [(i, s) for i, s in people if s.get("verdict") == "valid"]
    if not (verdict == "valid" or valid_ones):
        return (1, int(signed), 0, 0, 0, 0, 0, 0)
    families = {s.get("root_family") for _, s in valid_ones}
    gov = "gov" in families
    two = len({_certificate(s, i) for i, s in valid_ones}) >= 2
    sealed = any(_is_sealed(s, sender) for _, s in valid_ones)
    complete = attachment.get("complete") is True
    return (1, 1, 1, int(gov), int(not gov and "public" in families), int(two),
            int(sealed), int(complete))


def _documents(detail: str | None, sender: str | None
               ) -> tuple[int, int, int, int, int, int, int, int]:
    """The documents of a message's attachments (``detail`` only when it has any);
    ``sender``: the unit that sent it, whose seal counts."""
    if not detail:
        return NO_DOCUMENTS
    totals = [0] * 8
    for attachment in json.loads(detail).get("attachments", ()):
        for i, n in enumerate(document_figures(attachment, sender)):
            totals[i] += n
    return (totals[0], totals[1], totals[2], totals[3], totals[4], totals[5], totals[6],
            totals[7])


def messages(conn: sqlite3.Connection, period: Period, units: Sequence[str] = (), *,
             held: Mapping[str, Fate] | None = None,
             renames: UnitRenames = NO_RENAMES) -> Iterator[Message]:
    """Every message recorded in ``period`` (those involving ``units``, when named);
    ``held``: the quarantine fates, when the caller has read them. A message written
    before a rename of units (``renames``, the log's) has its units renamed."""
    held = quarantine_fates(conn) if held is None else held
    where, params = _where(period, units, renames)
    for row in conn.execute(f"SELECT {_COLUMNS} FROM events e WHERE {where}", params):
        message = _message(row, row[5], held)
        yield renamed_message(message, partial(renames.resolve, seq=row[14])) if renames \
            else message


def _message(row: Sequence[Any], done: str | None, held: Mapping[str, Fate]) -> Message:
    """One row of :data:`_COLUMNS` as the report sees it, its latest completion ``done``."""
    (direction, unit, sender, dkim, smime, _, received, recipients,
     checked, passed, spoofed, forged, documents, at, _, flags) = row[:16]
    sent_from = sent_by(direction, unit)
    return Message(
        sender=sent_from, claimed=claimed_by(direction, unit),
        envelope_sender=sender or "", fate=fate(done, held),
        # only untrusted mail is checked for forgery; the claim may name no unit
        is_forged=bool(forged) and direction != TRUSTED,
        dkim_pass=dkim == "pass", smime_pass=smime == "pass",
        dmarc_checked=bool(checked), dmarc_pass=bool(passed), spoof_refused=bool(spoofed),
        documents=_documents(documents, sent_from), recipient_units=tuple(_split(received)),
        recipients=_recipients(recipients), at=at,
        is_marked=bool(flags & 1), is_legacy=bool(flags & 2),
    )


# The latest completion before a position (the summary's state before a batch).
_COMPLETION_BEFORE = """(SELECT c.outcome || char(31) || coalesce(c.reply, '') FROM events c
     WHERE c.record_id = e.seq AND c.kind = 'completion' AND c.seq < ?
     ORDER BY c.seq DESC LIMIT 1)"""


@dataclass(frozen=True, slots=True)
class Stretched:
    """A message as the summary counts it: its units as written (no rename applied),
    its stretch (audit/summaryschema.py), and, for a record written before ``before``,
    the message as it stood then (None: it did not exist, or added nothing then)."""

    seq: int
    stretch: int
    message: Message
    before: Message | None


@dataclass(frozen=True, slots=True)
class Written:
    """A message as written, to be read at any state of its fate: its stretch, its
    latest completion (``outcome<US>reply``) when it was read, and the message as its
    row of :data:`_COLUMNS` reads but its fate (read once: its documents are parsed)."""

    seq: int
    stretch: int
    done: str | None
    written: Message

    def message(self, done: str | None, held: Mapping[str, Fate]) -> Message:
        """The message, its latest completion ``done``, its quarantine read with ``held``."""
        return replace(self.written, fate=fate(done, held))


def written(conn: sqlite3.Connection, where: str, params: Sequence[Any], *, rows: str = ""
            ) -> list[Written]:
    """The messages ``where`` selects (SQL on ``events e``), as written, with their
    stretch. With ``rows``, a WITH clause naming rows of ``events``, ``memberships`` and
    ``recipients`` not stored yet (its parameters first in ``params``), those rows'
    messages instead, read by the same SQL, each one's stretch ``-seq`` (its place is
    not known yet)."""
    stretch = "-e.seq" if rows else STRETCH
    found = conn.execute(f"{rows} SELECT {_COLUMNS}, {stretch} FROM events e "
                         f"WHERE e.kind = 'message' AND {where}", params).fetchall()
    return [Written(int(row[14]), int(row[16]), row[5], _message(row, None, {}))
            for row in found]


def stretched(conn: sqlite3.Connection, where: str, params: Sequence[Any], *,
              held: Mapping[str, Fate], before: int | None = None,
              held_before: Mapping[str, Fate] | None = None) -> Iterator[Stretched]:
    """The messages ``where`` selects (SQL on ``events e``), as written, with their
    stretch; with ``before`` (a position), each one's earlier state too: its latest
    completion before that position, its quarantine read with ``held_before``."""
    extra = f", {STRETCH}"
    args = list(params)
    if before is not None:
        extra += f", {_COMPLETION_BEFORE}"
        args = [before, *args]
    rows = conn.execute(f"SELECT {_COLUMNS}{extra} FROM events e "
                        f"WHERE e.kind = 'message' AND {where}", args).fetchall()
    for row in rows:
        yield _stretched(row, int(row[16]), row[5], row[17] if before is not None else None,
                         held=held, before=before, held_before=held_before)


def stretched_known(conn: sqlite3.Connection, known: Mapping[int, Sequence[Any]], *,
                    held: Mapping[str, Fate], before: int,
                    held_before: Mapping[str, Fate] | None = None) -> Iterator[Stretched]:
    """:func:`stretched` of the message records ``known`` gives the rows of
    (:func:`columns_of`, by position) and a position ``before``: only their stretch and
    completions are read, not the records."""
    seqs = sorted(known)
    # by position alone (they are message records): with the kind too, SQLite reads
    # every message's entry in the kind index, whose columns cover this statement
    for seq, stretch, done, done_before in conn.execute(
            f"SELECT e.seq, {STRETCH}, {_LATEST}, {_COMPLETION_BEFORE} FROM events e "
            f"WHERE e.seq IN ({', '.join('?' * len(seqs))})", [before, *seqs]).fetchall():
        yield _stretched(known[int(seq)], int(stretch), done, done_before, held=held,
                         before=before, held_before=held_before)


def _stretched(row: Sequence[Any], stretch: int, done: str | None, done_before: str | None,
               *, held: Mapping[str, Fate], before: int | None,
               held_before: Mapping[str, Fate] | None) -> Stretched:
    seq = int(row[14])
    message = _message(row, done, held)
    earlier = None
    if before is not None and seq < before:
        then = fate(done_before, held if held_before is None else held_before)
        # without a fate a message adds only its DMARC checks (report.py's figures), so
        # one with neither then stood at nothing: there is nothing to take out
        if then is not None or message.dmarc_checked:
            # only the fate differs: its documents are not parsed again
            earlier = replace(message, fate=then)
    return Stretched(seq, stretch, message, earlier)
