"""decide() and strip(): severity order, reply and tag texts, notices in place of parts."""

from __future__ import annotations

import email
from collections.abc import Iterator, Mapping
from email import policy as email_policy
from email.message import EmailMessage

import pytest

from policies import Action, PoliciesConfig, PolicyError, decide, strip
from policies.engine import NOTICE_EN, NOTICE_VI
from policies.model import Decision, Finding, Violation

from .conftest import corpus_module as cm


def _policy(**actions: str):  # type: ignore[no-untyped-def]
    return PoliciesConfig.model_validate({"actions": actions}).resolve(["u"], "inbound")


def test_most_severe_action_wins() -> None:
    raw = cm.message(cm.attachment(cm.EXE, "a.exe"), cm.attachment(cm.ooxml("docx", macros=True),
                                                                   "b.docm"))
    decision = decide(raw, _policy())
    assert decision.action is Action.REJECT
    assert {f.action for f in decision.findings} == {Action.REJECT, Action.QUARANTINE}
    # the reply names the first rejecting rule and file, in ASCII (an SMTP reply)
    policy = _policy()
    assert decision.reply_text == (
        f"{policy.reject_text_vi} / {policy.reject_text_en} (blocked-extension: a.exe)")
    assert decision.reply_text.isascii()


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
    with pytest.raises(ValueError, match="strip findings"):
        strip(b"x", Decision(Action.ACCEPT))


@pytest.mark.parametrize(("raw", "reasons"), [
    (b"\x00" * 100, ["a line in the header block is not a header field",
                     "the header block reads two ways: line 1 holds a NUL octet"]),
    (b"\xff\xfe" * 50, ["a line in the header block is not a header field"]),
    (b"Content-Type: multipart/mixed; boundary=\r\n\r\n",
     ["an empty boundary parameter (RFC 2046 5.1.1: 1 to 70 characters); Python and "
      "Dovecot take every line starting with -- as a delimiter",
      "the multipart boundary never occurs in the body"]),
    (b"Content-Type: multipart/mixed\r\n\r\n",
     ["multipart/mixed without a boundary parameter"]),
    (b"Content-Type: ;;;\r\n\r\n", ["Content-Type '' is not type/subtype"]),
    (b"--\r\n--\r\n", ["a line in the header block is not a header field"]),
])
def test_garbage_is_quarantined_as_malformed_not_an_engine_failure(
        raw: bytes, reasons: list[str]) -> None:
    decision = decide(raw, _policy())
    assert decision.action is Action.QUARANTINE
    assert decision.reply_text == "" and decision.tag_header is None
    assert [(f.violation.rule, f.violation.reason, f.violation.part, f.action)
            for f in decision.findings] == [
        ("malformed-mime", reason, "1", Action.QUARANTINE) for reason in reasons]


def test_an_empty_message_is_accepted() -> None:
    decision = decide(b"\r\n\r\n\r\n", _policy())
    assert (decision.action, decision.findings, decision.reply_text) == (Action.ACCEPT, (), "")


# -- strip with several parts, at several depths ----------------------------------------------

STRIP_ALL = {"blocked-extension": "strip", "blocked-type": "strip"}


def _notices(out: bytes) -> list[str]:
    parsed = email.message_from_bytes(out, policy=email_policy.default)
    return [p.get_content() for p in parsed.walk()  # type: ignore[attr-defined]
            if p.get_content_disposition() == "inline"]


def test_strip_replaces_several_parts_at_two_depths_and_keeps_the_rest() -> None:
    pdf = cm.attachment(cm.PDF, "a.pdf", "application/pdf")
    inner = ('Content-Type: multipart/mixed; boundary="inner"\r\n\r\n--inner\r\n'
             + cm.attachment(cm.EXE, "b.exe") + "\r\n--inner\r\n" + pdf + "\r\n--inner--\r\n")
    raw = cm.message(cm.attachment(cm.EXE, "a.exe"), inner, cm.attachment(cm.EXE, "c.exe"))
    decision = decide(raw, _policy(**STRIP_ALL))
    assert decision.action is Action.STRIP
    spans = sorted({f.span for f in decision.findings if f.span is not None})
    assert len(spans) == 3 and all(f.span is not None for f in decision.findings)
    out = strip(raw, decision)
    # every byte outside the three parts is kept, in order
    kept = [raw[:spans[0][0]], raw[spans[0][1]:spans[1][0]], raw[spans[1][1]:spans[2][0]],
            raw[spans[2][1]:]]
    position = 0
    for piece in kept:
        found = out.index(piece, position)
        position = found + len(piece)
    assert out.startswith(kept[0]) and out.endswith(kept[-1])
    assert pdf.encode() in out
    # one notice per removed part, naming that part's file and every rule it broke
    assert _notices(out) == [
        f"{NOTICE_VI}.\n{NOTICE_EN}.\n- {name}: blocked-extension\n- {name}: blocked-type\n"
        for name in ("a.exe", "b.exe", "c.exe")]
    parsed = email.message_from_bytes(out, policy=email_policy.default)
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed", "text/plain", "text/plain", "multipart/mixed", "text/plain",
        "application/pdf", "text/plain"]
    assert decide(out, _policy()).action is Action.ACCEPT


