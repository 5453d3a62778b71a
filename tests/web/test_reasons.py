"""Reasons on the record page: a reason stored with its code reads in the page's language,
its parameters marked as data; one stored before reasons had codes (or with a code this
release does not know) reads as the English it was stored in, said to be so."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from audit import (
    Attachment,
    AuditLog,
    AuthResult,
    DocumentSignatureRecord,
    Violation,
)
from milter.stages.authentication import _dkim_record
from policies import Action, Decision, Finding, open_quarantine
from policies import reasons as policy_reasons
from policies.model import Violation as PolicyViolation
from signer import reasons as signer_reasons
from signer.dkim_verify import DkimVerifier
from support.audit import make_record, sha
from support.webconsole import HELD, client, login

FILE = "báo cáo.pdf.exe"
ROOT = "CN=Root CA cấp 1"
MARK_VI = "(nguyên văn tiếng Anh như đã ghi)"
MARK_EN = "(in English, as recorded)"
DATA = Path(__file__).resolve().parents[1] / "data" / "signer"
RFC8463_KEYS = dict(line.split(" ", 1)
                    for line in (DATA / "rfc8463.dns").read_text().splitlines())


def _found() -> PolicyViolation:
    """A violation as the rule makes it (policies/rules/names.py)."""
    return PolicyViolation.of("blocked-extension", policy_reasons.BLOCKED_EXTENSION(
        name=repr(FILE), ext="exe"), filename=FILE)


def _cell(page: str, table: str) -> list[str]:
    """The HTML of the reason cells of the table ``table`` (or the table after an
    element of that id), one a row."""
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'<td>(<span class="reason[^"]*".*?)</td>', body)


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


@pytest.fixture
def pages(env):
    judged = signer_reasons.judged(signer_reasons.CHAINED_NOT_REVOKED(root=ROOT), "timestamp")
    spf = signer_reasons.SPF_NOT_AUTHORIZED(client="203.0.113.9", domain="stc.example.gov.vn",
                                            matched="")
    with AuditLog.open(env.config.audit) as log:
        coded = log.record(make_record(
            subject="coded",
            violations=[Violation(**_found().as_json())],
            authentication=[AuthResult(method="spf", result="fail", reason=spf.text,
                                       **spf.as_json())],
            attachments=[Attachment(
                path="2", filename="QĐ.pdf", size=10, sha256=sha("qd"),
                detected_type="application/pdf", document="valid",
                signatures=[DocumentSignatureRecord(
                    verdict="valid", signer="Nguyễn Văn A", reason=judged.text,
                    **judged.as_json())])]))
        old = log.record(make_record(
            subject="before codes",
            violations=[Violation(rule="double-extension", reason="two extensions")],
            authentication=[AuthResult(method="dkim", result="fail",
                                       reason="body hash did not verify")]))
        unknown = log.record(make_record(
            subject="a later release's code",
            violations=[Violation(rule="double-extension", reason="said in English",
                                  code="name.not-yet-known", params={})]))
    c = client(env.settings)
    login(c, "admin")
    return c, coded, old, unknown


def test_a_coded_reason_reads_in_vietnamese_with_its_values_as_data(pages) -> None:
    c, coded, _old, _unknown = pages
    page = c.get(f"/audit/records/{coded}").text
    [violation] = _cell(page, "violations")
    assert _text(violation) == f"tên tệp {FILE!r} có đuôi .exe"
    # the file name and the extension are the message's, marked as such
    assert f"<span data-value>{repr(FILE).replace(chr(39), '&#39;')}</span>" in violation
    assert "<span data-value>exe</span>" in violation
    assert 'data-code="name.blocked-extension"' in violation
    [signature] = _cell(page, "document-1")
    # a nested reason: the certificate's check inside the time it was judged at
    assert _text(signature) == (f"dẫn tới chứng thư gốc {ROOT}, chưa bị thu hồi; xét tại "
                                "thời điểm ký có dấu thời gian")
    [spf] = _cell(page, "signatures")
    assert _text(spf) == "203.0.113.9 không được stc.example.gov.vn cho phép gửi"
    assert MARK_VI not in page


def test_the_switch_gives_the_same_reason_in_english(pages) -> None:
    c, coded, _old, _unknown = pages
    c.get("/lang/en")
    page = c.get(f"/audit/records/{coded}").text
    assert [_text(v) for v in _cell(page, "violations")] == [_found().reason]
    assert [_text(s) for s in _cell(page, "document-1")] == [
        f"chained to {ROOT}, not revoked; judged at the timestamped signing time"]
    assert [_text(r) for r in _cell(page, "signatures")] == [
        "203.0.113.9 is not authorized by stc.example.gov.vn"]
    assert MARK_EN not in page


def test_a_record_written_before_codes_shows_its_english_marked(pages) -> None:
    c, _coded, old, _unknown = pages
    page = c.get(f"/audit/records/{old}").text
    [violation] = _cell(page, "violations")
    [auth] = _cell(page, "signatures")
    assert violation == ('<span class="reason as-recorded"><span data-value>two extensions'
                         f"</span> <small>{MARK_VI}</small></span>")
    assert _text(auth) == f"body hash did not verify {MARK_VI}"
    c.get("/lang/en")
    assert _text(_cell(c.get(f"/audit/records/{old}").text, "violations")[0]) == \
        f"two extensions {MARK_EN}"


def test_a_dkim_failure_reads_in_vietnamese_and_in_its_old_english(env) -> None:
    # the verifier's own result, recorded as the inbound path records it
    raw = (DATA / "rfc8463.eml").read_bytes()
    [missing, _second] = DkimVerifier(lambda name: []).verify(raw)
    [tampered, _] = DkimVerifier(lambda name: [RFC8463_KEYS[name].encode()]).verify(
        raw.replace(b"hungry", b"thirsty"))
    with AuditLog.open(env.config.audit) as log:
        record = log.record(make_record(subject="dkim", authentication=[
            AuthResult(**_dkim_record(missing)), AuthResult(**_dkim_record(tampered))]))
    c = client(env.settings)
    login(c, "admin")
    key = "brisbane._domainkey.football.example.com"
    page = c.get(f"/audit/records/{record}").text
    assert [_text(r) for r in _cell(page, "signatures")] == [
        f"không có bản ghi khóa tại {key}",
        "mã băm phần nội dung (bh=) không khớp: nội dung thư đã bị thay đổi sau khi ký"]
    assert f"<span data-value>{key}</span>" in page
    assert MARK_VI not in page
    c.get("/lang/en")
    assert [_text(r) for r in _cell(c.get(f"/audit/records/{record}").text, "signatures")] \
        == [f"no key record at {key}", "body hash did not verify"]


def test_a_code_this_release_does_not_know_shows_the_stored_english(pages) -> None:
    c, _coded, _old, unknown = pages
    [violation] = _cell(c.get(f"/audit/records/{unknown}").text, "violations")
    assert _text(violation) == f"said in English {MARK_VI}"


def test_a_message_held_with_a_coded_reason_reads_in_vietnamese(env) -> None:
    decision = Decision(Action.QUARANTINE, (Finding(_found(), Action.QUARANTINE, None),))
    with open_quarantine(env.config.policies.quarantine) as store:
        held = store.put(HELD, envelope_from="vanthu@stc.laocai.gov.vn",
                         recipients=["vanthu@ubnd.laocai.gov.vn"], direction="outbound",
                         unit_id="stc", decision=decision)
    c = client(env.settings)
    login(c, "admin")
    listed = c.get("/admin/quarantine").text.split(f'id="held-{held}"', 1)[1]
    assert _text(listed.split('class="reason">', 1)[1].split("</td>", 1)[0]) == (
        f"tên tệp {FILE!r} có đuôi .exe ({FILE})")
    [shown] = _cell(c.get(f"/admin/quarantine/{held}").text, "violations")
    assert _text(shown) == f"tên tệp {FILE!r} có đuôi .exe"
    c.get("/lang/en")
    [shown] = _cell(c.get(f"/admin/quarantine/{held}").text, "violations")
    assert _text(shown) == _found().reason


def _trace_reasons(c, digest: str) -> dict[str, str]:
    """The words of each signature's reason on the trace page, by record id."""
    page = c.get(f"/audit/trace?sha256={digest}").text
    rows = re.findall(r'<tr data-record="(\d+)">(.*?)</tr>', page, re.S)
    return {rid: _text("".join(re.findall(r'(<span class="reason.*?</span>)(?:\)|<br>)',
                                           row.split('class="signers">', 1)[1])))
            for rid, row in rows}


