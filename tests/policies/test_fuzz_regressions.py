"""Inputs the fuzz tests found; each must be a decision, never an engine failure."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

from policies import Action, PoliciesConfig, decide

POLICY = PoliciesConfig().resolve([], "inbound")
PE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200


def _with_attachment(data: bytes, filename: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@b.vn"
    msg["To"] = "c@d.vn"
    msg["Subject"] = "x"
    msg.set_content("x\n")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes()


def test_broken_base64_encoded_word_in_a_filename_is_decided() -> None:
    raw = _with_attachment(b"%PDF-1.4\n%%EOF\n", "placeholder.pdf").replace(
        b'filename="placeholder.pdf"', b'filename="=?utf-8?b?Q8O0b?=.pdf"')
    assert b'filename="=?utf-8?b?Q8O0b?=.pdf"' in raw
    decision = decide(raw, POLICY)  # the contract: no exception but PolicyError, and not that
    # a PDF under a name that does not decode: nothing to find, the name kept as written
    assert (decision.action, decision.findings, decision.reply_text) == (Action.ACCEPT, (), "")
    [attachment] = decision.attachments
    assert (attachment.filename, attachment.detected_type) == (
        "=?utf-8?b?Q8O0b?=.pdf", "application/pdf")


def test_zip_of_an_unknown_version_still_shows_its_executable() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.pdf", b"%PDF-1.4\n%%EOF\n")
        archive.writestr("b/c.exe", PE)
    data = bytearray(buffer.getvalue())
    central = data.find(b"PK\x01\x02")
    data[central + 6] = 64  # "version needed to extract" 6.4: zipfile refuses it
    decision = decide(_with_attachment(bytes(data), "tai lieu.zip"), POLICY)
    assert decision.action is Action.REJECT
    assert any(v.member == "b/c.exe" for v in decision.violations)
