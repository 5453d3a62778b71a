"""DKIM verification at the edges RFC 6376 and RFC 8301 draw: the expiry second, a body
length that covers the whole body, the smallest RSA key allowed, the key record's flags
and key type, the signature cap, and the header syntax relaxed canonicalization allows."""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from signer.config import DkimConfig
from signer.dkim import DkimSigner, load_signing_key
from signer.dkim_verify import AuthResult, DkimResult, DkimVerifier
from signer.keys import Algorithm
from support.dkim import DOMAIN, MESSAGE, KeyFile, make_key

NOW = 1_795_000_000


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFile]:
    directory = tmp_path_factory.mktemp("keys")
    return {"rsa": make_key(directory, "rsa", Algorithm.RSA_SHA256),
            "ed": make_key(directory, "ed", Algorithm.ED25519_SHA256)}


def _served(records: dict[str, str]) -> Callable[[str], list[bytes]]:
    """Key records by name, as a resolver gives them (no record: an empty answer)."""
    return lambda name: [records[name].encode()] if name in records else []


def _records(*found: KeyFile) -> dict[str, str]:
    return {f"{k.selector}._domainkey.{DOMAIN}": k.record for k in found}


def _pairs(results: list[DkimResult]) -> list[tuple[str, str]]:
    return [(r.result.value, r.reason) for r in results]


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _dkimpy(key: KeyFile, message: bytes = MESSAGE, domain: str = DOMAIN,
            **options: object) -> bytes:
    """``message`` signed by dkimpy (another implementation) with an RSA ``key``."""
    assert isinstance(key.key, rsa.RSAPrivateKey)
    header: bytes = dkim.sign(message, key.selector.encode(), domain.encode(),
                              _pem(key.key), **options)
    return header + message


def test_a_signature_is_valid_up_to_its_expiry_second(keys: dict[str, KeyFile]) -> None:
    # RFC 6376 3.5: a signature is invalid when the verification time is past x=
    signer = DkimSigner([load_signing_key(DOMAIN, "ed", keys["ed"].path)],
                        expire_after=3600, clock=lambda: NOW)
    signed = signer.sign(MESSAGE, domain=DOMAIN) + MESSAGE
    at_expiry = DkimVerifier(_served(_records(keys["ed"])), clock=lambda: NOW + 3600)
    assert _pairs(at_expiry.verify(signed)) == [("pass", "signature verified")]
    after = DkimVerifier(_served(_records(keys["ed"])), clock=lambda: NOW + 3600.5)
    assert _pairs(after.verify(signed)) == [("fail", "signature expired")]


def test_a_body_length_covering_the_whole_body_passes(keys: dict[str, KeyFile]) -> None:
    signed = _dkimpy(keys["rsa"], length=True)
    assert b" l=" in signed[: signed.index(b"From:")]
    verifier = DkimVerifier(_served(_records(keys["rsa"])))
    assert _pairs(verifier.verify(signed)) == [("pass", "signature verified")]


def _rsa_key_of(bits: int, directory: Path) -> KeyFile:
    """An RSA key of any size: OpenSSL makes the ones cryptography refuses to."""
    path = directory / f"rsa{bits}.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), str(bits)], check=True,
                   capture_output=True)
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == bits
    return KeyFile(f"rsa{bits}", Algorithm.RSA_SHA256, path, key)


def test_rsa_keys_of_1024_bits_verify_and_smaller_ones_are_too_weak(tmp_path: Path) -> None:
    # RFC 8301 3.2: verifiers validate keys from 1024 bits up, and no smaller
    small, least = _rsa_key_of(1023, tmp_path), _rsa_key_of(1024, tmp_path)
    verifier = DkimVerifier(_served(_records(small, least)))
    assert _pairs(verifier.verify(_dkimpy(least))) == [("pass", "signature verified")]
    assert _pairs(verifier.verify(_dkimpy(small))) == [
        ("permerror", "RSA key of 1023 bits is too weak")]


def test_a_key_record_of_type_rsa_holding_another_key_is_permerror(
        keys: dict[str, KeyFile]) -> None:
    # RFC 6376 3.6.1: k=rsa (the default) means p= is an RSA public key
    other = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(other).decode()}"
    verifier = DkimVerifier(_served({f"rsa._domainkey.{DOMAIN}": record}))
    assert _pairs(verifier.verify(_dkimpy(keys["rsa"]))) == [
        ("permerror", f"key at rsa._domainkey.{DOMAIN} is not an RSA key")]


@pytest.mark.parametrize(("flags", "identity", "result"), [
    # t=s: the i= domain must be d= itself (RFC 6376 3.6.1), in any case
    ("t=s; ", f"@{DOMAIN}", "pass"),
    ("t=s; ", f"@{DOMAIN.upper()}", "pass"),
    ("t=s; ", None, "pass"),  # no i=: it is @ and d=, no subdomain
    ("t=s; ", f"@sub.{DOMAIN}", "permerror"),
    ("t=y; ", f"@sub.{DOMAIN}", "pass"),  # without s, a subdomain is allowed
    ("", f"@sub.{DOMAIN}", "pass"),
])
def test_the_strict_flag_refuses_only_a_subdomain_identity(
        keys: dict[str, KeyFile], flags: str, identity: str | None, result: str) -> None:
    record = keys["rsa"].record.replace("v=DKIM1; ", f"v=DKIM1; {flags}")
    verifier = DkimVerifier(_served({f"rsa._domainkey.{DOMAIN}": record}))
    options = {} if identity is None else {"identity": identity.encode()}
    # (dkimpy wants i= to end in d= as written: an upper-case i= goes with an upper-case d=)
    domain = DOMAIN.upper() if identity and identity.isupper() else DOMAIN
    [found] = verifier.verify(_dkimpy(keys["rsa"], domain=domain, **options))
    assert found.result is AuthResult(result), found.reason


