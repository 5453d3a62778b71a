"""signer/trust.py: loading anchors and CRLs, path checks for a purpose, revocation."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pydantic import ValidationError

from signer.config import SignerConfig
from signer.errors import CertificateFileError
from signer.smime import MissingIdentity, SmimeConfig, SmimeVerifier
from signer.trust import ChainStatus, KeyPurpose, load_certificates, load_crl
from support.pki import TestPki
from support.smime import cast

NOW = dt.datetime.now(dt.UTC)


def test_valid_chain_and_revocation_reasons() -> None:
    check = cast().trust().check(cast().alice.cert, [cast().pki.intermediate.cert], at=NOW)
    assert check.is_valid and check.status is ChainStatus.VALID
    assert [c.subject for c in check.chain] == [
        cast().alice.cert.subject, cast().pki.intermediate.cert.subject,
        cast().pki.root.cert.subject]
    gone = cast().trust().check(cast().revoked.cert, [cast().pki.intermediate.cert], at=NOW)
    assert gone.status is ChainStatus.REVOKED and not gone.is_valid


def test_intermediates_from_the_store_complete_the_path() -> None:
    assert not cast().trust().check(cast().alice.cert, at=NOW).is_valid
    assert cast().trust(intermediates=True).check(cast().alice.cert, at=NOW).is_valid


def test_key_usage_without_signing_bits_is_wrong_usage() -> None:
    pki = cast().pki
    key = cast().alice.key
    cert = (
        x509.CertificateBuilder().subject_name(cast().alice.cert.subject)
        .issuer_name(pki.intermediate.cert.subject).public_key(key.public_key())
        .serial_number(0x7777).not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            pki.intermediate.key.public_key()), critical=False)
        .sign(pki.intermediate.key, hashes.SHA256())
    )
    check = cast().trust().check(cert, [pki.intermediate.cert], at=NOW)
    assert check.status is ChainStatus.WRONG_USAGE
    assert "neither digitalSignature nor nonRepudiation" in check.reason


def test_other_purposes_can_be_asked_for() -> None:
    code_signing = KeyPurpose("codeSigning", frozenset({x509.ExtendedKeyUsageOID.CODE_SIGNING}))
    check = cast().trust().check(cast().alice.cert, [cast().pki.intermediate.cert], at=NOW,
                                 purpose=code_signing)
    assert check.status is ChainStatus.WRONG_USAGE
    assert "codeSigning" in check.reason


def test_not_yet_valid() -> None:
    later = cast().pki.issue("later@x.vn", not_before=NOW + dt.timedelta(days=3))
    check = cast().trust().check(later.cert, [cast().pki.intermediate.cert], at=NOW)
    assert check.status is ChainStatus.NOT_YET_VALID


def test_files_pem_der_and_errors(tmp_path: Path) -> None:
    pki = cast().pki
    der_crl = tmp_path / "crl.der"
    der_crl.write_bytes(pki.crl().public_bytes(serialization.Encoding.DER))
    der_cert = tmp_path / "root.der"
    der_cert.write_bytes(pki.root.cert.public_bytes(serialization.Encoding.DER))
    assert load_certificates(der_cert) == [pki.root.cert]
    assert load_crl(der_crl).issuer == pki.intermediate.cert.subject
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.root.cert_pem + TestPki.create().root.cert_pem)
    assert len(load_certificates(bundle)) == 2
    for bad, what in [(tmp_path / "missing.pem", "cannot be read"),
                      (der_crl, "holds no readable certificate")]:
        with pytest.raises(CertificateFileError, match=what) as caught:
            load_certificates(bad)
        assert caught.value.path == bad
    with pytest.raises(CertificateFileError, match="not a readable CRL") as caught:
        load_crl(der_cert)
    assert caught.value.path == der_cert


def test_smime_config_from_toml(tmp_path: Path) -> None:
    files = cast().pki.write(tmp_path)
    text = f"""
[signer.smime]
trust_anchors = ["{files.root}"]
crls = ["{files.crl}"]
on_missing_identity = "quarantine"

[[signer.smime.identities]]
unit = "so-tc"
pkcs12 = "keys/so-tc.p12"
passphrase_env = "SOTC_P12"
"""
    config = SignerConfig.model_validate(tomllib.loads(text)["signer"]).smime
    assert config.on_missing_identity is MissingIdentity.QUARANTINE
    assert config.identities[0].selector == "unit=so-tc"
    assert SmimeVerifier.from_config(config).trust.anchors == [cast().pki.root.cert]
    with pytest.raises(ValidationError):
        SmimeConfig.model_validate({"on_missing_identity": "drop"})
    with pytest.raises(ValidationError):
        SmimeConfig.model_validate({"trust_anchor": ["x.pem"]})
    for name, field in SmimeConfig.model_fields.items():
        assert field.description, name