def test_strip_removes_a_part_inside_a_stripped_part_with_the_outer_one() -> None:
    raw = cm.message(cm.attachment(cm.EXE, "a.exe"), cm.attachment(cm.PDF, "b.pdf"))
    outer_start = raw.index(b"Content-Type: application/octet-stream")
    outer_end = raw.index(b"\r\n--", outer_start)
    inner = (outer_start + 40, outer_start + 60)
    findings = (
        Finding(Violation("blocked-extension", "x", filename="a.exe"), Action.STRIP,
                (outer_start, outer_end)),
        Finding(Violation("blocked-type", "x", filename="a.exe", member="m.exe"), Action.STRIP,
                inner),
        Finding(Violation("blocked-extension", "x", filename="b.pdf"), Action.TAG, None),
    )
    out = strip(raw, Decision(Action.STRIP, findings))
    assert out.startswith(raw[:outer_start]) and out.endswith(raw[outer_end:])
    # one notice for both (a tagged finding is not stripped, and its None span does not
    # make the whole body go)
    assert _notices(out) == [f"{NOTICE_VI}.\n{NOTICE_EN}.\n- a.exe: blocked-extension\n"
                             "- a.exe (m.exe): blocked-type\n"]
    assert b"b.pdf" in out


def test_strip_of_the_whole_body_keeps_only_the_non_content_header_fields() -> None:
    raw = (b"From: a@b\r\nContent-Type: application/octet-stream;\r\n name=a.exe\r\n"
           b"Subject: x\r\n\tcontinued\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAA==\r\n")
    decision = Decision(Action.STRIP, (
        Finding(Violation("blocked-extension", "x", part="1"), Action.STRIP, None),))
    out = strip(raw, decision)
    assert out.startswith(b"From: a@b\r\nSubject: x\r\n\tcontinued\r\nContent-Type: text/plain")
    assert b"TVqQAA==" not in out and b"name=a.exe" not in out
    assert _notices(out) == [f"{NOTICE_VI}.\n{NOTICE_EN}.\n- 1: blocked-extension\n"]


def test_strip_keeps_bare_lf_line_endings() -> None:
    raw = cm.message(cm.attachment(cm.EXE, "a.exe")).replace(b"\r\n", b"\n")
    out = strip(raw, decide(raw, _policy(**STRIP_ALL)))
    assert b"\r\n" not in out
    assert _notices(out) == [f"{NOTICE_VI}.\n{NOTICE_EN}.\n- a.exe: blocked-extension\n"
                             "- a.exe: blocked-type\n"]


# -- the engine's own failure: PolicyError, nothing else --------------------------------------

class _NoMemory(Mapping[str, str]):
    """Verdicts handed in by the caller, whose lookup fails as it would out of memory."""

    def __getitem__(self, key: str) -> str:
        raise MemoryError("cannot allocate")

    def get(self, key: str, default: object = None) -> str:  # type: ignore[override]
        raise MemoryError("cannot allocate")

    def __iter__(self) -> Iterator[str]:
        return iter(["x"])

    def __len__(self) -> int:
        return 1


def test_a_failure_inside_the_engine_is_a_policy_error() -> None:
    raw = cm.message(cm.attachment(cm.PDF, "a.pdf", "application/pdf"))
    policy = _policy(**{"unsigned-document": "quarantine"})
    with pytest.raises(PolicyError) as caught:
        decide(raw, policy, documents=_NoMemory())
    assert str(caught.value) == (
        "the policy engine failed on this message: MemoryError('cannot allocate')")
    assert isinstance(caught.value.__cause__, MemoryError)


# -- strip's edges, each pinned ---------------------------------------------------------------

def _stripped(*spans: tuple[int, int]) -> Decision:
    return Decision(Action.STRIP, tuple(
        Finding(Violation("blocked-type", "x", filename=f"f{k}"), Action.STRIP, span)
        for k, span in enumerate(spans)))