def test_exactly_as_many_signatures_as_the_cap_are_all_evaluated(
        keys: dict[str, KeyFile]) -> None:
    signed = _dkimpy(keys["rsa"])
    header = signed[: signed.index(b"From:")]
    verifier = DkimVerifier(_served(_records(keys["rsa"])), max_signatures=3)
    assert _pairs(verifier.verify(header * 3 + MESSAGE)) == [
        ("pass", "signature verified")] * 3
    assert _pairs(verifier.verify(header * 4 + MESSAGE)) == [
        ("pass", "signature verified")] * 3 + [
        ("neutral", "1 more signatures not evaluated (limit 3)")]


def test_a_verifier_must_evaluate_at_least_one_signature() -> None:
    with pytest.raises(ValueError, match="max_signatures must be at least 1"):
        DkimVerifier(_served({}), max_signatures=0)


def test_the_configured_dns_budget_is_twice_the_resolver_timeout() -> None:
    config = DkimConfig(resolver_nameserver="127.0.0.1", resolver_port=53, resolver_timeout=4)
    assert DkimVerifier.from_config(config).dns_budget == 8


def test_white_space_before_a_colon_is_verified_not_refused(keys: dict[str, KeyFile]) -> None:
    # obsolete syntax (RFC 5322 4.5.2) that relaxed canonicalization defines (RFC 6376
    # 3.4.2: white space before the colon is deleted), so a relay that adds it breaks
    # no signature; other ambiguous header syntax is refused, as the next message shows
    signer = DkimSigner([load_signing_key(DOMAIN, "ed", keys["ed"].path)])
    header = signer.sign(MESSAGE, domain=DOMAIN)
    assert b"c=relaxed/" in header and b"subject" in header.lower()  # the field is signed
    signed = header + MESSAGE.replace(b"Subject:", b"Subject :", 1)
    verifier = DkimVerifier(_served(_records(keys["ed"])))
    assert _pairs(verifier.verify(signed)) == [("pass", "signature verified")]
    stray = signed.replace(b"Subject :", b"no colon here\r\nSubject :", 1)
    line = stray[: stray.index(b"no colon")].count(b"\n") + 1
    assert _pairs(verifier.verify(stray)) == [
        ("permerror", f"malformed header section: line {line} is not a header field")]


def test_a_malformed_signature_names_its_domain_in_lower_case() -> None:
    verifier = DkimVerifier(_served({}))
    [result] = verifier.verify(b"DKIM-Signature: v=1; a=rsa-sha256; d=SoTC.Example.VN; "
                               b"s=Sel\r\n" + MESSAGE)
    assert _pairs([result]) == [("neutral", "signature lacks required tags: b, bh, h")]
    assert (result.domain, result.selector) == ("sotc.example.vn", "Sel")


def test_the_signature_prefix_is_read_past_folding_white_space(
        keys: dict[str, KeyFile]) -> None:
    # RFC 6008: header.b is the first characters of b= without its folding white space
    signed = _dkimpy(keys["rsa"])
    start = signed.index(b" b=") + 3
    value = signed[start : start + 8]
    folded = signed[:start] + value[:3] + b"\r\n\t " + signed[start + 3 :]
    [result] = DkimVerifier(_served(_records(keys["rsa"]))).verify(folded)
    assert result.result is AuthResult.PASS
    assert result.signature_prefix == value.decode()



def test_a_malformed_header_section_is_named_by_its_first_fault() -> None:
    verifier = DkimVerifier(_served({}))
    raw = b"DKIM-Signature: v=1\r\nno colon\r\nSubject: a\0b\r\n\r\nbody"
    assert _pairs(verifier.verify(raw)) == [
        ("permerror", "malformed header section: line 2 is not a header field")]


def test_a_result_cannot_be_changed_once_given(keys: dict[str, KeyFile]) -> None:
    [result] = DkimVerifier(_served(_records(keys["rsa"]))).verify(_dkimpy(keys["rsa"]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.result = AuthResult.FAIL  # type: ignore[misc]
    # a value: an equal result is the same member of a set of results
    same = dataclasses.replace(result)
    assert same is not result and len({result, same}) == 1


def test_a_key_only_dkimpys_reader_takes_verifies_as_dkimpy_verifies_it(
        keys: dict[str, KeyFile]) -> None:
    # cryptography reads strict DER only; a key with a stray byte after it is refused
    # there and read by dkimpy's own reader (the fallback), as dkimpy reads it
    public = keys["rsa"].key.public_key()
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo) + b"\0"
    with pytest.raises(ValueError, match="Could not deserialize key data"):
        serialization.load_der_public_key(der)
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    signed = _dkimpy(keys["rsa"])
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record.encode())
    verifier = DkimVerifier(_served({f"rsa._domainkey.{DOMAIN}": record}))
    assert _pairs(verifier.verify(signed)) == [("pass", "signature verified")]


def test_of_several_key_records_at_one_name_the_first_answered_is_read(
        keys: dict[str, KeyFile]) -> None:
    # RFC 6376 3.6.2.2 leaves the choice to the verifier; the first record of the
    # answer is read, as dkimpy reads it, so one answer always gives one verdict
    revoked = "v=DKIM1; k=rsa; p="
    signed = _dkimpy(keys["rsa"])

    def answer(*records: str) -> DkimVerifier:
        return DkimVerifier(lambda name: [r.encode() for r in records])

    assert _pairs(answer(keys["rsa"].record, revoked).verify(signed)) == [
        ("pass", "signature verified")]
    assert _pairs(answer(revoked, keys["rsa"].record).verify(signed)) == [
        ("permerror", f"key at rsa._domainkey.{DOMAIN} is revoked (empty p=)")]
