"""DKIM signing: what is signed, dual signing, refusals, and dkimpy as an independent verifier."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest

from signer.dkim import DkimSigner, SigningKey, from_domain, load_signing_key
from signer.dkim_verify import AuthResult, DkimVerifier
from signer.errors import NoSigningKeyError, UnsignableMessageError
from signer.keys import Algorithm
from support.dkim import DOMAIN, MESSAGE, KeyFile, make_key

NOW = 1_795_000_000


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFile]:
    directory = tmp_path_factory.mktemp("keys")
    return {"rsa": make_key(directory, "rsa2026", Algorithm.RSA_SHA256),
            "ed": make_key(directory, "ed2026", Algorithm.ED25519_SHA256)}


def _signing(keys: dict[str, KeyFile], *names: str) -> list[SigningKey]:
    return [load_signing_key(DOMAIN, keys[n].selector, keys[n].path) for n in names]


@pytest.fixture
def records(keys: dict[str, KeyFile]) -> dict[str, bytes]:
    return {f"{k.selector}._domainkey.{DOMAIN}": k.record.encode() for k in keys.values()}


@pytest.fixture
def signer(keys: dict[str, KeyFile]) -> DkimSigner:
    return DkimSigner(_signing(keys, "rsa", "ed"), clock=lambda: NOW)


def _dkimpy_verify(message: bytes, records: dict[str, bytes], index: int = 0) -> bool:
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records.get(name.decode().rstrip("."), b"")

    return bool(dkim.DKIM(message).verify(idx=index, dnsfunc=lookup))


def _ours(records: dict[str, bytes]) -> DkimVerifier:
    return DkimVerifier(lambda name: [records[name]] if name in records else [],
                        clock=lambda: NOW)


def _tags(header: bytes) -> dict[str, str]:
    text = re.sub(r"\s+", "", header.decode().split(":", 1)[1])
    return dict(part.split("=", 1) for part in text.split(";") if part)


def test_dual_signature_verifies_with_dkimpy(signer: DkimSigner, records: dict[str, bytes]) -> None:
    headers = signer.sign(MESSAGE, domain=DOMAIN)
    signed = headers + MESSAGE
    assert headers.count(b"DKIM-Signature:") == 2
    assert _dkimpy_verify(signed, records, 0)
    assert _dkimpy_verify(signed, records, 1)
    assert [r.result for r in _ours(records).verify(signed)] == [AuthResult.PASS] * 2


def test_signature_tags(signer: DkimSigner) -> None:
    first, second = re.split(rb"\r\n(?=DKIM-Signature)", signer.sign(MESSAGE, domain=DOMAIN))
    rsa_tags, ed_tags = _tags(first), _tags(second)
    assert rsa_tags["a"] == "rsa-sha256" and ed_tags["a"] == "ed25519-sha256"
    assert rsa_tags["c"] == "relaxed/relaxed"
    assert rsa_tags["d"] == DOMAIN and rsa_tags["s"] == "rsa2026"
    assert rsa_tags["t"] == str(NOW)
    assert "l" not in rsa_tags and "x" not in rsa_tags
    # From, To, Cc, Subject, Date oversigned; the rest signed as present
    assert rsa_tags["h"] == ("from:from:to:to:cc:cc:subject:subject:date:date:message-id:"
                             "mime-version:content-type:content-transfer-encoding")
    assert rsa_tags["bh"] == ed_tags["bh"]


def test_header_lines_are_folded_below_78_columns(signer: DkimSigner) -> None:
    lines = signer.sign(MESSAGE, domain=DOMAIN).split(b"\r\n")
    assert all(len(line) <= 78 for line in lines)


def test_expiry_when_configured(keys: dict[str, KeyFile], records: dict[str, bytes]) -> None:
    signer = DkimSigner(_signing(keys, "ed"), expire_after=86400, clock=lambda: NOW)
    headers = signer.sign(MESSAGE, domain=DOMAIN)
    assert _tags(headers)["x"] == str(NOW + 86400)
    later = DkimVerifier(lambda name: [records[name]], clock=lambda: NOW + 86401)
    assert later.verify(headers + MESSAGE)[0].reason == "signature expired"


def test_lf_message_gets_lf_headers(signer: DkimSigner, records: dict[str, bytes]) -> None:
    message = MESSAGE.replace(b"\r\n", b"\n")
    headers = signer.sign(message, domain=DOMAIN)
    assert b"\r" not in headers
    assert _dkimpy_verify(headers + message, records)
    # and what leaves over SMTP (CRLF) verifies the same
    assert _dkimpy_verify((headers + message).replace(b"\n", b"\r\n"), records)


@pytest.mark.parametrize("body", [b"", b"no final line break  ", b"\r\n\r\n", b"8-bit \xff\xfe"])
def test_awkward_bodies_verify_with_dkimpy(signer: DkimSigner, records: dict[str, bytes],
                                           body: bytes) -> None:
    message = MESSAGE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body
    # what the SMTP client sends: DATA always ends with CRLF
    wire = message if message.endswith(b"\r\n") else message + b"\r\n"
    assert _dkimpy_verify(signer.sign(message, domain=DOMAIN) + wire, records)


def test_domain_lookup_is_case_insensitive(signer: DkimSigner) -> None:
    assert signer.signs_for("SOTC.Example.GOV.vn.")
    assert signer.sign(MESSAGE, domain="SOTC.EXAMPLE.GOV.VN").count(b"DKIM-Signature") == 2


def test_no_key_for_domain(signer: DkimSigner) -> None:
    assert not signer.signs_for("other.gov.vn")
    with pytest.raises(NoSigningKeyError, match=r"other\.gov\.vn"):
        signer.sign(MESSAGE, domain="other.gov.vn")


FROM_LINE = b"From: =?utf-8?b?U+G7nyBUw6BpIGNow61uaA==?= <vanthu@sotc.example.gov.vn>\r\n"


@pytest.mark.parametrize(("message", "reason"), [
    (MESSAGE.replace(FROM_LINE, b""), "no From header"),
    (FROM_LINE + MESSAGE, "2 From headers"),
    (MESSAGE.replace(FROM_LINE, b"From: a@sotc.example.gov.vn, b@evil.example\r\n"),
     "several addresses"),
    (MESSAGE.replace(FROM_LINE, b"From: undisclosed-recipients:;\r\n"), "holds no address"),
    (MESSAGE.replace(FROM_LINE, b"From: \xff\xfe@x\r\n"), "not valid UTF-8"),
    (b"not a header\r\n" + MESSAGE, "the header block is malformed: line 1 is not a header"),
])
def test_unsignable_messages_are_refused_with_a_reason(signer: DkimSigner, message: bytes,
                                                       reason: str) -> None:
    with pytest.raises(UnsignableMessageError, match=reason):
        signer.sign(message, domain=DOMAIN)


def test_repeated_headers_are_oversigned(signer: DkimSigner, records: dict[str, bytes]) -> None:
    message = b"Subject: second subject\r\nTo: x@evil.example\r\n" + MESSAGE
    headers = signer.sign(message, domain=DOMAIN)
    h = _tags(headers)["h"].split(":")
    assert h.count("subject") == 3 and h.count("to") == 3
    assert _dkimpy_verify(headers + message, records)


def test_repeated_headers_can_be_refused(keys: dict[str, KeyFile]) -> None:
    signer = DkimSigner(_signing(keys, "ed"), refuse_repeated_headers=True)
    with pytest.raises(UnsignableMessageError, match="2 subject headers"):
        signer.sign(b"Subject: again\r\n" + MESSAGE, domain=DOMAIN)
    with pytest.raises(UnsignableMessageError, match="2 message-id headers"):
        signer.sign(b"Message-ID: <x@y>\r\n" + MESSAGE, domain=DOMAIN)


@pytest.fixture
def signed(signer: DkimSigner) -> Iterator[bytes]:
    yield signer.sign(MESSAGE, domain=DOMAIN) + MESSAGE


def _results(records: dict[str, bytes], message: bytes) -> list[tuple[AuthResult, str]]:
    return [(r.result, r.reason) for r in _ours(records).verify(message)]


@pytest.mark.parametrize(("old", "new"), [
    (b"Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?= 123/STC",
     b"Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?= 124/STC"),
    (b"To: ubnd@example.gov.vn", b"To: attacker@evil.example"),
    (b"Date: Thu, 26 Nov 2026 09:00:00", b"Date: Fri, 27 Nov 2026 09:00:00"),
    (b"Content-Type: text/plain", b"Content-Type: text/html"),
])
def test_tampered_signed_header_fails(signed: bytes, records: dict[str, bytes],
                                      old: bytes, new: bytes) -> None:
    tampered = signed.replace(old, new)
    assert tampered != signed
    assert _results(records, tampered) == [(AuthResult.FAIL, "signature did not verify")] * 2
    assert not _dkimpy_verify(tampered, records)


def test_tampered_body_fails(signed: bytes, records: dict[str, bytes]) -> None:
    tampered = signed.replace(b"theo.", b"theo!")
    assert _results(records, tampered) == [(AuthResult.FAIL, "body hash did not verify")] * 2


def test_whitespace_changes_survive_relaxed_canonicalization(signed: bytes,
                                                             records: dict[str, bytes]) -> None:
    rewrapped = signed.replace(b"Subject: ", b"Subject:   ").replace(b"theo.", b"theo.   ")
    assert _results(records, rewrapped) == [(AuthResult.PASS, "signature verified")] * 2


# -- composition attacks ("Composition Kills", USENIX Security 2020) that apply to a
#    gateway which signs what leaves and verifies what arrives.

@pytest.mark.parametrize("added", [
    b"From: boss@evil.example\r\n",            # a second From on top (what MUAs show)
    b"Subject: URGENT transfer\r\n",          # a second Subject
    b"To: victim@example.gov.vn\r\n",
    b"Cc: leak@evil.example\r\n",
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n",
    b"FROM: boss@evil.example\r\n",            # case variant of the name
    b"From : boss@evil.example\r\n",           # whitespace before the colon
])
def test_header_added_after_signing_breaks_the_signature(signed: bytes,
                                                         records: dict[str, bytes],
                                                         added: bytes) -> None:
    assert _results(records, added + signed) == \
        [(AuthResult.FAIL, "signature did not verify")] * 2


def test_from_added_below_the_signed_one_breaks_the_signature(signed: bytes,
                                                               records: dict[str, bytes]) -> None:
    head, body = signed.split(b"\r\n\r\n", 1)
    attacked = head + b"\r\nFrom: boss@evil.example\r\n\r\n" + body
    assert _results(records, attacked) == [(AuthResult.FAIL, "signature did not verify")] * 2


def test_multiple_from_attack_message_is_never_signed(signer: DkimSigner) -> None:
    # an attacker submits a message with two From headers hoping we sign both
    attack = b"From: boss@sotc.example.gov.vn\r\n" + MESSAGE
    with pytest.raises(UnsignableMessageError, match="2 From headers"):
        signer.sign(attack, domain=DOMAIN)


@pytest.mark.parametrize(("from_value", "reason"), [
    (b"From: <vanthu@sotc.example.gov.vn>, <boss@evil.example>\r\n", "several addresses"),
    (b"From: vanthu@sotc.example.gov.vn <boss@evil.example>\r\n", "display name holds an @"),
    (b"From: (vanthu@sotc.example.gov.vn) boss@evil.example, x@y.vn\r\n", "a comment"),
])
def test_ambiguous_from_is_refused(signer: DkimSigner, from_value: bytes, reason: str) -> None:
    with pytest.raises(UnsignableMessageError, match=reason):
        signer.sign(MESSAGE.replace(FROM_LINE, from_value), domain=DOMAIN)


@pytest.mark.parametrize("from_value", [
    b'From: "vanthu@sotc.example.gov.vn" <boss@evil.example>\r\n',
    b"From: boss@evil.example (vanthu@sotc.example.gov.vn)\r\n",
])
def test_display_name_spoof_resolves_to_the_real_address(from_value: bytes) -> None:
    # the signing domain comes from the same strict parser, never from a display name
    assert from_domain(MESSAGE.replace(FROM_LINE, from_value)) == "evil.example"


def test_from_domain() -> None:
    assert from_domain(MESSAGE) == DOMAIN
    with pytest.raises(UnsignableMessageError, match="2 From headers"):
        from_domain(FROM_LINE + MESSAGE)


def test_header_section_without_body_separator_signs(signer: DkimSigner,
                                                    records: dict[str, bytes]) -> None:
    message = MESSAGE.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    assert _dkimpy_verify(signer.sign(message, domain=DOMAIN) + message, records)


def test_signing_does_not_touch_the_message(signer: DkimSigner) -> None:
    original = bytes(MESSAGE)
    signer.sign(MESSAGE, domain=DOMAIN)
    assert original == MESSAGE


def test_key_path_is_kept(keys: dict[str, KeyFile]) -> None:
    key = load_signing_key("A.gov.vn.", "s", keys["ed"].path)
    assert key.domain == "a.gov.vn" and key.path == Path(keys["ed"].path)


def test_folded_line_injected_before_the_first_header(signed: bytes,
                                                      records: dict[str, bytes]) -> None:
    # a continuation line with no field to continue: parsers disagree on whom it
    # belongs to, so it is malformed for us both when signing and when verifying
    attacked = b" From: boss@evil.example\r\n" + signed
    assert _results(records, attacked)[0][0] is AuthResult.PERMERROR


def test_encoded_word_display_name_cannot_choose_the_domain() -> None:
    message = MESSAGE.replace(
        FROM_LINE, b"From: =?utf-8?q?boss=40evil.example?= <vanthu@sotc.example.gov.vn>\r\n")
    assert from_domain(message) == DOMAIN
