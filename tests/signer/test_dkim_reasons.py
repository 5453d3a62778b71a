"""DKIM verification's reasons carry a code and parameters (signer/reasons.py) whose
English rendering is the text Authentication-Results and the audit record always held."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbase import ReasonBook
from signer import reasons
from signer.dkim_tags import parse_key_record, parse_signature
from signer.dkim_verify import DkimResult, DkimVerifier
from signer.errors import DkimError

DATA = Path(__file__).resolve().parent.parent / "data" / "signer"
RECORDS = dict(line.split(" ", 1)
               for line in (DATA / "rfc8463.dns").read_text().splitlines())
BOOK = ReasonBook([(reasons.CATALOGUE, reasons.REASONS)])
KEY = "brisbane._domainkey.football.example.com"


def _stored(result: DkimResult) -> tuple[str, str, dict[str, object]]:
    assert result.why is not None
    assert result.why.text == result.reason
    stored = result.why.as_json()
    return result.reason, stored["code"], stored["params"]


def test_a_tampered_body_is_coded_with_its_old_text() -> None:
    raw = (DATA / "rfc8463.eml").read_bytes().replace(b"hungry", b"thirsty")
    results = DkimVerifier(lambda name: [RECORDS[name].encode()]).verify(raw)
    assert [_stored(r) for r in results] == [
        ("body hash did not verify", "dkim.body-hash", {})] * 2


def test_a_missing_key_names_the_record_as_a_parameter() -> None:
    [first, _second] = DkimVerifier(lambda name: []).verify((DATA / "rfc8463.eml").read_bytes())
    assert _stored(first) == (f"no key record at {KEY}", "dkim.no-key", {"name": KEY})


@pytest.mark.parametrize(("record", "text", "code"), [
    (b"v=DKIM1; k=r$a; p=AAAA", f"key record at {KEY} has a malformed k='r$a'",
     "dkim.key-bad-tag"),
    (b"k=rsa; v=DKIM1; p=AAAA",
     f"key record at {KEY} is not DKIM1 (v=DKIM1 must be the first tag when present)",
     "dkim.key-not-dkim1"),
    (b"v=DKIM1; p=AA*A", f"key record at {KEY}: p= is not base64: 'AA*A'",
     "dkim.key-not-base64"),
])
def test_a_key_record_fault_reads_as_before(record: bytes, text: str, code: str) -> None:
    with pytest.raises(DkimError) as caught:
        parse_key_record(record, KEY)
    assert (caught.value.result, caught.value.reason, caught.value.why.code) == \
        ("permerror", text, code)


@pytest.mark.parametrize(("tags", "text", "code"), [
    (b"v=2; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA",
     "unsupported version v='2'", "dkim.version"),
    (b"v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA; x=12; t=13",
     "x= is earlier than t=", "dkim.expires-before-timestamp"),
    (b"v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA; t=1234567890123",
     "t= is not a number of at most 12 digits: '1234567890123'", "dkim.bad-number"),
    (b"v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=A*AA; b=AAAA",
     "bh= is not base64: 'A*AA'", "dkim.not-base64"),
])
def test_a_signature_fault_reads_as_before(tags: bytes, text: str, code: str) -> None:
    with pytest.raises(DkimError) as caught:
        parse_signature(tags)
    assert (caught.value.result, caught.value.reason, caught.value.why.code) == \
        ("neutral", text, code)


def test_every_dkim_reason_renders_its_english_and_its_vietnamese() -> None:
    codes = [c for c in reasons.REASONS if c.code.startswith("dkim.")]
    assert len(codes) == 49
    for code in codes:
        reason = code(**{name: f"<{name}>" for name in code.params})
        stored = reason.as_json()
        assert BOOK.render(stored, "en") == reason.text
        vietnamese = BOOK.render(stored, "vi")
        assert vietnamese is not None
        # only a bare parameter (a library's own words) reads the same in both
        assert vietnamese != reason.text or code.template == "{detail}", code.code
