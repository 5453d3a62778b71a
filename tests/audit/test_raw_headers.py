"""Raw header bytes in the record's detail: only where a header was not UTF-8, so records
without them, and stores written before, keep their exact detail and hashes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from audit.config import AuditConfig
from audit.records import Action, AuditRecord, Direction, Role
from audit.rows import message_rows
from audit.store import AuditLog

RAW_SUBJECT = base64.b64encode("Báo cáo".encode("latin-1")).decode()


def record(**overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "received_at": datetime(2026, 11, 3, 2, 30, tzinfo=UTC),
        "decided_at": datetime(2026, 11, 3, 2, 30, 1, tzinfo=UTC),
        "listener": "inbound", "role": Role.INBOUND, "direction": Direction.INBOUND,
        "client_address": "203.0.113.7", "queue_id": "4Qx1", "message_id": "<a@b.vn>",
        "envelope_sender": "a@b.vn", "envelope_recipients": ["vanthu@stc.example.gov.vn"],
        "header_from": "A <a@b.vn>", "header_to": "Văn thư <vanthu@stc.example.gov.vn>",
        "subject": "Công văn số 7", "header_date": "Tue, 03 Nov 2026 09:30:00 +0700",
        "size": 1234, "action": Action.ACCEPT, "processing_ms": 4.5,
    }
    return AuditRecord(**{**values, **overrides})


def test_a_record_without_raw_headers_has_the_detail_the_previous_release_wrote() -> None:
    # Written by the release before raw headers were kept, for this very record: the
    # hashed detail must not change, or every stored chain would stop verifying.
    before = ('{"attachments":[],"authentication":[],"envelope_recipients":'
              '["vanthu@stc.example.gov.vn"],"header_cc":null,"header_date":'
              '"Tue, 03 Nov 2026 09:30:00 +0700","header_to":'
              '"Văn thư <vanthu@stc.example.gov.vn>","recipient_units":[],"violations":[]}')
    assert message_rows(record()).event["detail"] == before
    assert message_rows(record(raw_headers={})).event["detail"] == before
    with_raw = message_rows(record(subject="B\ufffdo c\ufffdo",
                                   raw_headers={"Subject": RAW_SUBJECT})).event["detail"]
    assert f'"raw_headers":{{"Subject":"{RAW_SUBJECT}"}}' in with_raw


def test_a_store_written_before_opens_takes_raw_headers_and_verifies(
        audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        old_id = log.record(record())
    with AuditLog.open(audit_config) as log:  # reopened, as after an upgrade
        new_id = log.record(record(message_id="<b@b.vn>", subject="B\ufffdo c\ufffdo",
                                   raw_headers={"Subject": RAW_SUBJECT}))
        assert log.verify().is_intact
        assert "raw_headers" not in log.show(old_id)
        shown = log.show(new_id)
    assert shown["raw_headers"] == {"Subject": RAW_SUBJECT}
    assert shown["subject"] == "B\ufffdo c\ufffdo"


def test_raw_headers_are_in_the_hash(audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        record_id = log.record(record(raw_headers={"Subject": RAW_SUBJECT}))
        log.db.conn.execute(
            "UPDATE events SET detail = replace(detail, ?, ?) WHERE seq = ?",
            (RAW_SUBJECT, base64.b64encode(b"forged").decode(), record_id))
        log.db.conn.commit()
        assert not log.verify().is_intact


def test_raw_headers_must_be_base64() -> None:
    with pytest.raises(ValidationError, match=r"raw_headers\['Subject'\] is not base64"):
        record(raw_headers={"Subject": "not base64!"})
