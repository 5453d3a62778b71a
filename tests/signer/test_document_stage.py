"""milter's documents stage (milter/stages/documents.py) over real messages."""

from __future__ import annotations

from email.message import EmailMessage

from mailbase import read_header
from milter.config import Direction, Role
from milter.context import Envelope, MessageContext, Xforward
from milter.pipeline import CONTINUE
from milter.stages.documents import DocumentsStage, verdicts
from signer.documents import DocumentVerifier
from support.documents import alter_page, plain_pdf, sign_pdf, zip_of
from support.smime import cast


def message(attachments: dict[str, bytes]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "van-thu@so-tc.province.gov.vn"
    msg["To"] = "van-thu@so-yt.province.gov.vn"
    msg["Subject"] = "Cong van so 123"
    msg.set_content("Kinh gui So Y te,\n")
    for name, data in attachments.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
    return msg.as_bytes()


def context(raw: bytes) -> MessageContext:
    return MessageContext(
        listener="submission", role=Role.OUTBOUND, direction=Direction.OUTBOUND,
        peer=("127.0.0.1", 4000), helo="client", xforward=Xforward(),
        envelope=Envelope("van-thu@so-tc.province.gov.vn", (),
                          ("van-thu@so-yt.province.gov.vn",)),
        original_content=raw, header=read_header(raw))


def stage(timeout: float = 10.0) -> DocumentsStage:
    return DocumentsStage(DocumentVerifier(cast().trust()), timeout=timeout)


async def test_message_without_documents_records_nothing() -> None:
    ctx = context(message({"notes.txt": b"hello"}))
    assert await stage().run(ctx) is CONTINUE
    assert ctx.documents == [] and verdicts(ctx) == {}


async def test_signed_pdf_unsigned_pdf_and_a_signed_pdf_inside_a_zip() -> None:
    signed = sign_pdf(plain_pdf(), cast().alice)
    unsigned = plain_pdf(text="khong ky")
    raw = message({"cv.pdf": signed, "draft.pdf": unsigned,
                   "bundle.zip": zip_of({"ho-so/cv-ky.pdf": alter_page(signed)})})
    ctx = context(raw)
    assert await stage().run(ctx) is CONTINUE
    found = ctx.documents
    assert [(d["filename"], d["member"], d["verdict"]) for d in found] == [
        ("cv.pdf", None, "valid"),
        ("draft.pdf", None, "unsigned"),
        ("ho-so/cv-ky.pdf", "ho-so/cv-ky.pdf", "modified-after-signing"),
    ]
    assert found[0]["signatures"][0]["signer"] == "alice@so-tc.province.gov.vn"
    assert found[0]["is_validly_signed"] is True
    assert set(verdicts(ctx).values()) == {"valid", "unsigned", "modified-after-signing"}


async def test_a_slow_verification_is_unverifiable_and_the_mail_flows_on() -> None:
    raw = message({"cv.pdf": sign_pdf(plain_pdf(pages=200), cast().alice)})
    ctx = context(raw)
    assert await stage(timeout=1e-6).run(ctx) is CONTINUE
    (entry,) = ctx.documents
    assert (entry["filename"], entry["verdict"]) == ("cv.pdf", "unverifiable")
    assert "did not finish" in entry["reason"]


async def test_malformed_message_never_raises() -> None:
    ctx = context(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
                  b"Content-Disposition: attachment; filename=a.pdf\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0x!!!\r\n")
    assert await stage().run(ctx) is CONTINUE
    assert [d["verdict"] for d in ctx.documents] == ["unsigned"]


async def test_documents_are_seen_in_every_transfer_encoding() -> None:
    from email import encoders
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart

    from milter.stages.documents import may_hold_documents

    pdf = sign_pdf(plain_pdf(), cast().alice)
    for encoder in (encoders.encode_base64, encoders.encode_quopri, encoders.encode_7or8bit):
        outer = MIMEMultipart()
        part = MIMEApplication(pdf, "pdf", _encoder=encoder)
        part.add_header("Content-Disposition", "attachment", filename="cv.pdf")
        outer.attach(part)
        raw = outer.as_bytes()
        assert may_hold_documents(raw), encoder.__name__
        ctx = context(raw)
        await stage().run(ctx)
        assert [d["verdict"] for d in ctx.documents] == ["valid"], encoder.__name__
    assert not may_hold_documents(message({"notes.txt": b"plain words " * 100}))
