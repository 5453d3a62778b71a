"""From the edge models to rows: the chained ``events`` row and its derived indexes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from audit.chain import canonical
from audit.records import (
    AdminEvent,
    Attachment,
    AuditRecord,
    AuthResult,
    Completion,
    Violation,
)
from mailbase import fold


def iso(value: datetime) -> str:
    """The storage form of a time: UTC ISO 8601 with microseconds."""
    utc = value.astimezone(UTC)
    # isoformat() gives the microseconds unless there are none, and is the cheaper call
    # (three a message)
    return utc.isoformat() if utc.microsecond else utc.isoformat(timespec="microseconds")


def summary(results: Iterable[AuthResult], method: str) -> str | None:
    """One word for a method's results: ``pass`` if any passed, else the first result."""
    found = [r.result for r in results if r.method == method]
    if not found:
        return None
    return "pass" if "pass" in found else found[0]


@dataclass(slots=True)
class Rows:
    """One event's rows: the chained row and what the query indexes derive from it."""

    event: dict[str, Any]
    memberships: list[tuple[str, str]] = field(default_factory=list)
    recipients: list[tuple[str, str | None]] = field(default_factory=list)
    attachments: list[tuple[str, str | None, str | None, int, str | None]] = field(
        default_factory=list)
    search: str | None = None


#: a reason's code and parameters: left out of the detail when absent, so records
#: written before reasons had codes keep their exact bytes and hashes
_REASON_CODE = ("code", "params")
# Fields left out of the detail when None, so that records written before each was
# recorded keep their exact detail, hence their hash: a document's verdicts, its
# completeness and edXML header; a signature's root family (not valid, or judged before
# families), revocation status and evidence, role and unit; the DMARC fields of an
# authentication result; and every reason's code.
_ATTACHMENT_LATER = frozenset({"document", "signatures", "complete", "edxml"})
_SIGNATURE_LATER = frozenset({"root_family", "revocation_status", "revocation_evidence",
                              "signer_role", "signer_unit", *_REASON_CODE})
_AUTH_LATER = frozenset({"policy", "disposition", *_REASON_CODE})
_VIOLATION_LATER = frozenset(_REASON_CODE)


def _fields(model: BaseModel, later: frozenset[str]) -> dict[str, Any]:
    """``model.model_dump(mode="json")`` without the fields of ``later`` that are None,
    for a model whose fields are JSON values already but for a reason's ``params``: read
    from the validated fields as they are, instead of serialised again (a pydantic
    dump and the exclusions it is given cost several microseconds a model, and a record
    has several). tests/audit/test_rows.py holds it to ``model_dump``."""
    out = {name: value for name, value in model.__dict__.items()
           if value is not None or name not in later}
    params = out.get("params")
    if params is not None:
        out["params"] = to_jsonable_python(params)  # as model_dump reads an Any
    return out


def _attachment(a: Attachment) -> dict[str, Any]:
    out = _fields(a, _ATTACHMENT_LATER)
    if a.signatures is not None:
        out["signatures"] = [_fields(s, _SIGNATURE_LATER) for s in a.signatures]
    if a.edxml is not None:
        out["edxml"] = dict(a.edxml.__dict__)
    return out


def _auth(r: AuthResult) -> dict[str, Any]:
    out = _fields(r, _AUTH_LATER)
    out["operation"] = r.operation.value
    return out


def _violation(v: Violation) -> dict[str, Any]:
    return _fields(v, _VIOLATION_LATER)


def message_rows(rec: AuditRecord) -> Rows:
    """The rows of one message record (``seq``, ``prev_hash``, ``hash`` left to the store)."""
    detail: dict[str, Any] = {
        "envelope_recipients": rec.envelope_recipients,
        "header_to": rec.header_to,
        "header_cc": rec.header_cc,
        "header_date": rec.header_date,
        "attachments": [_attachment(a) for a in rec.attachments],
        "violations": [_violation(v) for v in rec.violations],
        "authentication": [_auth(r) for r in rec.authentication],
        "recipient_units": rec.recipient_units,
    }
    if rec.raw_headers:
        # Only where a header was not UTF-8: every other record keeps the exact detail,
        # hence the hash, it had before raw headers were kept.
        detail["raw_headers"] = rec.raw_headers
    if rec.submitted_by_unit:
        # Only for mail sent as another unit: other records keep their hash.
        detail["submitted_by_unit"] = rec.submitted_by_unit
    if rec.archived_sha256:
        # Only for an archived message: other records, and stores written before the
        # archive, keep their hash (and the previous release still verifies this one).
        detail["archived_sha256"] = rec.archived_sha256
    if rec.recipient_unit_of:
        # Aligned with envelope_recipients, so the index check can rebuild it in SQL.
        detail["envelope_recipient_units"] = [
            rec.recipient_unit_of.get(a) for a in rec.envelope_recipients
        ]
    event: dict[str, Any] = {
        "kind": "message",
        "at": iso(rec.received_at),
        "decided_at": iso(rec.decided_at),
        "listener": rec.listener,
        "role": rec.role.value,
        "direction": rec.direction.value,
        "client_address": rec.client_address,
        "client_helo": rec.client_helo,
        "queue_id": rec.queue_id,
        "message_id": rec.message_id,
        "envelope_sender": rec.envelope_sender,
        "header_from": rec.header_from,
        "subject": rec.subject,
        "size": rec.size,
        "action": rec.action.value,
        "dkim": summary(rec.authentication, "dkim"),
        "smime": summary(rec.authentication, "smime"),
        "processing_ms": float(rec.processing_ms),
        "sender_unit": rec.sender_unit,
        "detail": canonical(detail),
    }
    units: list[tuple[str, str]] = []
    if rec.sender_unit:
        units.append((rec.sender_unit, "sent"))
    units.extend((unit, "received") for unit in dict.fromkeys(rec.recipient_units))
    words = [
        rec.subject, rec.header_from, rec.header_to, rec.header_cc, rec.envelope_sender,
        *rec.envelope_recipients, *(a.filename for a in rec.attachments),
    ]
    return Rows(
        event=event,
        memberships=units,
        recipients=[(a.lower(), rec.recipient_unit_of.get(a)) for a in rec.envelope_recipients],
        attachments=[
            (a.sha256, a.filename, fold(a.filename) if a.filename else None, a.size,
             a.document)
            for a in rec.attachments
        ],
        # folded word by word: folding is per character but for the marks NFD orders,
        # which a space (a starter) bounds, so this is the joined text's folding; most
        # words are ASCII addresses, folded without NFD
        search=" ".join(fold(w) for w in words if w),
    )


def completion_rows(done: Completion) -> Rows:
    """The row of one completion event."""
    return Rows(event={
        "kind": "completion",
        "at": iso(done.at),
        "record_id": done.record_id,
        "outcome": done.outcome.value,
        "reply": done.reply,
        "processing_ms": float(done.ms),
        "detail": "{}",
    })


def admin_rows(event: AdminEvent) -> Rows:
    """The row of one administrative event."""
    return Rows(event={
        "kind": "admin",
        "at": iso(event.at),
        "admin_kind": event.kind.value,
        "actor": event.actor,
        "target": event.target,
        "sender_unit": event.unit_id,
        "detail": canonical(event.details),
    })