def test_strip_merges_spans_that_share_a_start_or_an_end_with_the_outer_one() -> None:
    raw = bytes(range(0x21, 0x21 + 104))  # 104 distinct octets, no line ending
    # (10, 30) and (10, 20) start together; (40, 60) and (50, 60) end together; each
    # inner span is listed first, so only the order strip sorts them into merges them
    out = strip(raw, _stripped((10, 20), (10, 30), (50, 60), (40, 60)))
    notice_f1 = out[10:out.index(raw[30:40])]
    assert out.startswith(raw[:10]) and out.endswith(raw[60:])
    assert out.count(NOTICE_EN.encode("utf-8")) == 0  # the notices are base64 text
    assert out.count(b"Content-Type: text/plain") == 2
    assert out.count(raw[30:40]) == 1 and raw[10:30] not in out and raw[40:60] not in out
    assert notice_f1.count(b"Content-Disposition: inline") == 1


def test_strip_merges_an_inner_span_into_the_last_outer_span_not_the_first() -> None:
    raw = cm.message(cm.attachment(cm.EXE, "a.exe"), cm.attachment(cm.EXE, "b.exe"))
    spans = []
    for name in (b"a.exe", b"b.exe"):
        start = raw.index(b"Content-Type: application/octet-stream", raw.index(name) - 200)
        spans.append((start, raw.index(b"\r\n--", start)))
    inner = (spans[1][0] + 40, spans[1][0] + 60)
    findings = tuple(Finding(Violation("blocked-type", "x", filename=name), Action.STRIP, span)
                     for name, span in (("a.exe", spans[0]), ("b.exe", spans[1]),
                                        ("b.exe/m.exe", inner)))
    out = strip(raw, Decision(Action.STRIP, findings))
    assert _notices(out) == [f"{NOTICE_VI}.\n{NOTICE_EN}.\n- a.exe: blocked-type\n",
                             f"{NOTICE_VI}.\n{NOTICE_EN}.\n- b.exe: blocked-type\n"
                             "- b.exe/m.exe: blocked-type\n"]


def test_strip_keeps_adjacent_spans_apart() -> None:
    raw = bytes(range(0x21, 0x21 + 104))
    out = strip(raw, _stripped((10, 20), (20, 30)))
    assert out.count(b"Content-Type: text/plain") == 2


def test_strip_decides_crlf_by_the_first_4096_octets() -> None:
    finding = Finding(Violation("blocked-type", "x", part="1"), Action.STRIP, None)
    decision = Decision(Action.STRIP, (finding,))
    # a CRLF whose LF is the 4096th octet counts; one starting at the 4096th does not
    counted = b"X-Long: " + b"a" * (4094 - 8) + b"\r\nFrom: a@b\r\n\r\nbody\r\n"
    assert counted.index(b"\r\n") == 4094
    assert strip(counted, decision).endswith(b"\r\n")
    assert b"\nFrom: a@b\r\n" in strip(counted, decision)
    late = b"X-Long: " + b"a" * (4095 - 8) + b"\r\nFrom: a@b\n\nbody\n"
    out = strip(late, decision)
    assert out.endswith(b"\n") and not out.endswith(b"\r\n")
    assert b"\nContent-Type: text/plain; charset=\"utf-8\"\n" in out


def test_strip_of_the_whole_body_with_no_header_keeps_nothing_of_the_body() -> None:
    decision = Decision(Action.STRIP, (
        Finding(Violation("blocked-type", "x", part="1"), Action.STRIP, None),))
    out = strip(b"\r\n\r\nTVqQAAMAAAAE\r\n", decision)
    assert out.startswith(b"\r\nContent-Type: text/plain") and b"TVqQ" not in out


def test_strip_of_a_message_without_a_body_keeps_its_whole_header() -> None:
    decision = Decision(Action.STRIP, (
        Finding(Violation("blocked-type", "x", part="1"), Action.STRIP, None),))
    out = strip(b" folded first\r\nFrom: a@b\r\nSubject: xyz", decision)
    # a continuation line before any field is kept, and so is the last octet
    assert out.startswith(b" folded first\r\nFrom: a@b\r\nSubject: xyz\r\nContent-Type")


@pytest.mark.parametrize(("attached", "is_over"), [(2, False), (3, True)])
def test_the_attachment_count_counts_each_attachment_once(attached: int, is_over: bool) -> None:
    policy = PoliciesConfig(max_attachments=2).resolve(["u"], "inbound")
    raw = cm.message(*[cm.attachment(cm.PDF, f"{k}.pdf", "application/pdf")
                       for k in range(attached)])
    rules = {f.violation.rule for f in decide(raw, policy).findings}
    assert ("attachment-count" in rules) is is_over
