"""Roles through the documents stage into the audit record: signer_role and signer_unit
per signature, left out of the chained row when absent (records written before)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from audit import Action, Attachment, AuditRecord, Direction, Role
from audit.config import AuditConfig
from audit.rows import message_rows
from audit.store import AuditLog
from directory import Directory, DirectoryIndex
from mailbase import read_header
from milter.config import Direction as MilterDirection
from milter.config import Role as MilterRole
from milter.context import Envelope, MessageContext, Xforward
from milter.stages.documents import DocumentsStage
from signer.documents import DocumentVerifier
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import GovPki

D = "laocai.gov.vn"
SENDER = f"ubnd@{D}"


def record(raw: bytes, ctx: MessageContext) -> AuditRecord:
    entry = ctx.documents[0]
    now = datetime.now(UTC)
    return AuditRecord(
        received_at=now, decided_at=now, listener="submission", role=Role.OUTBOUND,
        direction=Direction.OUTBOUND, envelope_sender=SENDER,
        envelope_recipients=["stc@lamdong.gov.vn"], size=len(raw),
        attachments=[Attachment(path="2", filename="cv.pdf", declared_type="application/pdf",
                                detected_type="application/pdf", size=1,
                                sha256=entry["sha256"], document=entry["verdict"],
                                signatures=entry["signatures"])],
        action=Action.ACCEPT, processing_ms=1.0, sender_unit="ubnd-tinh")


async def test_the_record_keeps_each_signatures_role_and_unit(
        gov: GovPki, tmp_path: Path) -> None:
    person = gov.issue(f"nguyen.van.a@{D}", common_name="Nguyễn Văn A")
    seal = gov.issue(SENDER, common_name="Ủy ban nhân dân tỉnh Lào Cai")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, "stc@lamdong.gov.vn", "CV"
    msg.set_content("Kinh gui")
    signed = sign_pdf(sign_pdf(plain_pdf(), person), seal, field="Signature2")
    msg.add_attachment(signed, maintype="application", subtype="pdf", filename="cv.pdf")
    raw = msg.as_bytes()
    with Directory.open(tmp_path / "directory.sqlite3") as store:
        store.import_csv("id,name,parent,address\n"
                         f"ubnd-tinh,Ủy ban nhân dân tỉnh Lào Cai,,{SENDER}\n", actor="t")
        index = DirectoryIndex(store)
        trust = TrustStore([gov.root.cert], [gov.issuing.cert], fetcher=Fetcher(),
                           store=EvidenceStore(tmp_path / "store"))
        ctx = MessageContext(
            listener="submission", role=MilterRole.OUTBOUND,
            direction=MilterDirection.OUTBOUND, peer=("127.0.0.1", 1), helo="pc",
            xforward=Xforward(), envelope=Envelope(SENDER, (), ("stc@lamdong.gov.vn",)),
            original_content=raw, header=read_header(raw), sender_unit="ubnd-tinh")
        await DocumentsStage(DocumentVerifier(trust, directory=index)).run(ctx)
    rec = record(raw, ctx)
    config = AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
    with AuditLog.open(config) as log:
        log.record(rec)
        assert log.verify().is_intact
        (found,) = log.trace(ctx.documents[0]["sha256"])
    assert [(s["signer_role"], s.get("signer_unit")) for s in found.signatures] == [
        ("person", None), ("organisation", "ubnd-tinh")]


def test_a_signature_without_role_or_unit_keeps_the_row_it_had_before() -> None:
    now = datetime.now(UTC)
    before = {"verdict": "invalid", "reason": "x", "time_source": "none"}

    def row(signature: dict[str, object]) -> str:
        rec = AuditRecord(
            received_at=now, decided_at=now, listener="submission", role=Role.OUTBOUND,
            direction=Direction.OUTBOUND, envelope_sender=SENDER,
            envelope_recipients=["stc@lamdong.gov.vn"], size=1,
            attachments=[Attachment(path="2", filename="cv.pdf", declared_type="x/y",
                                    detected_type="x/y", size=1, sha256="0" * 64,
                                    document="invalid", signatures=[signature])],
            action=Action.ACCEPT, processing_ms=1.0)
        return json.dumps(message_rows(rec).event, sort_keys=True, default=str)

    assert row({**before, "signer_role": None, "signer_unit": None}) == row(before)
    assert "signer_role" not in row(before)
    assert "signer_role" in row({**before, "signer_role": "unknown"})
