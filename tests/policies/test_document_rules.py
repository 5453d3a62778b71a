"""Rules on document-signature verdicts and `attachment_bytes`."""

from __future__ import annotations

import hashlib
from email.message import EmailMessage

from policies import Action, PoliciesConfig, attachment_bytes, decide, read_parts
from support.documents import plain_pdf, zip_of


def message(attachments: dict[str, bytes]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@so-tc.province.gov.vn"
    msg["To"] = "b@so-yt.province.gov.vn"
    msg["Subject"] = "Cong van"
    msg.set_content("Kinh gui")
    for name, data in attachments.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
    return msg.as_bytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_attachment_bytes_yields_attachments_and_archive_members() -> None:
    pdf = plain_pdf()
    raw = message({"cv.pdf": pdf, "bundle.zip": zip_of({"in/cv2.pdf": pdf + b"\n"})})
    found = list(attachment_bytes(read_parts(raw)))
    assert [(a.filename, a.member) for a in found] == [
        ("cv.pdf", None), ("bundle.zip", None), ("in/cv2.pdf", "in/cv2.pdf")]
    assert found[0].data == pdf and found[0].sha256 == sha(pdf)
    # the same keys as the decision's attachments (what the audit record stores)
    policy = PoliciesConfig().resolve([], "outbound")
    assert [a.sha256 for a in decide(raw, policy).attachments] == [a.sha256 for a in found]


def test_attachment_bytes_of_a_message_without_attachments_is_empty() -> None:
    assert list(attachment_bytes(read_parts(message({})))) == []
    assert list(attachment_bytes(read_parts(b"not a message at all\x00\xff"))) == []


def test_document_rules_are_off_by_default() -> None:
    pdf = plain_pdf()
    raw = message({"cv.pdf": pdf})
    decision = decide(raw, PoliciesConfig().resolve([], "outbound"),
                      documents={sha(pdf): "unsigned"})
    assert decision.action is Action.ACCEPT and decision.violations == ()


def test_unsigned_and_invalid_documents_when_enabled() -> None:
    unsigned, broken, good = plain_pdf(text="a"), plain_pdf(text="b"), plain_pdf(text="c")
    raw = message({"a.pdf": unsigned, "b.pdf": broken, "c.pdf": good})
    config = PoliciesConfig.model_validate({"actions": {
        "unsigned-document": "tag", "invalid-document-signature": "quarantine"}})
    verdicts = {sha(unsigned): "unsigned", sha(broken): "modified-after-signing",
                sha(good): "valid"}
    decision = decide(raw, config.resolve([], "outbound"), documents=verdicts)
    assert decision.action is Action.QUARANTINE
    assert sorted((v.rule, v.filename) for v in decision.violations) == [
        ("invalid-document-signature", "b.pdf"), ("unsigned-document", "a.pdf")]
    assert "modified-after-signing" in next(
        v.reason for v in decision.violations if v.filename == "b.pdf")
    # without verdicts (the stage did not run) nothing is found
    assert decide(raw, config.resolve([], "outbound")).violations == ()
