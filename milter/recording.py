"""The audit record of one message, built from its context (ARCHITECTURE.md, the message's path).

The record is written before the relay and its completion after, both through the
audit writer's group commit; the client's reply waits for both.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from audit import (
    Action,
    Attachment,
    AuditRecord,
    Completion,
    Direction,
    Fate,
    Role,
    Violation,
)
from milter.context import MessageContext
from milter.pipeline import Outcome

_HEADERS = BytesHeaderParser(policy=compat32)


def _decoded(value: Any) -> str | None:
    """An RFC 2047 header value as Unicode; undecodable bytes are kept escaped."""
    if value is None:
        return None
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        return text


# RFC 2047 2: an encoded word is an atom of its own, without white space inside.
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
RECORDED_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")


def _decoded_words(text: str) -> str:
    """RFC 2047 encoded words decoded inside text that may hold raw UTF-8 (RFC 6532).

    The stdlib's decode_header takes only ASCII, so each encoded word is decoded on its
    own; white space between two adjacent encoded words goes (RFC 2047 6.2).
    """
    pieces: list[str] = []
    end = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[end:match.start()]
        if end == 0 or between.strip(" \t\r\n"):
            pieces.append(between)
        pieces.append(_decoded(match.group()) or "")
        end = match.end()
    pieces.append(text[end:])
    return "".join(pieces)


@dataclass(frozen=True, slots=True)
class HeaderFields(Mapping[str, str | None]):
    """The recorded header fields as text, and the raw bytes of those that are not UTF-8.

    ``raw`` maps a field name to its value's bytes, base64-encoded: the text of such a
    field holds U+FFFD where the bytes did not decode, and the record keeps the bytes
    so that nothing the sender wrote is lost.
    """

    text: dict[str, str | None]
    raw: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str | None:
        return self.text[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.text)

    def __len__(self) -> int:
        return len(self.text)


def _field_text(value: str) -> tuple[str | None, bytes | None]:
    """One field's value as text, plus its bytes when they are not valid UTF-8."""
    if value.isascii():
        return _decoded(value), None  # RFC 2047 only, as it always was
    # The parser read the bytes as ASCII with surrogateescape: this gives them back.
    raw = value.encode("ascii", "surrogateescape")
    try:
        text, kept = raw.decode("utf-8"), None  # RFC 6532 3.2: UTF-8 in header values
    except UnicodeDecodeError:
        text, kept = raw.decode("utf-8", "replace"), raw
    return _decoded_words(_FOLD.sub("", text)), kept


def header_fields(content: bytes) -> HeaderFields:
    """From, To, Cc, Subject, Date and Message-ID of the header block, decoded.

    RFC 2047 encoded words are decoded; raw UTF-8 (SMTPUTF8, RFC 6532) is read as
    UTF-8; other 8-bit bytes become U+FFFD in the text and are kept in ``raw``.
    """
    header_end = content.find(b"\r\n\r\n")
    head = content[: header_end + 4] if header_end >= 0 else content
    parsed = _HEADERS.parsebytes(head)
    # raw_items, not get(): compat32 turns 8-bit values into U+FFFD on the way out.
    values: dict[str, str] = {}
    for found, value in parsed.raw_items():
        values.setdefault(found.lower(), value)  # the first field, as get() gives
    text: dict[str, str | None] = {}
    raw: dict[str, str] = {}
    for name in RECORDED_HEADERS:
        source = values.get(name.lower())
        if source is None:
            text[name] = None
            continue
        text[name], kept = _field_text(source)
        if kept is not None:
            raw[name] = base64.b64encode(kept).decode("ascii")
    return HeaderFields(text, raw)


def _action(ctx: MessageContext, outcome: Outcome) -> Action:
    """The record's action: the policy's decision, else what the pipeline decided."""
    if outcome is Outcome.TEMPFAIL:
        return Action.TEMPFAIL
    if ctx.decision is not None:
        return Action(ctx.decision.action.value)
    if outcome in (Outcome.REJECT, Outcome.DISCARD):
        return Action.REJECT
    return Action.ACCEPT


def build_record(ctx: MessageContext, outcome: Outcome) -> AuditRecord:
    """The record of ``ctx`` as the pipeline left it, with what it decided."""
    fields = header_fields(ctx.original_content)
    decision = ctx.decision
    documents = {d["sha256"]: d for d in ctx.documents if d.get("sha256")}
    attachments = [
        Attachment(
            path=a.path if a.member is None else f"{a.path}/{a.member}",
            filename=a.filename,
            declared_type=a.content_type,
            detected_type=a.detected_type,
            size=a.size,
            sha256=a.sha256,
            document=documents[a.sha256]["verdict"] if a.sha256 in documents else None,
            signatures=documents[a.sha256]["signatures"] if a.sha256 in documents else None,
        )
        for a in (decision.attachments if decision is not None else ())
    ]
    violations = [
        Violation(rule=v.rule, reason=v.reason, filename=v.filename,
                  content_type=v.content_type, detected_type=v.detected_type,
                  part=v.part, member=v.member)
        for v in (decision.violations if decision is not None else ())
    ]
    return AuditRecord(
        received_at=datetime.fromtimestamp(ctx.received_at, UTC),
        decided_at=datetime.now(UTC),
        listener=ctx.listener,
        role=Role(ctx.role.value),
        direction=Direction(ctx.direction.value),
        client_address=ctx.xforward.addr,
        client_helo=ctx.xforward.helo,
        queue_id=ctx.xforward.ident,
        message_id=fields["Message-ID"],
        envelope_sender=ctx.envelope.mail_from,
        envelope_recipients=list(ctx.envelope.recipients),
        header_from=fields["From"],
        header_to=fields["To"],
        header_cc=fields["Cc"],
        subject=fields["Subject"],
        header_date=fields["Date"],
        size=len(ctx.original_content),
        attachments=attachments,
        action=_action(ctx, outcome),
        violations=violations,
        authentication=list(ctx.auth),
        processing_ms=round((time.time() - ctx.received_at) * 1000, 3),
        sender_unit=ctx.sender_unit,
        submitted_by_unit=ctx.submitted_by_unit,
        raw_headers=fields.raw or None,
        recipient_units=list(ctx.recipient_units),
        recipient_unit_of=dict(ctx.recipient_unit_of),
    )


def build_completion(record_id: int, fate: Fate, reply: str, ms: float) -> Completion:
    """The fate of a recorded message, with the reply that went with it."""
    return Completion(record_id=record_id, outcome=fate, reply=reply, ms=round(ms, 3))
