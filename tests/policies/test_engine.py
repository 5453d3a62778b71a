"""decide() and strip(): severity order, reply and tag texts, notices in place of parts."""

from __future__ import annotations

import email
from email import policy as email_policy
from email.message import EmailMessage

from policies import Action, PoliciesConfig, decide, strip
from policies.model import Decision

from .conftest import corpus_module as cm


def _policy(**actions: str):  # type: ignore[no-untyped-def]
    return PoliciesConfig.model_validate({"actions": actions}).resolve(["u"], "inbound")


def test_most_severe_action_wins() -> None:
    raw = cm.message(cm.attachment(cm.EXE, "a.exe"), cm.attachment(cm.ooxml("docx", macros=True),
                                                                   "b.docm"))
    decision = decide(raw, _policy())
    assert decision.action is Action.REJECT
    assert {f.action for f in decision.findings} == {Action.REJECT, Action.QUARANTINE}
    assert decision.reply_text.isascii()
    assert "blocked-extension: a.exe" in decision.reply_text


def test_tag_header() -> None:
    raw = cm.CASES["smime-encrypted"][0]()
    decision = decide(raw, _policy())
    assert decision.action is Action.TAG
    assert decision.tag_header == ("X-Congvu-Policy", "smime-encrypted")


def test_strip_replaces_only_the_offending_part() -> None:
    pdf = cm.attachment(cm.PDF, cm.VN_NAME, "application/pdf")
    raw = cm.message(pdf, cm.attachment(cm.EXE, "a.exe"))
    decision = decide(raw, _policy(**{"blocked-extension": "strip", "blocked-type": "strip"}))
    assert decision.action is Action.STRIP
    out = strip(raw, decision)
    assert pdf.encode() in out  # the rest is byte-for-byte unchanged
    assert out.startswith(raw[: raw.index(b"--")])
    parsed = email.message_from_bytes(out, policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    texts = [p.get_content() for p in parsed.walk() if p.get_content_type() == "text/plain"]
    notice = texts[-1]
    assert "gỡ bỏ" in notice and "removed" in notice and "a.exe" in notice
    assert decide(out, _policy()).action is Action.ACCEPT


def test_strip_inside_an_archive_removes_the_archive() -> None:
    raw = cm.message(cm.attachment(cm.zip_of({"x/a.exe": cm.EXE}), "a.zip"))
    decision = decide(raw, _policy(**{"blocked-extension": "strip", "blocked-type": "strip"}))
    out = strip(raw, decision)
    assert b"a.zip" not in out.split(b"\r\n\r\n", 1)[0]
    assert decide(out, _policy()).action is Action.ACCEPT


def test_strip_a_single_part_message() -> None:
    raw = (b"From: a@b\r\nSubject: x\r\nContent-Type: application/octet-stream;\r\n"
           b" name=a.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n")
    decision = decide(raw, _policy(**{"blocked-extension": "strip", "blocked-type": "strip"}))
    out = strip(raw, decision)
    assert out.startswith(b"From: a@b\r\nSubject: x\r\nContent-Type: text/plain")
    assert decide(out, _policy()).action is Action.ACCEPT


def test_strip_without_strip_findings_is_misuse() -> None:
    import pytest

    with pytest.raises(ValueError, match="strip findings"):
        strip(b"x", Decision(Action.ACCEPT))


def test_decide_never_raises_on_garbage() -> None:
    for raw in (b"\x00" * 100, b"\xff\xfe" * 50,
                b"Content-Type: multipart/mixed; boundary=\r\n\r\n",
                b"Content-Type: ;;;\r\n\r\n", b"\r\n\r\n\r\n", b"--\r\n--\r\n"):
        assert decide(raw, _policy()).action in set(Action)
