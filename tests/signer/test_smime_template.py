"""S/MIME signatures written into a per-identity template (signer/smime/template.py) are
the bytes cryptography's builder makes for the same message at the same second."""

from __future__ import annotations

import datetime as dt

from asn1crypto import cms as acms

from signer.smime.cms import SignatureStatus, check_signed_data
from signer.smime.template import SignatureTemplate, build_signature
from support.pki import TestPki
from support.smime import cast

CONTENT = (b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
           b"K\xc3\xadnh g\xe1\xbb\xadi UBND t\xe1\xbb\x89nh\r\n" * 40)


def _signing_time(der: bytes) -> dt.datetime:
    signer = acms.ContentInfo.load(der)["content"]["signer_infos"][0]
    values = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    time: dt.datetime = values["signing_time"].native
    return time


def test_the_template_gives_the_builders_bytes() -> None:
    alice = cast().alice
    chain = tuple(c for c in alice.chain if c.subject != c.issuer)
    template = SignatureTemplate.for_identity(alice.cert, alice.key, chain)  # type: ignore[arg-type]
    assert template is not None
    for content in (CONTENT, b"", CONTENT * 30):
        built = build_signature(content, alice.cert, alice.key, chain)  # type: ignore[arg-type]
        # RSA PKCS#1 v1.5 is deterministic: same attributes, same signature
        assert template.sign(content, _signing_time(built)) == built


def test_each_message_gets_its_own_digest_time_and_valid_signature() -> None:
    alice = cast().alice
    chain = tuple(c for c in alice.chain if c.subject != c.issuer)
    template = SignatureTemplate.for_identity(alice.cert, alice.key, chain)  # type: ignore[arg-type]
    assert template is not None
    at = dt.datetime(2031, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
    der = template.sign(CONTENT, at)
    assert der is not None and _signing_time(der) == at
    [check] = check_signed_data(der, CONTENT).signers
    assert check.status is SignatureStatus.VALID and check.signing_time == at
    [other] = check_signed_data(der, CONTENT + b"x").signers
    assert other.status is SignatureStatus.BAD_DIGEST


def test_ec_keys_and_times_utctime_cannot_hold_are_left_to_the_builder() -> None:
    pki = TestPki.create(key_kind="ec")
    bob = pki.issue("bob@so-tc.province.gov.vn")
    assert SignatureTemplate.for_identity(bob.cert, bob.key, ()) is None
    alice = cast().alice
    template = SignatureTemplate.for_identity(alice.cert, alice.key, ())  # type: ignore[arg-type]
    assert template is not None
    assert template.sign(CONTENT, dt.datetime(2050, 1, 1, tzinfo=dt.UTC)) is None
