"""The audit record of one message, built from its context (ARCHITECTURE.md, the message's path).

The record is written before the relay and its completion after, both through the
audit writer's group commit; the client's reply waits for both.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from audit import (
    Action,
    Attachment,
    AuditRecord,
    Completion,
    Direction,
    EdXmlRecord,
    Fate,
    Role,
    Violation,
)
from mailbase import HeaderBlock, HeaderField
from milter.context import MessageContext
from milter.pipeline import Outcome

RECORDED_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")
_RECORDED_KEYS = {name.lower().encode("ascii"): name for name in RECORDED_HEADERS}


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


def header_fields(header: HeaderBlock) -> HeaderFields:
    """From, To, Cc, Subject, Date and Message-ID (the first of each) of the header
    block read at the door, as text.

    mailbase decodes them (``HeaderField.text``: RFC 2047 encoded words, raw UTF-8 as
    SMTPUTF8 mail carries it, RFC 6532); other 8-bit bytes become U+FFFD in the text
    and are kept in ``raw``.
    """
    # the first field of each name, in one pass (HeaderBlock.first walks the block and
    # lower-cases every name it passes, once for each name asked)
    firsts: dict[str, HeaderField] = {}
    for each in header.fields:
        name = _RECORDED_KEYS.get(each.key)
        if name is not None and name not in firsts:
            firsts[name] = each
    text: dict[str, str | None] = {}
    raw: dict[str, str] = {}
    for name in RECORDED_HEADERS:
        found = firsts.get(name)
        text[name] = None if found is None else found.text
        if found is not None and not found.is_utf8:
            raw[name] = base64.b64encode(found.value.lstrip(b" \t")).decode("ascii")
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


def _processing_ms(ctx: MessageContext) -> float:
    """Milliseconds since the message was received, by the wall clock its reception time
    is read on. A clock stepped back meanwhile gives a negative time, which the record
    refuses: the message would be tempfailed, and its failure not recorded either. Such
    a time is 0; any other (-0.0 included) is kept as before."""
    ms = round((time.time() - ctx.received_at) * 1000, 3)
    return 0.0 if ms < 0 else ms


def build_record(ctx: MessageContext, outcome: Outcome) -> AuditRecord:
    """The record of ``ctx`` as the pipeline left it, with what it decided."""
    fields = header_fields(ctx.header)
    decision = ctx.decision
    # the parts the policy stage decided on and the documents stage read: one walk
    parts = ctx.parts.found
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
            complete=documents[a.sha256].get("complete") if a.sha256 in documents else None,
            edxml=EdXmlRecord(**asdict(a.edxml)) if a.edxml is not None else None,
        )
        for a in (parts.attachments if parts is not None else ())
    ]
    violations = [
        Violation(rule=v.rule, reason=v.reason, filename=v.filename,
                  content_type=v.content_type, detected_type=v.detected_type,
                  part=v.part, member=v.member,
                  **(v.why.as_json() if v.why is not None else {}))
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
        processing_ms=_processing_ms(ctx),
        sender_unit=ctx.sender_unit,
        submitted_by_unit=ctx.submitted_by_unit,
        raw_headers=fields.raw or None,
        archived_sha256=ctx.archived_sha256,
        recipient_units=list(ctx.recipient_units),
        recipient_unit_of=dict(ctx.recipient_unit_of),
    )


def build_completion(record_id: int, fate: Fate, reply: str, ms: float) -> Completion:
    """The fate of a recorded message, with the reply that went with it."""
    return Completion(record_id=record_id, outcome=fate, reply=reply, ms=round(ms, 3))
