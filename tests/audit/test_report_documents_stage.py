"""Sealed and complete from the documents stage to the report: real signed PDFs judged
with the directory's roles, recorded as milter records them, counted for the sending
unit."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from directory import Directory, DirectoryIndex
from mailbase import parse_period, read_header
from milter.config import Direction, Role
from milter.context import Envelope, MessageContext, Xforward
from milter.pipeline import Outcome
from milter.recording import build_record
from milter.stages.documents import DocumentsStage
from signer.documents import DocumentVerifier
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import GovPki

D = "laocai.gov.vn"
SENDER = f"ubnd@{D}"
TO = "stc@lamdong.gov.vn"


async def _relay(pdf: bytes, tmp_path: Path, gov: GovPki, log: AuditLog) -> None:
    """The message with ``pdf`` attached, through the documents stage into the log."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, TO, "CV"
    msg.set_content("Kinh gui")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="cv.pdf")
    raw = msg.as_bytes()
    with Directory.open(tmp_path / "directory.sqlite3") as store:
        if not store.units():
            store.import_csv("id,name,parent,address\n"
                             f"ubnd-tinh,Ủy ban nhân dân tỉnh Lào Cai,,{SENDER}\n", actor="t")
        trust = TrustStore([gov.root.cert], [gov.issuing.cert], fetcher=Fetcher(),
                           store=EvidenceStore(tmp_path / "store"))
        ctx = MessageContext(
            listener="submission", role=Role.OUTBOUND, direction=Direction.OUTBOUND,
            peer=("127.0.0.1", 1), helo="pc", xforward=Xforward(),
            envelope=Envelope(SENDER, (), (TO,)), original_content=raw,
            header=read_header(raw), sender_unit="ubnd-tinh")
        await DocumentsStage(DocumentVerifier(trust, directory=DirectoryIndex(store))).run(ctx)
    log.complete(Completion(record_id=log.record(build_record(ctx, Outcome.CONTINUE)),
                            outcome=Fate.RELAYED))


async def test_a_signed_and_sealed_document_counts_sealed_and_complete(
        gov: GovPki, tmp_path: Path) -> None:
    person = gov.issue(f"nguyen.van.a@{D}", common_name="Nguyễn Văn A")
    seal = gov.issue(SENDER, common_name="Ủy ban nhân dân tỉnh Lào Cai")
    signed = sign_pdf(plain_pdf(), person)
    config = AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
    with AuditLog.open(config) as log:
        await _relay(sign_pdf(signed, seal, field="Signature2"), tmp_path, gov, log)
        await _relay(signed, tmp_path, gov, log)  # the person's signature only
        # sealed first, then signed: sealed by the unit, but not complete
        await _relay(sign_pdf(sign_pdf(plain_pdf(), seal), person, field="Signature2"),
                     tmp_path, gov, log)
        stc = next(u.counts for u in log.report(parse_period(_month())).units
                   if u.unit_id == "ubnd-tinh")
    assert (stc.documents_sent, stc.documents_valid) == (3, 3)
    assert (stc.documents_sealed, stc.documents_complete) == (2, 1)
    with AuditLog.open(config) as log:
        assert log.verify().is_intact


def _month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")
