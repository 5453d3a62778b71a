"""The audit record of one message, built from its context (DESIGN.md flow, 6 and 8).

The record is written before the relay and its completion after, both through the
audit writer's group commit; the client's reply waits for both.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from audit import (
    Action,
    Attachment,
    AuditRecord,
    AuthResult,
    Completion,
    Direction,
    Outcome,
    Role,
    Violation,
)
from milter.context import MessageContext

_HEADERS = BytesHeaderParser(policy=compat32)
_OUTCOMES = {
    "relayed": Outcome.RELAYED,
    "reject": Outcome.REJECTED,
    "quarantine": Outcome.QUARANTINED,
    "tempfail": Outcome.TEMPFAILED,
}


def _decoded(value: Any) -> str | None:
    """An RFC 2047 header value as Unicode; undecodable bytes are kept escaped."""
    if value is None:
        return None
    text = str(value)
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        return text


def header_fields(content: bytes) -> dict[str, str | None]:
    """From, To, Cc, Subject, Date and Message-ID of the header block, decoded."""
    header_end = content.find(b"\r\n\r\n")
    head = content[: header_end + 4] if header_end >= 0 else content
    parsed = _HEADERS.parsebytes(head)
    return {
        name: _decoded(parsed.get(name))
        for name in ("From", "To", "Cc", "Subject", "Date", "Message-ID")
    }


def build_record(ctx: MessageContext, verdict_name: str) -> AuditRecord:
    """The record of ``ctx`` as the pipeline left it, with the action taken."""
    fields = header_fields(ctx.original_content)
    decision = ctx.decision
    if verdict_name == "tempfail":
        action = Action.TEMPFAIL
    elif decision is not None:
        action = Action(decision.action.value)
    else:
        action = Action.REJECT if verdict_name == "reject" else Action.ACCEPT
    documents = {d["sha256"]: d for d in ctx.results.get("documents", []) if d.get("sha256")}
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
        action=action,
        violations=violations,
        authentication=[AuthResult(**result) for result in ctx.results.get("auth", [])],
        processing_ms=round((time.time() - ctx.received_at) * 1000, 3),
        sender_unit=ctx.sender_unit,
        recipient_units=list(ctx.recipient_units),
        recipient_unit_of=dict(ctx.recipient_unit_of),
    )


def build_completion(record_id: int, verdict_name: str, reply: str, ms: float,
                     *, is_stripped: bool) -> Completion:
    """The fate of a recorded message."""
    outcome = _OUTCOMES.get(verdict_name, Outcome.TEMPFAILED)
    if outcome is Outcome.RELAYED and is_stripped:
        outcome = Outcome.STRIPPED
    return Completion(record_id=record_id, outcome=outcome, reply=reply, ms=round(ms, 3))
