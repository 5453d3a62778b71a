"""A test PKI made with cryptography: root CA, intermediate, unit certificates, CRLs.

Shared by the S/MIME, signed-documents and end-to-end tests. RSA keys come from the
session's pool (support/keypool.py: distinct within a test, reused from test to test, as
generating one costs ~60 ms of CPU); build a PKI, then issue what a test needs::

    pki = TestPki.create()
    alice = pki.issue("alice@so-tc.province.gov.vn")
    old = pki.issue("old@so-tc.province.gov.vn", expired=True)
    gone = pki.issue("gone@so-tc.province.gov.vn")
    pki.revoke(gone)
    files = pki.write(tmp_path)          # root.pem, intermediate.pem, crl.pem
    cert_path, key_path = alice.write(tmp_path, "alice")   # key written 0600

Names, serial numbers and validity periods are fixed (relative to ``now``), so a test
can assert them; only the key material is random.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from support.keypool import POOL

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

DOMAIN = "province.gov.vn"
EMAIL_PROTECTION = ExtendedKeyUsageOID.EMAIL_PROTECTION
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH


def new_key(kind: str = "rsa") -> PrivateKey:
    """A private key no other live thing of the test holds: ``rsa`` (2048 bits, from
    the session's pool, support/keypool.py) or ``ec`` (P-256, fresh)."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return POOL.rsa2048()


def _name(common_name: str, unit: str = "UBND tinh") -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key and the chain above it (issuer first)."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        """The certificate followed by its issuers (root excluded), PEM."""
        return self.cert_pem + b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in self.chain
            if c.issuer != c.subject
        )

    @property
    def key_pem(self) -> bytes:
        """The private key in unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def serial(self) -> int:
        """The certificate's serial number."""
        return self.cert.serial_number

    def write(self, directory: Path, stem: str, *, with_chain: bool = True,
              key_mode: int = 0o600) -> tuple[Path, Path]:
        """Write ``stem.pem`` (cert, plus intermediates) and ``stem.key`` (mode 0600)."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path = directory / f"{stem}.pem"
        key_path = directory / f"{stem}.key"
        cert_path.write_bytes(self.chain_pem if with_chain else self.cert_pem)
        _write_secret(key_path, self.key_pem, key_mode)
        return cert_path, key_path

    def write_pkcs12(self, directory: Path, stem: str, passphrase: bytes) -> Path:
        """Write ``stem.p12`` (key, certificate, intermediates) encrypted with passphrase."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{stem}.p12"
        blob = pkcs12.serialize_key_and_certificates(
            stem.encode(), self.key, self.cert,
            [c for c in self.chain if c.issuer != c.subject] or None,
            serialization.BestAvailableEncryption(passphrase),
        )
        _write_secret(path, blob, 0o600)
        return path


def _write_secret(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, mode)


@dataclass(frozen=True)
class PkiFiles:
    """Paths written by :meth:`TestPki.write`."""

    root: Path
    intermediate: Path
    crl: Path
    root_crl: Path


@dataclass
class TestPki:
    """A root CA, an intermediate CA under it, and what they issue and revoke."""

    __test__ = False  # not a pytest test class

    root: Issued
    intermediate: Issued
    now: dt.datetime
    key_kind: str = "rsa"
    revoked: dict[int, tuple[dt.datetime, x509.Name]] = field(default_factory=dict)
    _next_serial: int = 0x1000

    @classmethod
    def create(cls, *, now: dt.datetime | None = None, key_kind: str = "rsa",
               domain: str = DOMAIN) -> TestPki:
        """Make the two CAs: root valid 10 years, intermediate 5, both from now - 1 day."""
        now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
        root_key = new_key(key_kind)
        root_name = _name(f"Test Root CA ({domain})")
        root_cert = _ca_cert(root_name, root_key, root_name, root_key, serial=1,
                             not_before=now - dt.timedelta(days=1),
                             not_after=now + dt.timedelta(days=3650), path_length=1)
        root = Issued(root_cert, root_key)
        int_key = new_key(key_kind)
        int_cert = _ca_cert(_name(f"Test Issuing CA ({domain})"), int_key, root_name, root_key,
                            serial=2, not_before=now - dt.timedelta(days=1),
                            not_after=now + dt.timedelta(days=1825), path_length=0)
        return cls(root=root, intermediate=Issued(int_cert, int_key, (root_cert,)),
                   now=now, key_kind=key_kind)

    def _serial(self) -> int:
        self._next_serial += 1
        return self._next_serial

    def issue(
        self,
        *addresses: str,
        common_name: str | None = None,
        expired: bool = False,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        eku: Sequence[x509.ObjectIdentifier] | None = (EMAIL_PROTECTION,),
        key_usage: bool = True,
        issuer: Issued | None = None,
        key: PrivateKey | None = None,
    ) -> Issued:
        """An end-entity certificate naming ``addresses`` as rfc822Name SANs.

        By default valid from now - 1 day for a year, with digitalSignature and
        nonRepudiation key usage and the emailProtection EKU; ``expired=True`` makes
        it valid only from now - 60 days to now - 30 days. ``eku=None`` omits the EKU
        extension; ``issuer=pki.root`` issues directly under the root; an ``Issued``
        from another ``TestPki`` makes an unchained certificate.
        """
        issuer = issuer or self.intermediate
        key = key or new_key(self.key_kind)
        if expired:
            not_before = not_before or self.now - dt.timedelta(days=60)
            not_after = not_after or self.now - dt.timedelta(days=30)
        not_before = not_before or self.now - dt.timedelta(days=1)
        not_after = not_after or self.now + dt.timedelta(days=365)
        subject = _name(common_name or (addresses[0] if addresses else "no address"))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(self._serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key()), critical=False)
        )
        if addresses:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(a) for a in addresses]),
                critical=False)
        if key_usage:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=True,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        cert = builder.sign(issuer.key, hashes.SHA256())
        return Issued(cert, key, (issuer.cert, *issuer.chain))

    def revoke(self, issued: Issued, *, when: dt.datetime | None = None) -> None:
        """Put ``issued`` on its issuer's next CRL (revoked an hour ago unless ``when``)."""
        self.revoked[issued.serial] = (when or self.now - dt.timedelta(hours=1),
                                       issued.cert.issuer)

    def crl(self, *, issuer: Issued | None = None, last_update: dt.datetime | None = None,
            next_update: dt.datetime | None = None) -> x509.CertificateRevocationList:
        """A CRL by ``issuer`` (default: the intermediate) listing what it revoked."""
        issuer = issuer or self.intermediate
        last_update = last_update or self.now - dt.timedelta(hours=2)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject)
            .last_update(last_update)
            .next_update(next_update or self.now + dt.timedelta(days=7))
            .add_extension(x509.CRLNumber(len(self.revoked) + 1), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key()), critical=False)
        )
        for serial, (when, by) in sorted(self.revoked.items()):
            if by != issuer.cert.subject:
                continue
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(when).build())
        return builder.sign(issuer.key, hashes.SHA256())

    def write(self, directory: Path) -> PkiFiles:
        """Write root.pem, intermediate.pem, crl.pem (the intermediate's CRL) and
        root-crl.pem (the root's)."""
        directory.mkdir(parents=True, exist_ok=True)
        files = PkiFiles(directory / "root.pem", directory / "intermediate.pem",
                         directory / "crl.pem", directory / "root-crl.pem")
        files.root.write_bytes(self.root.cert_pem)
        files.intermediate.write_bytes(self.intermediate.cert_pem)
        files.crl.write_bytes(self.crl().public_bytes(serialization.Encoding.PEM))
        files.root_crl.write_bytes(
            self.crl(issuer=self.root).public_bytes(serialization.Encoding.PEM))
        return files


def _ca_cert(subject: x509.Name, key: PrivateKey, issuer_name: x509.Name,
             issuer_key: PrivateKey, *, serial: int, not_before: dt.datetime,
             not_after: dt.datetime, path_length: int) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
