"""Loading S/MIME signing material: certificate, chain and private key, checked once."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

from mailbase import UnsafeFileError
from mailbase import read_secret as read_private_secret
from signer.errors import CertificateFileError, KeyFileError
from signer.smime.config import SmimeIdentity
from signer.trust import load_certificates

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_MIN_RSA_BITS = 2048
_MIN_EC_BITS = 256


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    """A loaded identity: the signer's certificate, its intermediates and private key."""

    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: SigningKey
    label: str

    @property
    def addresses(self) -> tuple[str, ...]:
        """The rfc822Name addresses the certificate names."""
        return certificate_addresses(self.cert)

    def names(self, address: str) -> bool:
        """Whether the certificate names ``address`` (case-insensitive)."""
        return address.casefold() in {a.casefold() for a in self.addresses}

    def __repr__(self) -> str:  # never show key material
        return f"SigningIdentity({self.label!r}, subject={self.cert.subject.rfc4514_string()!r})"


def certificate_addresses(cert: x509.Certificate) -> tuple[str, ...]:
    """The rfc822Name entries of a certificate's subjectAltName, in order."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    return tuple(san.get_values_for_type(x509.RFC822Name))


def read_secret(path: Path) -> bytes:
    """Read a secret file through :func:`mailbase.read_secret` (no group or other
    access, owned by root or the running user, in a directory nobody else can write).

    :raises KeyFileError: missing, unreadable, not a regular file, or refused.
    """
    try:
        return read_private_secret(path)
    except UnsafeFileError as exc:
        raise KeyFileError(path, exc.reason) from exc


def _check_key(path: Path, key: object, cert: x509.Certificate) -> SigningKey:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _MIN_RSA_BITS:
            raise KeyFileError(path, f"RSA key of {key.key_size} bits; at least "
                               f"{_MIN_RSA_BITS} are required")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size < _MIN_EC_BITS:
            raise KeyFileError(path, f"EC key on {key.curve.name} is too small")
    else:
        raise KeyFileError(path, f"a {type(key).__name__} cannot sign S/MIME here; "
                           "use an RSA (2048+) or EC key")
    if key.public_key() != cert.public_key():
        raise KeyFileError(path, "the private key does not belong to the certificate "
                           f"{cert.subject.rfc4514_string()}")
    now = dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise KeyFileError(path, "the certificate is not valid now (valid "
                           f"{cert.not_valid_before_utc:%Y-%m-%d} to "
                           f"{cert.not_valid_after_utc:%Y-%m-%d})")
    return key


def load_pem_identity(cert_path: Path, key_path: Path, *, label: str = "") -> SigningIdentity:
    """Load a PEM certificate file (signer first, then intermediates) and a PEM key file.

    :raises KeyFileError: the key file is too open, unreadable, encrypted, weak or does
        not match; or the certificate file is unusable.
    """
    try:
        certs = load_certificates(cert_path)
    except CertificateFileError as exc:
        raise KeyFileError(cert_path, exc.reason) from exc
    data = read_secret(key_path)
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise KeyFileError(key_path, "the key is encrypted; store it unencrypted with mode "
                           "0600, or use a PKCS#12 file with a passphrase file") from exc
    except ValueError as exc:
        raise KeyFileError(key_path, "holds no readable PEM private key") from exc
    signing_key = _check_key(key_path, key, certs[0])
    return SigningIdentity(certs[0], tuple(certs[1:]), signing_key,
                           label or f"{cert_path.name}")


def load_pkcs12_identity(path: Path, passphrase: bytes | None, *,
                         label: str = "") -> SigningIdentity:
    """Load key, certificate and chain from a PKCS#12 file.

    :raises KeyFileError: too open, unreadable, wrong passphrase, or unusable content.
    """
    data = read_secret(path)
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError as exc:
        raise KeyFileError(path, "cannot be opened: wrong passphrase or not PKCS#12") from exc
    if key is None or cert is None:
        raise KeyFileError(path, "does not hold both a private key and its certificate")
    signing_key = _check_key(path, key, cert)
    return SigningIdentity(cert, tuple(extra), signing_key, label or path.name)


def load_identity(identity: SmimeIdentity) -> SigningIdentity:
    """Load what one configured identity names, passphrase included.

    :raises KeyFileError: any file problem, naming the file.
    """
    label = identity.selector
    if identity.pkcs12 is None:
        assert identity.cert is not None and identity.key is not None  # checked by the model
        return load_pem_identity(identity.cert, identity.key, label=label)
    passphrase: bytes | None = None
    if identity.passphrase_file is not None:
        passphrase = read_secret(identity.passphrase_file).rstrip(b"\r\n")
    elif identity.passphrase_env is not None:
        value = os.environ.get(identity.passphrase_env)
        if value is None:
            raise KeyFileError(identity.pkcs12, f"the environment variable "
                               f"{identity.passphrase_env} holding its passphrase is not set")
        passphrase = value.encode("utf-8")
    return load_pkcs12_identity(identity.pkcs12, passphrase, label=label)
