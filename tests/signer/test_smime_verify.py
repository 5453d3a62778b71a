"""S/MIME verification: results, the spoofing classes, trust, revocation, bad input."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs7

from signer.smime import SmimeSigner, SmimeStatus, SmimeVerifier
from signer.smime.mime import is_content, split_entity, split_multipart
from signer.trust import TrustStore
from support.pki import Issued
from support.smime import ALICE, BOB, CAROL, address, cast, identity, message


def sign(raw: bytes, who: Issued) -> bytes:
    result = SmimeSigner().sign(raw, identity(who))
    assert result.is_signed
    return result.message


def verifier(**kwargs: bool) -> SmimeVerifier:
    return SmimeVerifier(cast().trust(**kwargs))


def test_our_signature_passes() -> None:
    result = verifier().verify(sign(message(), cast().alice))
    assert result.status is SmimeStatus.PASS and result.is_pass
    assert result.signer == ALICE
    assert result.reason.endswith("chained to CN=Test Root CA (province.gov.vn),O=UBND tinh,"
                                  "C=VN, not revoked")
    assert len(result.signers) == 1
    report = result.signers[0]
    assert report.addresses == (ALICE,)
    assert report.chain[-1].startswith("CN=Test Root CA")
    assert report.signing_time is not None


def test_lf_message_passes_too() -> None:
    assert verifier().verify(sign(message(eol=b"\n"), cast().alice)).is_pass


def test_a_relay_turning_lf_into_crlf_keeps_it_valid() -> None:
    signed = sign(message(eol=b"\n"), cast().alice)
    assert verifier().verify(signed.replace(b"\n", b"\r\n")).is_pass


def test_eight_bit_message_survives() -> None:
    raw = message(body="Công văn số 12\r\n".encode(), cte=b"8bit",
                  content_type=b"text/plain; charset=utf-8")
    assert verifier().verify(sign(raw, cast().alice)).is_pass


def test_one_tampered_body_byte_fails() -> None:
    signed = sign(message(), cast().alice)
    tampered = signed.replace(b"Xin gui cong van.", b"Xin gui cong van!")
    result = verifier().verify(tampered)
    assert result.status is SmimeStatus.FAIL
    assert "digest mismatch" in result.reason


def test_authentication_results_rendering() -> None:
    result = verifier().verify(sign(message(), cast().alice))
    text = result.authentication_results()
    assert text.startswith('smime=pass reason="signed by CN=' + ALICE)
    assert f"body.smime-identifier={ALICE}" in text
    assert f"body.smime-serial={cast().alice.serial:x}" in text
    assert result.as_dict()["result"] == "pass"
    unsigned = verifier().verify(message())
    assert unsigned.authentication_results() == (
        'smime=none reason="the message is not S/MIME signed"')


# --- the spoofing classes: none of these may pass ----------------------------------


def _mixed(first: bytes, second_headers: bytes, second_body: bytes) -> bytes:
    return message(
        content_type=b'multipart/mixed; boundary="outer"',
        body=b"--outer\r\n" + first + b"\r\n--outer\r\n" + second_headers + b"\r\n"
        + second_body + b"\r\n--outer--\r\n",
    )


def test_signed_part_nested_inside_unsigned_message() -> None:
    signed = sign(message(), cast().alice)
    entity = split_entity(signed)
    inner = b"".join(f.raw + b"\r\n" for f in entity.fields
                     if is_content(f) or f.key == b"mime-version")
    raw = _mixed(b"Content-Type: text/plain\r\n\r\nPay 1,000,000 VND to account 42.",
                 inner, entity.body)
    result = verifier().verify(raw)
    assert result.status is SmimeStatus.NEUTRAL
    assert "part 2 is S/MIME signed inside an unsigned message" in result.reason


def test_forwarded_signed_message() -> None:
    signed = sign(message(), cast().alice)
    raw = _mixed(b"Content-Type: text/plain\r\n\r\nFYI, see below.",
                 b"Content-Type: message/rfc822\r\n", signed)
    result = verifier().verify(raw)
    assert result.status is SmimeStatus.NEUTRAL
    assert "part 2.1 is S/MIME signed" in result.reason


def _two_signers(content: bytes, first: Issued, second: Issued) -> bytes:
    builder = (
        pkcs7.PKCS7SignatureBuilder().set_data(content)
        .add_signer(first.cert, first.key, hashes.SHA256())  # type: ignore[arg-type]
        .add_signer(second.cert, second.key, hashes.SHA256())  # type: ignore[arg-type]
        .add_certificate(cast().pki.intermediate.cert)
    )
    return builder.sign(serialization.Encoding.DER,
                       [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])


def _with_signature(signed: bytes, der: bytes) -> bytes:
    entity = split_entity(signed)
    boundary = entity.content_type().param("boundary") or ""
    parts, _ = split_multipart(entity.body, boundary)
    sig_head = parts[1].split(b"\r\n\r\n", 1)[0]
    new_sig = sig_head + b"\r\n\r\n" + base64.encodebytes(der).replace(b"\n", b"\r\n")
    return signed.replace(parts[1], new_sig)


def test_several_signers_with_one_unchained() -> None:
    signed = sign(message(), cast().alice)
    content = split_multipart(split_entity(signed).body,
                              split_entity(signed).content_type().param("boundary") or "")[0][0]
    raw = _with_signature(signed, _two_signers(content, cast().alice, cast().unchained))
    result = verifier().verify(raw)
    assert result.status is SmimeStatus.FAIL
    # SignerInfos is a SET OF: DER sorts it, so the bad one may be first or second.
    assert "of 2: no valid path to a trust anchor" in result.reason
    assert sorted(s.status for s in result.signers) == [SmimeStatus.FAIL, SmimeStatus.PASS]


def test_several_signers_with_one_bad_signature() -> None:
    signed = sign(message(), cast().alice)
    entity = split_entity(signed)
    content = split_multipart(entity.body, entity.content_type().param("boundary") or "")[0][0]
    info = acms.ContentInfo.load(_two_signers(content, cast().alice, cast().shared))
    second = info["content"]["signer_infos"][1]
    broken = bytearray(second["signature"].native)
    broken[10] ^= 0x01
    second["signature"] = bytes(broken)
    result = verifier().verify(_with_signature(signed, info.dump(force=True)))
    assert result.status is SmimeStatus.FAIL
    assert "of 2: the signature does not verify" in result.reason


def test_certificate_for_another_address() -> None:
    result = verifier().verify(sign(message(), cast().carol))
    assert result.status is SmimeStatus.POLICY
    assert result.reason == (f"valid signature, not the sender: the certificate names {CAROL}, "
                             f"the message is from {ALICE}")
    assert result.signer == CAROL


def test_from_changed_after_signing() -> None:
    signed = sign(message(), cast().alice)
    forged = signed.replace(f"From: Alice <{ALICE}>".encode(), f"From: Bob <{BOB}>".encode())
    result = verifier().verify(forged)
    assert result.status is SmimeStatus.POLICY
    assert f"the message is from {BOB}" in result.reason


def test_from_changed_after_signing_with_protected_headers() -> None:
    # The certificate names both; the signed entity carries its own From (RFC 8551 3.1).
    inner = message(sender=ALICE).replace(b"MIME-Version: 1.0\r\n", b"")
    wrapped = message(sender=ALICE, content_type=b"message/rfc822", body=inner)
    signed = sign(wrapped, cast().shared)
    assert verifier().verify(signed).is_pass
    forged = signed.replace(f"From: Alice <{ALICE}>".encode(), f"From: Bob <{BOB}>".encode(), 1)
    result = verifier().verify(forged)
    assert result.status is SmimeStatus.FAIL
    assert result.reason == (f"the From header was changed after signing: signed as {ALICE}, "
                             f"now {BOB}")


def test_expired_certificate() -> None:
    result = verifier().verify(sign(message(sender=address(cast().expired)),
                                    cast().expired))
    assert result.status is SmimeStatus.FAIL
    assert result.reason.startswith("the certificate expired on")


def _resigned_at(signed: bytes, who: Issued, when: dt.datetime) -> bytes:
    """The same signature with its signing-time attribute set to ``when``, re-signed."""
    entity = split_entity(signed)
    parts, _ = split_multipart(entity.body, entity.content_type().param("boundary") or "")
    info = acms.ContentInfo.load(base64.b64decode(split_entity(parts[1]).body))
    signer_info = info["content"]["signer_infos"][0]
    attrs = [
        acms.CMSAttribute({"type": "signing_time", "values": [acms.Time({"utc_time": when})]})
        if a["type"].native == "signing_time" else a
        for a in signer_info["signed_attrs"]
    ]
    signer_info["signed_attrs"] = acms.CMSAttributes(attrs)
    to_sign = b"\x31" + signer_info["signed_attrs"].dump(force=True)[1:]
    signer_info["signature"] = who.key.sign(  # type: ignore[call-arg, union-attr]
        to_sign, padding.PKCS1v15(), hashes.SHA256())
    return _with_signature(signed, info.dump(force=True))


def test_signing_time_before_the_certificate_fails() -> None:
    signed = sign(message(), cast().alice)
    early = cast().alice.cert.not_valid_before_utc - dt.timedelta(days=2)
    result = verifier().verify(_resigned_at(signed, cast().alice, early))
    assert result.status is SmimeStatus.FAIL
    assert result.reason.startswith(f"at the signing time {early:%Y-%m-%d %H:%M} UTC: "
                                    "the certificate is valid only from")


def test_signing_time_in_the_future_fails() -> None:
    signed = sign(message(), cast().alice)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    result = verifier().verify(_resigned_at(signed, cast().alice, later))
    assert result.status is SmimeStatus.FAIL
    assert "is in the future" in result.reason


def test_resigned_helper_keeps_a_valid_signature() -> None:
    signed = sign(message(), cast().alice)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    result = verifier().verify(_resigned_at(signed, cast().alice, now))
    assert result.is_pass
    assert result.signers[0].signing_time == now


def test_unchained_certificate() -> None:
    result = verifier().verify(sign(message(), cast().unchained))
    assert result.status is SmimeStatus.FAIL
    assert result.reason.startswith("no valid path to a trust anchor")


def test_revoked_certificate_never_passes() -> None:
    gone = cast().revoked
    signed = sign(message(sender=address(gone)), gone)
    result = verifier().verify(signed)
    assert result.status is SmimeStatus.FAIL
    assert "was revoked on" in result.reason
    # Without the CRL, the same message passes: revocation comes from the CRL alone.
    assert verifier(crl=False).verify(signed).is_pass


def test_stale_crl_is_temperror() -> None:
    pki = cast().pki
    stale = pki.crl(last_update=pki.now - dt.timedelta(days=10),
                    next_update=pki.now - dt.timedelta(days=3))
    trust = TrustStore([pki.root.cert], crls=[stale])
    result = SmimeVerifier(trust).verify(sign(message(), cast().alice))
    assert result.status is SmimeStatus.TEMPERROR
    assert "CRL from CN=Test Issuing CA" in result.reason


def test_crl_required_but_missing_is_temperror() -> None:
    trust = TrustStore([cast().pki.root.cert], is_crl_required=True)
    result = SmimeVerifier(trust).verify(sign(message(), cast().alice))
    assert result.status is SmimeStatus.TEMPERROR


def test_forged_crl_is_ignored() -> None:
    # A CRL "from" the issuing CA but signed by another key must not count.
    pki = cast().pki
    forged = pki.crl(issuer=Issued(pki.intermediate.cert, cast().bob.key))
    trust = TrustStore([pki.root.cert], crls=[forged], is_crl_required=True)
    result = SmimeVerifier(trust).verify(sign(message(), cast().alice))
    assert result.status is SmimeStatus.TEMPERROR


def test_server_auth_only_certificate_is_wrong_usage() -> None:
    result = verifier().verify(sign(message(sender=address(cast().server_only)),
                                    cast().server_only))
    assert result.status is SmimeStatus.FAIL
    assert "does not include emailProtection" in result.reason


def test_certificate_without_eku_is_accepted_per_rfc_8550() -> None:
    assert verifier().verify(sign(message(sender=address(cast().no_eku)),
                                  cast().no_eku)).is_pass


def test_no_trust_anchors_is_never_pass() -> None:
    result = SmimeVerifier(TrustStore([])).verify(sign(message(), cast().alice))
    assert result.status is SmimeStatus.FAIL
    assert result.reason == "no trust anchors are configured"


# --- opaque signed-data and bad input ------------------------------------------------


def _opaque(raw: bytes, who: Issued) -> bytes:
    entity = split_entity(raw)
    content = (b"".join(f.raw + b"\r\n" for f in entity.fields if is_content(f))
               + b"\r\n" + entity.body)
    der = (pkcs7.PKCS7SignatureBuilder().set_data(content)
           .add_signer(who.cert, who.key, hashes.SHA256())  # type: ignore[arg-type]
           .add_certificate(cast().pki.intermediate.cert)
           .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    head = b"".join(f.raw + b"\r\n" for f in entity.fields if not is_content(f))
    return (head + b"Content-Type: application/pkcs7-mime; smime-type=signed-data; "
            b'name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + base64.encodebytes(der).replace(b"\n", b"\r\n"))


def test_opaque_signed_data_passes_and_checks_the_sender() -> None:
    assert verifier().verify(_opaque(message(), cast().alice)).is_pass
    assert verifier().verify(_opaque(message(), cast().carol)).status is SmimeStatus.POLICY


def test_encrypted_message_is_neutral() -> None:
    raw = message(content_type=b"application/pkcs7-mime; smime-type=enveloped-data",
                  cte=b"base64", body=b"MIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n")
    assert verifier().verify(raw).status is SmimeStatus.NEUTRAL


def _replace_signature_part(signed: bytes, new_part: bytes) -> bytes:
    entity = split_entity(signed)
    parts, _ = split_multipart(entity.body, entity.content_type().param("boundary") or "")
    return signed.replace(parts[1], new_part)


@pytest.mark.parametrize(("mangle", "reason"), [
    (lambda s: _replace_signature_part(
        s, b"Content-Type: application/pkcs7-signature\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!notbase64!!!\r\n"),
     "not valid base64"),
    (lambda s: _replace_signature_part(
        s, b"Content-Type: application/pkcs7-signature\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nAAAAAAAA\r\n"),
     "cannot be parsed"),
    (lambda s: _replace_signature_part(s, b"Content-Type: text/plain\r\n\r\nhello\r\n"),
     "not a signature"),
    (lambda s: s.replace(b"--\r\n", b"\r\nContent-Type: text/plain\r\n\r\nextra\r\n--"
                         + split_entity(s).content_type().param("boundary").encode()  # type: ignore[union-attr]
                         + b"--\r\n"),
     "has 3 parts instead of 2"),
    (lambda s: s.rsplit(b"--\r\n", 1)[0], "not closed"),
    (lambda s: s.replace(b"; boundary=", b"; nothing="), "without a boundary"),
    (lambda s: s.replace(b'protocol="application/pkcs7-signature"', b'protocol="x/y"'),
     "protocol x/y"),
])
def test_malformed_signatures_are_permerror(mangle, reason: str) -> None:  # type: ignore[no-untyped-def]
    result = verifier().verify(mangle(sign(message(), cast().alice)))
    assert result.status is SmimeStatus.PERMERROR
    assert reason in result.reason


@pytest.mark.parametrize("raw", [
    b"", b"\r\n", b"garbage without headers", b"From: x\r\n\r\n",
    b"Content-Type: multipart/signed; boundary=x\r\n\r\n--x--\r\n",
    b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\nMIIB\r\n",
    b"Content-Type: application/pkcs7-mime\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.b64encode(b"\x30\x03\x02\x01\x01"),
])
def test_garbage_gives_a_result_not_an_exception(raw: bytes) -> None:
    result = verifier().verify(raw)
    assert result.status in {SmimeStatus.NONE, SmimeStatus.PERMERROR}
    assert result.reason


def test_several_from_headers_are_permerror() -> None:
    signed = sign(message(), cast().alice)
    doubled = f"From: {ALICE}\r\n".encode() + signed
    result = verifier().verify(doubled)
    assert result.status is SmimeStatus.PERMERROR
    assert "2 From headers" in result.reason


def test_pgp_multipart_signed_is_none() -> None:
    raw = message(content_type=b'multipart/signed; protocol="application/pgp-signature"; '
                  b"boundary=x", body=b"--x--\r\n")
    assert verifier().verify(raw).status is SmimeStatus.NONE


def test_trust_store_from_files(tmp_path: Path) -> None:
    files = cast().pki.write(tmp_path)
    trust = TrustStore.from_files([files.root], [files.intermediate], [files.crl])
    assert SmimeVerifier(trust).verify(sign(message(), cast().alice)).is_pass


def test_result_fits_the_shared_authentication_results_writer() -> None:
    from signer import authentication_results

    result = verifier().verify(sign(message(), cast().alice))
    header = authentication_results("mx.province.gov.vn", [result]).decode()
    assert header.startswith("Authentication-Results: mx.province.gov.vn;")
    assert "smime=pass" in header
    assert f'body.smime-identifier="{ALICE}"' in header


def test_a_second_content_type_header_is_permerror() -> None:
    signed = sign(message(), cast().alice)
    doubled = signed.replace(b"MIME-Version: 1.0\r\n",
                             b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n", 1)
    result = verifier().verify(doubled)
    assert result.status is SmimeStatus.PERMERROR
    assert result.reason == "the message has several Content-Type header fields"


def test_deeply_nested_der_is_permerror_not_a_crash() -> None:
    nested = b"\x30\x80" * 20000 + b"\x00\x00" * 20000
    raw = _replace_signature_part(
        sign(message(), cast().alice),
        b"Content-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + base64.encodebytes(nested).replace(b"\n", b"\r\n"))
    result = verifier().verify(raw)
    assert result.status is SmimeStatus.PERMERROR


def test_deeply_nested_unsigned_mime_is_walked_within_limits() -> None:
    body = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i, i + 1)
                    for i in range(300))
    raw = message(content_type=b"multipart/mixed; boundary=b0",
                  body=body + b"--b300\r\nContent-Type: application/pkcs7-signature\r\n\r\nx\r\n")
    result = verifier().verify(raw)
    assert result.status in {SmimeStatus.NEUTRAL, SmimeStatus.NONE}
