"""Varied audit events in the batches the filter writes them in: every path of the rows'
making (tests/audit/test_stored_rows.py freezes what they store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from audit.records import (
    Action,
    AdminEvent,
    AdminKind,
    Attachment,
    AuditRecord,
    AuthResult,
    Completion,
    Direction,
    DocumentSignatureRecord,
    EdXmlRecord,
    Fate,
    Operation,
    Role,
    Violation,
)
from support.audit import make_record, sha

T = datetime(2026, 11, 30, 16, 59, 59, 999999, tzinfo=UTC)  # a minute before a local day


def _signature(**overrides: Any) -> DocumentSignatureRecord:
    values: dict[str, Any] = {
        "verdict": "valid", "reason": "the signature is valid", "field": "Signature1",
        "format": "pades", "signer": "Nguyễn Văn An", "organisation": "Sở Tài chính",
        "subject": "CN=Nguyễn Văn An,O=Sở Tài chính", "issuer": "CN=CA phục vụ các cơ quan",
        "serial": "0a1b2c", "signing_time": "2026-11-30T08:00:00+07:00",
        "time_source": "timestamp", "digest_algorithm": "sha256", "coverage": "whole",
        "modification_level": "none", "chain": ["CN=Nguyễn Văn An", "CN=Root"],
        "notes": ["chú thích"], "root_family": "gov", "revocation_status": "good",
        "revocation_evidence": sha("crl"), "signer_role": "person", "signer_unit": "stc",
        "code": "document.valid", "params": {"signer": "Nguyễn Văn An", "n": 2},
    }
    values.update(overrides)
    return DocumentSignatureRecord(**values)


def _documents() -> AuditRecord:
    """Signed documents: every signature field, one older signature without the fields
    added later, a complete document inside an archive, an edXML package."""
    return make_record(
        received_at=T + timedelta(minutes=1), queue_id="DOC1",
        attachments=[
            Attachment(path="2", filename="Quyết định 45.pdf", declared_type="application/pdf",
                       detected_type="application/pdf", size=52000, sha256=sha("qd45"),
                       document="valid", complete=True, signatures=[
                           _signature(),
                           _signature(signer_role="organisation", signer="Sở Tài chính",
                                      serial="0d0e", params={"nested": {
                                          "code": "x.y", "params": {"a": "ký"}}}),
                       ]),
            Attachment(path="3/hồ sơ/tờ trình.docx", filename="tờ trình.docx",
                       declared_type="application/zip",
                       detected_type="application/vnd.openxmlformats-officedocument"
                       ".wordprocessingml.document", size=1200, sha256=sha("tt").upper(),
                       document="invalid", complete=False, signatures=[_signature(
                           verdict="invalid", reason="modified", root_family=None,
                           revocation_status=None, revocation_evidence=None,
                           signer_role=None, signer_unit=None, code=None, params=None,
                           is_timestamp=True)]),
            Attachment(path="4", filename="goi.edxml", declared_type="application/xml",
                       size=900, sha256=sha("edxml"), edxml=EdXmlRecord(
                           document_id="000.00.00.H41-261130-0001", organ_id="000.00.00.H41",
                           code_number="45", code_notation="QĐ-UBND")),
            Attachment(path="5", filename=None, declared_type="application/octet-stream",
                       size=0, sha256=sha("empty")),
        ],
        archived_sha256=sha("archived-doc"))


def _inbound_many() -> AuditRecord:
    """Inbound to many recipients, some of a unit, with verification results."""
    recipients = [f"NguoiNhan{n}@Ubnd.Example.Gov.VN" for n in range(25)]
    recipients += ["ketoan@stc.example.gov.vn", "ngoai@example.org"]
    return make_record(
        received_at=T + timedelta(hours=3), listener="mx", role=Role.INBOUND,
        direction=Direction.INBOUND, client_address="203.0.113.9",
        client_helo="mail.example.org", queue_id="IN1",
        message_id="<a@example.org>", envelope_sender="Ben.Ngoai@Example.ORG",
        envelope_recipients=recipients,
        header_from="Bên ngoài <ben.ngoai@example.org>",
        header_to=", ".join(recipients[:3]), header_cc="Thư ký <tk@ubnd.example.gov.vn>",
        subject="Re: Giấy mời họp Đảng ủy — lần 2", sender_unit=None,
        recipient_units=["ubnd"],
        recipient_unit_of={**{r: "ubnd" for r in recipients[:25:2]},
                           "ketoan@stc.example.gov.vn": "stc"},
        authentication=[
            AuthResult(method="dkim", result="fail", reason="body hash mismatch",
                       domain="example.org", selector="s1", code="dkim.body-hash",
                       params={"domain": "example.org"}),
            AuthResult(method="dkim", result="pass", domain="relay.example.net",
                       selector="r"),
            AuthResult(method="spf", result="pass", domain="example.org"),
            AuthResult(method="dmarc", result="pass", domain="example.org", policy="none",
                       disposition="none"),
            AuthResult(method="arc", result="none"),
            AuthResult(method="smime", result="neutral", reason="no signature"),
        ],
        attachments=[], processing_ms=0.1 + 0.2, size=2**40)


def _quarantined() -> AuditRecord:
    """Held by the policy, with violations, nested reasons and classified markings."""
    return make_record(
        received_at=T + timedelta(days=1, hours=2), queue_id="HOLD1", action=Action.QUARANTINE,
        subject="TỐI MẬT: báo cáo", violations=[
            Violation(rule="classified-marking", reason="marked TỐI MẬT", part="1",
                      code="policy.classified", params={"marking": "TỐI MẬT"}),
            Violation(rule="legacy-encoding", reason="TCVN3 text", part="1"),
            Violation(rule="archive-member", reason="setup.exe inside", filename="a.zip",
                      content_type="application/zip", detected_type="application/zip",
                      part="2", member="setup.exe", code="policy.member", params={
                          "why": {"code": "policy.executable", "params": {"name": "setup.exe"}},
                          "depth": 1}),
        ])


def _odd_text() -> AuditRecord:
    """Undecodable bytes, raw headers, sent as another unit, the null sender, nothing
    optional, a processing time of zero."""
    return make_record(
        received_at=T + timedelta(days=2), queue_id=None, client_address=None,
        client_helo=None, message_id=None, envelope_sender="",
        envelope_recipients=["a\udcffb@ubnd.example.gov.vn", "X@ubnd.example.gov.vn"],
        header_from="So \ufffd <vanthu@stc.example.gov.vn>", header_to=None, header_cc=None,
        subject="Tiêu đề \udcfe\ud800 \"trích\" \\ \x00 tab\there", header_date=None,
        raw_headers={"From": "U28g/yA8dmFudGh1QHN0Yy5leGFtcGxlLmdvdi52bj4="},
        submitted_by_unit="vp", sender_unit="stc", recipient_units=["ubnd", "ubnd", "vp"],
        recipient_unit_of={"X@ubnd.example.gov.vn": "ubnd"},
        attachments=[], authentication=[], processing_ms=0.0, size=0,
        action=Action.TAG)


def _forgery() -> AuditRecord:
    """Inbound mail forging a unit, refused by the spoof guard."""
    return make_record(
        received_at=T + timedelta(days=32), listener="mx", role=Role.AUTO,
        direction=Direction.INBOUND, client_address="198.51.100.7", queue_id="FORGE1",
        envelope_sender="giamdoc@stc.example.gov.vn", action=Action.REJECT,
        sender_unit="stc", attachments=[], authentication=[
            AuthResult(method="dmarc", result="fail", domain="stc.example.gov.vn",
                       policy="reject", disposition="spoof-refused",
                       reason="no aligned signature", code="dmarc.spoof", params={}),
            AuthResult(method="dkim", operation=Operation.VERIFY, result="none"),
        ])


def batches() -> list[list[AuditRecord | Completion | AdminEvent]]:
    """The events in the batches they are written in; record ids are their positions."""
    done = T + timedelta(days=3)
    return [
        [make_record(received_at=T), _documents(), _inbound_many()],       # 1-3
        [Completion(record_id=1, outcome=Fate.RELAYED, reply="250 2.0.0 Ok: queued as A",
                    ms=12.25, at=done),
         Completion(record_id=2, outcome=Fate.STRIPPED, reply="250 ok", ms=0.5, at=done),
         Completion(record_id=3, outcome=Fate.RELAYED, reply=None, at=done)],  # 4-6
        [_quarantined(),                                                      # 7
         Completion(record_id=7, outcome=Fate.QUARANTINED,
                    reply="quarantined as Q-7c1e", ms=3.0, at=done)],         # 8
        [_odd_text(), _forgery(),                                            # 9, 10
         make_record(received_at=T + timedelta(days=40), queue_id="TF1",
                     action=Action.TEMPFAIL, attachments=[])],               # 11
        [Completion(record_id=9, outcome=Fate.RELAYED, reply="250 ok", at=done),
         Completion(record_id=10, outcome=Fate.REJECTED,
                    reply="550 5.7.1 Thu gia mao / forged", at=done),
         Completion(record_id=11, outcome=Fate.TEMPFAILED, reply="451 4.3.0", at=done),
         AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="kiemsoat", target=" Q-7c1e ",
                    unit_id="stc", details={"reason": "đã kiểm tra", "record": 7,
                                            "archived": None, "ok": True, "ms": 1.5},
                    at=done + timedelta(seconds=1)),
         AdminEvent(kind=AdminKind.DIRECTORY_CHANGE, actor="admin", target="stc",
                    at=done + timedelta(seconds=2))],                        # 12-16
        [make_record(received_at=T + timedelta(days=1), queue_id="LAST",
                     envelope_recipients=["vanthu@ubnd.example.gov.vn",
                                          "vanthu@stc.example.gov.vn"],
                     recipient_unit_of={"vanthu@ubnd.example.gov.vn": "ubnd",
                                        "vanthu@stc.example.gov.vn": "stc"}),
         Completion(record_id=17, outcome=Fate.RELAYED, reply="250 ok", at=done)],  # 17-18
    ]
