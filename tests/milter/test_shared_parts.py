"""The MIME tree of a message is walked once: the documents stage reads it first, the
policy stage decides on that same reading, and the audit record lists its attachments."""

from __future__ import annotations

from email.message import EmailMessage

from mailbase import NO_DOMAINS
from milter.context import Envelope, MessageContext
from milter.direction import Direction, Role
from milter.pipeline import Outcome
from milter.recording import build_record
from milter.stages.documents import DocumentsStage
from milter.stages.policy import PolicyStage
from policies import PoliciesConfig
from signer.documents import DocumentVerifier
from support.documents import plain_pdf, sign_pdf, zip_of
from support.smime import cast


def _context() -> MessageContext:
    msg = EmailMessage()
    msg["From"] = "van-thu@so-tc.province.gov.vn"
    msg["To"] = "van-thu@so-yt.province.gov.vn"
    msg["Subject"] = "Cong van so 123"
    msg.set_content("Kinh gui So Y te,\n")
    signed = sign_pdf(plain_pdf(), cast().alice)
    for name, data in {"cv.pdf": signed, "ho-so.zip": zip_of({"cv2.pdf": signed})}.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
    return MessageContext.received(
        msg.as_bytes(), listener="submission", role=Role.OUTBOUND,
        direction=Direction.OUTBOUND, provincial=NO_DOMAINS,
        envelope=Envelope("van-thu@so-tc.province.gov.vn", (),
                          ("van-thu@so-yt.province.gov.vn",)))


async def test_the_documents_the_policy_and_the_record_share_one_walk() -> None:
    ctx = _context()
    policies = PoliciesConfig()
    await DocumentsStage(DocumentVerifier(cast().trust()), policies=policies).run(ctx)
    walked = ctx.parts.found
    assert walked is not None
    assert await PolicyStage(policies, lambda unit: []).run(ctx) is not None
    # the policy decided on the parts the documents stage read, not on a walk of its own
    assert ctx.parts.found is walked
    assert ctx.decision is not None and ctx.decision.attachments is walked.attachments
    record = build_record(ctx, Outcome.CONTINUE)
    assert [(a.filename, a.sha256) for a in record.attachments] == [
        (a.filename, a.sha256) for a in walked.attachments]
    # and the record joins the documents stage's verdicts to those very attachments
    verified = {d["sha256"] for d in ctx.documents}
    assert [a.document for a in record.attachments if a.sha256 in verified] == [
        "valid", "valid"]


async def test_the_walk_follows_the_configured_limits_for_every_reader() -> None:
    ctx = _context()
    policies = PoliciesConfig.model_validate({"limits": {"max_mime_parts": 2}})
    await DocumentsStage(DocumentVerifier(cast().trust()), policies=policies).run(ctx)
    await PolicyStage(policies, lambda unit: []).run(ctx)
    # the multipart and its text part: the walk stops before either PDF, for everyone
    assert ctx.documents == []
    assert ctx.decision is not None and ctx.decision.attachments == ()
    assert any(v.rule == "malformed-mime" and "more than 2 MIME parts" in v.reason
               for v in ctx.decision.violations)
