"""Documents that count: valid documents sent by the family of their signature's root,
sealed by the sending unit and complete, and the documents of received mail (valid,
two signatures), as audit/README.md defines them."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import timedelta
from html import escape
from typing import Any

from audit.config import AuditConfig
from audit.records import Attachment, AuditRecord, Completion, Direction, Fate, Role
from audit.report import Counts
from audit.reportfmt import labels, render
from audit.store import AuditLog
from mailbase import parse_period
from support.audit import T0, make_record, sha

PERIOD = parse_period("2026-11")
SIGNATURE: dict[str, Any] = {
    "verdict": "valid", "reason": "chained to a trust anchor", "signer": "Nguyễn Văn A",
    "organisation": "Sở Tài chính", "issuer": "CN=Issuing CA", "serial": "1001",
    "chain": ["CN=Nguyễn Văn A", "CN=Root"], "root_family": "gov",
}
SEAL = {**SIGNATURE, "signer": "Sở Tài chính", "serial": "2002"}


def signed(name: str, *signatures: dict[str, Any], document: str = "valid",
           complete: bool | None = None) -> Attachment:
    return Attachment(path="2", filename=name, declared_type="application/pdf",
                      detected_type="application/pdf", size=100, sha256=sha(name),
                      document=document, signatures=list(signatures), complete=complete)


def without_family(signature: dict[str, Any]) -> dict[str, Any]:
    """A signature as recorded before root families were."""
    return {k: v for k, v in signature.items() if k != "root_family"}


def box(unit: str) -> str:
    return f"vanthu@{unit}.example.gov.vn"


def sent(unit: str, to: str, *attachments: Attachment, minutes: int = 0) -> AuditRecord:
    return make_record(received_at=T0 + timedelta(minutes=minutes), sender_unit=unit,
                       envelope_sender=box(unit), header_from=box(unit),
                       envelope_recipients=[box(to)], recipient_unit_of={box(to): to},
                       recipient_units=[to], attachments=list(attachments))


def from_outside(to: str, *attachments: Attachment, minutes: int = 0) -> AuditRecord:
    return make_record(received_at=T0 + timedelta(minutes=minutes), listener="mx",
                       role=Role.INBOUND, direction=Direction.INBOUND,
                       envelope_sender="someone@example.org", header_from="someone@example.org",
                       sender_unit=None, envelope_recipients=[box(to)],
                       recipient_unit_of={box(to): to}, recipient_units=[to],
                       attachments=list(attachments), authentication=[])


def write(config: AuditConfig, *mail: tuple[AuditRecord, Fate]) -> None:
    with AuditLog.open(config) as log:
        for record, fate in mail:
            log.complete(Completion(record_id=log.record(record), outcome=fate))


def counts(config: AuditConfig, unit: str | None = None) -> Counts:
    with AuditLog.open_readonly(config.path) as log:
        report = log.report(PERIOD)
    if unit is None:
        return report.total
    return next(u.counts for u in report.units if u.unit_id == unit)


def test_valid_documents_sent_by_the_family_of_their_root(audit_config: AuditConfig) -> None:
    write(audit_config, (sent(
        "stc", "ubnd",
        signed("gov.pdf", SIGNATURE),
        signed("public.pdf", {**SIGNATURE, "root_family": "public"}),
        signed("other.pdf", {**SIGNATURE, "root_family": "other"}),
        signed("before.pdf", without_family(SIGNATURE)),  # judged before families
        # a government signature beside a public one: the document is the government's
        signed("both.pdf", {**SIGNATURE, "root_family": "public"}, SEAL),
        signed("invalid.pdf", {**SIGNATURE, "verdict": "invalid"}, document="invalid"),
    ), Fate.RELAYED))
    stc = counts(audit_config, "stc")
    assert (stc.documents_sent, stc.documents_signed, stc.documents_valid) == (6, 6, 5)
    assert (stc.documents_valid_gov, stc.documents_valid_public,
            stc.documents_valid_other) == (2, 1, 2)
    assert counts(audit_config).documents_valid_gov == 2


def test_documents_received_valid_and_complete(audit_config: AuditConfig) -> None:
    write(audit_config,
          # internal mail: the sender's documents sent, the recipient's received
          (sent("stc", "ubnd", signed("signed-and-sealed.pdf", SIGNATURE, SEAL),
                signed("one-signature.pdf", SIGNATURE),
                signed("twice-the-same.pdf", SIGNATURE, dict(SIGNATURE)),
                signed("seal-invalid.pdf", SIGNATURE, {**SEAL, "verdict": "invalid"})),
           Fate.RELAYED),
          # from outside: received only; a timestamp is not a second signature
          (from_outside("ubnd", signed("timestamped.pdf", SIGNATURE, {
              **SEAL, "is_timestamp": True}), signed("plain.pdf", document="unsigned"),
              minutes=1), Fate.RELAYED),
          # refused mail is not received, nor are its documents
          (from_outside("ubnd", signed("refused.pdf", SIGNATURE, SEAL), minutes=2),
           Fate.REJECTED))
    ubnd = counts(audit_config, "ubnd")
    assert (ubnd.received, ubnd.documents_received, ubnd.documents_received_valid,
            ubnd.documents_received_complete) == (2, 6, 5, 1)
    assert ubnd.documents_sent == 0
    stc = counts(audit_config, "stc")
    assert (stc.documents_sent, stc.documents_received) == (4, 0)
    total = counts(audit_config)
    assert (total.documents_sent, total.documents_received,
            total.documents_received_complete) == (4, 6, 1)


def test_a_signature_without_a_family_keeps_the_detail_it_had(
        audit_config: AuditConfig) -> None:
    write(audit_config, (sent("stc", "ubnd", signed("a.pdf", without_family(SIGNATURE)),
                              signed("b.pdf", SIGNATURE, without_family(SEAL))), Fate.RELAYED))
    conn = sqlite3.connect(audit_config.path)
    detail = json.loads(conn.execute(
        "SELECT detail FROM events WHERE kind = 'message'").fetchone()[0])
    conn.close()
    first, second = (a["signatures"] for a in detail["attachments"])
    assert "root_family" not in first[0]  # as records were written before families
    assert second[0]["root_family"] == "gov" and "root_family" not in second[1]
    with AuditLog.open(audit_config) as log:
        assert log.verify().is_intact


PERSON = {**SIGNATURE, "signer_role": "person", "signer_unit": "stc"}
STC_SEAL = {**SEAL, "signer_role": "organisation", "signer_unit": "stc"}


def test_documents_sealed_by_the_sending_unit(audit_config: AuditConfig) -> None:
    write(audit_config, (sent(
        "stc", "ubnd",
        signed("own-seal.pdf", STC_SEAL),
        signed("signed-then-sealed.pdf", PERSON, STC_SEAL, complete=True),
        signed("another-units-seal.pdf", {**STC_SEAL, "signer_unit": "sxd"}),
        signed("person-only.pdf", PERSON, complete=False),
        signed("unknown.pdf", {**STC_SEAL, "signer_role": "unknown", "signer_unit": None}),
        signed("seal-invalid.pdf", PERSON, {**STC_SEAL, "verdict": "revoked"}),
        signed("before-roles.pdf", SIGNATURE, SEAL),  # judged before roles were recorded
    ), Fate.RELAYED))
    stc = counts(audit_config, "stc")
    assert (stc.documents_sent, stc.documents_valid, stc.documents_sealed) == (7, 7, 2)
    assert counts(audit_config).documents_sealed == 2
    # the recipient receives them; sealing counts for the unit that sent them
    assert counts(audit_config, "ubnd").documents_sealed == 0


def test_documents_complete_only_when_judged_complete(audit_config: AuditConfig) -> None:
    write(audit_config,
          (sent("stc", "ubnd", signed("complete.pdf", PERSON, STC_SEAL, complete=True),
                # the same signatures judged not complete (the seal changed the document)
                signed("changed.pdf", PERSON, STC_SEAL, complete=False),
                signed("before.pdf", PERSON, STC_SEAL)), Fate.RELAYED),
          # mail that did not leave counts nothing
          (sent("stc", "ubnd", signed("refused.pdf", PERSON, STC_SEAL, complete=True),
                minutes=1), Fate.REJECTED))
    stc = counts(audit_config, "stc")
    assert (stc.documents_sent, stc.documents_sealed, stc.documents_complete) == (3, 3, 1)
    # the older column keeps its meaning: two valid signatures by two certificates
    assert counts(audit_config, "ubnd").documents_received_complete == 3


def test_complete_is_left_out_of_the_detail_when_not_judged(audit_config: AuditConfig) -> None:
    write(audit_config, (sent("stc", "ubnd", signed("a.pdf", PERSON),
                              signed("b.pdf", PERSON, STC_SEAL, complete=True)), Fate.RELAYED))
    conn = sqlite3.connect(audit_config.path)
    detail = json.loads(conn.execute(
        "SELECT detail FROM events WHERE kind = 'message'").fetchone()[0])
    conn.close()
    first, second = detail["attachments"]
    assert "complete" not in first  # as records were written before completeness
    assert second["complete"] is True
    with AuditLog.open(audit_config) as log:
        assert log.verify().is_intact


def test_sealed_and_complete_in_every_format(audit_config: AuditConfig) -> None:
    write(audit_config, (sent("stc", "ubnd", signed("a.pdf", PERSON, STC_SEAL, complete=True)),
                         Fate.RELAYED))
    with AuditLog.open_readonly(audit_config.path) as log:
        report = log.report(PERIOD)
    rows = {r["unit"]: r for r in json.loads(render(report, "json", "UTC"))["rows"]
            if not r["mailbox"]}
    assert (rows["stc"]["documents_sealed"], rows["stc"]["documents_complete"]) == (1, 1)
    table = list(csv.DictReader(io.StringIO(render(report, "csv", "UTC"))))
    stc = next(r for r in table if r["unit"] == "stc" and not r["mailbox"])
    assert (stc["documents_sealed"], stc["documents_complete"]) == ("1", "1")
    for fmt in ("table", "html"):
        for lang in ("vi", "en"):
            text = render(report, fmt, "UTC", lang=lang)
            words = {c: escape(w) if fmt == "html" else w for c, w in labels(lang).items()}
            assert words["documents_sealed"] in text and words["documents_complete"] in text
