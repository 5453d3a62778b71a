"""Test helpers for audit/: records with plausible defaults."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from audit.records import (
    Action,
    Attachment,
    AuditRecord,
    AuthResult,
    Direction,
    Operation,
    Role,
    Violation,
)

T0 = datetime(2026, 11, 3, 2, 30, tzinfo=UTC)


def sha(data: bytes | str) -> str:
    """SHA-256 hex of bytes or text."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def make_record(**overrides: Any) -> AuditRecord:
    """An outbound message from unit 'stc' to 'ubnd' with one signed PDF."""
    received = overrides.pop("received_at", T0)
    values: dict[str, Any] = {
        "received_at": received,
        "decided_at": received + timedelta(milliseconds=40),
        "listener": "submission",
        "role": Role.OUTBOUND,
        "direction": Direction.OUTBOUND,
        "client_address": "10.0.0.5",
        "client_helo": "pc-ketoan",
        "queue_id": "4Xk2Lm0abc",
        "message_id": "<cv-123@stc.example.gov.vn>",
        "envelope_sender": "vanthu@stc.example.gov.vn",
        "envelope_recipients": ["vanthu@ubnd.example.gov.vn"],
        "header_from": "Văn thư Sở Tài chính <vanthu@stc.example.gov.vn>",
        "header_to": "UBND tỉnh <vanthu@ubnd.example.gov.vn>",
        "subject": "Công văn số 123/STC về dự toán ngân sách",
        "header_date": "Tue, 03 Nov 2026 09:30:00 +0700",
        "size": 48213,
        "attachments": [Attachment(
            path="2", filename="Công văn 123.pdf", declared_type="application/pdf",
            detected_type="application/pdf", size=40000, sha256=sha("cv123"),
        )],
        "action": Action.ACCEPT,
        "violations": [],
        "authentication": [
            AuthResult(method="dkim", operation=Operation.SIGN, result="pass",
                       domain="stc.example.gov.vn", selector="cv2026"),
            AuthResult(method="smime", operation=Operation.SIGN, result="pass",
                       signer="vanthu@stc.example.gov.vn"),
        ],
        "processing_ms": 41.5,
        "sender_unit": "stc",
        "recipient_units": ["ubnd"],
    }
    values.update(overrides)
    return AuditRecord(**values)


__all__ = ["T0", "Violation", "make_record", "sha"]
