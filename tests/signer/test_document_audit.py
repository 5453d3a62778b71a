"""From a message with signed documents to the audit report, composed the way
milter/recording.py is asked to compose it (the lines in this test are the wiring)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from audit import Action, Attachment, AuditRecord, Completion, Direction, Fate, Role
from audit.config import AuditConfig
from audit.store import AuditLog
from mailbase import parse_period, read_header, zone
from milter.config import Direction as MilterDirection
from milter.config import Role as MilterRole
from milter.context import Envelope, MessageContext, Xforward
from milter.stages.documents import DocumentsStage, verdicts
from policies import PoliciesConfig, decide
from signer.documents import DocumentVerifier
from support.documents import alter_page, plain_pdf, sign_pdf, zip_of
from support.smime import cast

SENDER = "van-thu@so-tc.province.gov.vn"


def message() -> bytes:
    signed = sign_pdf(plain_pdf(), cast().alice)
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, "van-thu@so-yt.province.gov.vn", "CV"
    msg.set_content("Kinh gui")
    for name, data in {"cv.pdf": signed, "draft.pdf": plain_pdf(text="du thao"),
                       "ho-so.zip": zip_of({"cv-sua.pdf": alter_page(signed)})}.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
    return msg.as_bytes()


async def test_signed_pdf_is_counted_as_validly_signed(tmp_path: Path) -> None:
    raw = message()
    ctx = MessageContext(
        listener="submission", role=MilterRole.OUTBOUND, direction=MilterDirection.OUTBOUND,
        peer=("127.0.0.1", 1), helo="pc", xforward=Xforward(),
        envelope=Envelope(SENDER, (), ("van-thu@so-yt.province.gov.vn",)),
        original_content=raw, header=read_header(raw), sender_unit="so-tc")
    await DocumentsStage(DocumentVerifier(cast().trust())).run(ctx)
    decision = decide(raw, PoliciesConfig().resolve([], "outbound"), documents=verdicts(ctx))
    # milter/recording.py: the document results by sha256, joined to the attachments
    documents = {d["sha256"]: d for d in ctx.documents}
    attachments = [
        Attachment(
            path=a.path if a.member is None else f"{a.path}/{a.member}",
            filename=a.filename, declared_type=a.content_type,
            detected_type=a.detected_type, size=a.size, sha256=a.sha256,
            document=documents[a.sha256]["verdict"] if a.sha256 in documents else None,
            signatures=documents[a.sha256]["signatures"] if a.sha256 in documents else None,
        )
        for a in decision.attachments
    ]
    now = datetime.now(UTC)
    record = AuditRecord(
        received_at=now, decided_at=now, listener="submission", role=Role.OUTBOUND,
        direction=Direction.OUTBOUND, envelope_sender=SENDER,
        envelope_recipients=["van-thu@so-yt.province.gov.vn"], size=len(raw),
        attachments=attachments, action=Action(decision.action.value), processing_ms=1.0,
        sender_unit="so-tc")
    config = AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
    with AuditLog.open(config) as log:
        # relayed: the report counts the documents of mail that left
        log.complete(Completion(record_id=log.record(record), outcome=Fate.RELAYED))
        assert log.verify().is_intact
        period = parse_period(now.astimezone(zone("Asia/Ho_Chi_Minh")).strftime("%Y-%m"),
                              zone("Asia/Ho_Chi_Minh"))
        report = log.report(period)
        trace = log.trace(documents and next(
            s for s, d in documents.items() if d["filename"] == "cv.pdf"))
    (unit,) = report.units
    sent = unit.counts
    # cv.pdf valid; draft.pdf unsigned; cv-sua.pdf (in the zip) changed after signing;
    # the zip itself is not a document
    assert (sent.documents_sent, sent.documents_signed, sent.documents_valid) == (3, 2, 1)
    assert trace[0].document == "valid"
    assert trace[0].signatures[0]["signer"] == "alice@so-tc.province.gov.vn"
    # the revocation status is recorded, with the SHA-256 of the CRL it rests on
    assert trace[0].signatures[0]["revocation_status"] == "good"
    assert len(trace[0].signatures[0]["revocation_evidence"]) == 64
