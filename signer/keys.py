"""DKIM keys: load private keys safely, make new ones, and write their DNS TXT records.

A private key is read once, at startup, from a file that neither group nor others can
read or write (0600 or 0400): anything else is a :class:`KeyFileError` naming the file,
as is a missing, broken or too weak key (RSA under 2048 bits, RFC 8301 section 3.2).
"""

from __future__ import annotations

import base64
import os
import stat
from enum import Enum
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from signer.errors import KeyFileError

MIN_RSA_BITS = 2048
"""The smallest RSA key congvu signs with."""

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_TXT_STRING = 255  # RFC 1035 section 3.3.14: one character-string is at most 255 octets


class Algorithm(Enum):
    """A DKIM signing algorithm (the ``a=`` tag)."""

    RSA_SHA256 = "rsa-sha256"
    ED25519_SHA256 = "ed25519-sha256"

    @property
    def key_type(self) -> str:
        """The ``k=`` value of this algorithm's key records."""
        return "rsa" if self is Algorithm.RSA_SHA256 else "ed25519"

    @classmethod
    def from_name(cls, name: str) -> Algorithm:
        """``rsa``/``rsa-sha256`` or ``ed25519``/``ed25519-sha256``.

        :raises ValueError: any other name.
        """
        lowered = name.strip().lower()
        for algorithm in cls:
            if lowered in (algorithm.value, algorithm.key_type):
                return algorithm
        raise ValueError(f"unknown DKIM algorithm {name!r}; use rsa-sha256 or ed25519-sha256")


def algorithm_of(key: PrivateKey | PublicKey) -> Algorithm:
    """The DKIM algorithm a key signs or verifies with."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return Algorithm.RSA_SHA256
    return Algorithm.ED25519_SHA256


def load_private_key(path: Path, *, algorithm: Algorithm | None = None) -> PrivateKey:
    """Load a DKIM private key: PEM (PKCS#8 or PKCS#1), or an Ed25519 seed in base64.

    :param algorithm: when given, the key must be of this algorithm.
    :raises KeyFileError: missing, unreadable, readable or writable by group or others,
        not a key, another algorithm than asked, or RSA under 2048 bits.
    """
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(path, "not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise KeyFileError(
                path, f"mode {mode:04o} lets group or others read or write it; chmod 600 it")
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(path, f"cannot read it: {exc.strerror or exc}") from exc
    key = _parse_private_key(path, data)
    if algorithm is not None and algorithm_of(key) is not algorithm:
        raise KeyFileError(path, f"holds a {algorithm_of(key).key_type} key, "
                                 f"but the key table says {algorithm.value}")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise KeyFileError(path, f"RSA key of {key.key_size} bits is too weak; "
                                 f"use {MIN_RSA_BITS} bits or more")
    return key


def _parse_private_key(path: Path, data: bytes) -> PrivateKey:
    if b"-----BEGIN" not in data:
        # dkimpy and RFC 8463 write an Ed25519 private key as its base64 32-byte seed
        try:
            seed = base64.b64decode(b"".join(data.split()), validate=True)
        except ValueError:
            seed = b""
        if len(seed) == 32:
            return ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        raise KeyFileError(path, "not a PEM private key (nor an Ed25519 seed in base64)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise KeyFileError(path, "the key is encrypted; store it without a passphrase") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(path, f"not a usable PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise KeyFileError(path, f"a {type(key).__name__}, not an RSA or Ed25519 key")
    return key


def generate_private_key(algorithm: Algorithm, *, bits: int = MIN_RSA_BITS) -> PrivateKey:
    """A new private key; ``bits`` applies to RSA only.

    :raises ValueError: RSA bits under 2048 or over 8192.
    """
    if algorithm is Algorithm.ED25519_SHA256:
        return ed25519.Ed25519PrivateKey.generate()
    if not MIN_RSA_BITS <= bits <= 8192:
        raise ValueError(f"RSA key size must be {MIN_RSA_BITS}-8192 bits, not {bits}")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def write_private_key(key: PrivateKey, path: Path) -> None:
    """Write ``key`` as PKCS#8 PEM to a new file created with mode 0600.

    :raises FileExistsError: the file exists (a key is never overwritten).
    """
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def public_key_data(key: PrivateKey | PublicKey) -> str:
    """The ``p=`` value: base64 SubjectPublicKeyInfo (RSA) or raw 32 bytes (Ed25519)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) \
        else key
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(raw).decode("ascii")


def key_record(key: PrivateKey | PublicKey) -> str:
    """The DKIM key record (TXT value) publishing ``key``'s public half."""
    return f"v=DKIM1; k={algorithm_of(key).key_type}; p={public_key_data(key)}"


def zone_file_entry(selector: str, domain: str, record: str) -> str:
    """The record in zone-file form, split into 255-octet strings (RFC 1035 3.3.14)."""
    chunks = [record[i : i + _TXT_STRING] for i in range(0, len(record), _TXT_STRING)]
    owner = f"{selector}._domainkey.{domain.rstrip('.')}."
    if len(chunks) == 1:
        return f'{owner} IN TXT "{chunks[0]}"'
    body = "\n".join(f'    "{chunk}"' for chunk in chunks)
    return f"{owner} IN TXT (\n{body} )"
