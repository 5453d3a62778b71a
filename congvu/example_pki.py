"""The try-out province's S/MIME material: a private CA for trying congvu out only.

``congvu example load`` makes a CA and one certificate per unit with ``cryptography``.
The CA's name says in Vietnamese and English that it is a test CA; nothing it issues
may ever be used for real mail. Keys are ECDSA P-256 (RFC 5753 S/MIME), which keeps a
dozen of them quick to make; the DKIM key beside them is RSA, made by signer/.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Every name of this PKI carries this, so no one mistakes it for a real CA.
TEST_ONLY = "THỬ NGHIỆM - chỉ để dùng thử congvu / TEST ONLY, not for real mail"


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tỉnh Ví Dụ (congvu example)"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEST_ONLY),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    """PKCS#8 PEM in a new file created 0600 (the signer refuses looser modes)."""
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


@dataclass(frozen=True, slots=True)
class TestCa:
    """The example's CA: its certificate and key, and the certificates it issues."""

    __test__ = False  # a pytest collection guard, should a test import it

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    now: dt.datetime

    @classmethod
    def create(cls) -> TestCa:
        """A self-signed CA valid two years from yesterday."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name("CA thử nghiệm tỉnh Ví Dụ (test only)")
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key, now)

    def write(self, path: Path) -> None:
        """Write the CA certificate (the trust anchor; its key is not kept)."""
        path.write_bytes(_pem(self.cert))

    def write_crl(self, path: Path) -> None:
        """Write the CA's empty CRL, current until the CA expires. Document revocation is
        required by default, and the key is not kept to sign a later one: without this
        list every signed document of the try-out province would be unverifiable."""
        crl = (
            x509.CertificateRevocationListBuilder().issuer_name(self.cert.subject)
            .last_update(self.now - dt.timedelta(days=1))
            .next_update(self.cert.not_valid_after_utc)
            .add_extension(x509.CRLNumber(1), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, addresses: Sequence[str], directory: Path,
              stem: str) -> bytes:
        """Issue a signing certificate for ``addresses``; write ``stem.pem`` and
        ``stem.key`` (0600) in ``directory`` and return the certificate's PEM."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - dt.timedelta(days=1))
            .not_valid_after(self.now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.RFC822Name(address) for address in addresses]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        pem = _pem(cert)
        (directory / f"{stem}.pem").write_bytes(pem)
        _write_key(key, directory / f"{stem}.key")
        return pem