def test_the_trace_page_reads_each_signatures_reason_as_the_record_page_does(pages, env):
    c, coded, _old, _unknown = pages
    with AuditLog.open(env.config.audit) as log:
        old = log.record(make_record(subject="before codes", attachments=[Attachment(
            path="2", filename="QĐ.pdf", size=10, sha256=sha("qd"),
            detected_type="application/pdf", document="invalid",
            signatures=[DocumentSignatureRecord(verdict="invalid", signer="Nguyễn Văn B",
                                                reason="digest mismatch")])]))
    record_page = c.get(f"/audit/records/{coded}").text
    [on_record] = _cell(record_page, "document-1")
    reasons = _trace_reasons(c, sha("qd"))
    # one place turns a stored reason into words: the trace says what the record says
    assert reasons[str(coded)] == _text(on_record) == (
        f"dẫn tới chứng thư gốc {ROOT}, chưa bị thu hồi; xét tại thời điểm ký có dấu thời gian")
    assert reasons[str(old)] == f"digest mismatch {MARK_VI}"
    page = c.get(f"/audit/trace?sha256={sha('qd')}").text
    assert f"<span data-value>{ROOT}</span>" in page
    c.get("/lang/en")
    assert _trace_reasons(c, sha("qd")) == {
        str(coded): f"chained to {ROOT}, not revoked; judged at the timestamped signing time",
        str(old): f"digest mismatch {MARK_EN}"}
