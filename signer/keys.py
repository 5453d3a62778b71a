"""DKIM keys: load private keys safely, make new ones, and write their DNS TXT records.

A private key is read once, at startup, through :func:`mailbase.read_secret`: a file
that neither group nor others can read or write (0600 or 0400), owned by root or the
user congvu runs as, in a directory nobody else can write (a symlink's target is what
is checked). Anything else is a :class:`KeyFileError` naming the file, as is a missing,
broken or too weak key (RSA under 2048 bits, RFC 8301 section 3.2).
"""

from __future__ import annotations

import base64
import hashlib
import os
from enum import Enum
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailbase import UnsafeFileError, create_private, read_secret
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
    :raises KeyFileError: missing, unreadable, refused by :func:`mailbase.read_secret`
        (open to group or others, another owner, a directory others can write), not a
        key, another algorithm than asked, or RSA under 2048 bits.
    """
    path = Path(path)
    try:
        data = read_secret(path)
    except UnsafeFileError as exc:
        raise KeyFileError(path, exc.reason) from exc
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
    fd = create_private(path)
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


def compare_record(key: PrivateKey | PublicKey, records: list[bytes]) -> list[str]:
    """What differs between ``key`` and the TXT records published for its selector.

    Returns human-readable differences; an empty list means the one record publishes
    exactly this key for email signing with SHA-256.
    """
    if not records:
        return ["no TXT record is published"]
    dkim_records = [r for r in records if r.lstrip().startswith(b"v=DKIM1") or b"p=" in r]
    if len(dkim_records) != 1:
        return [f"{len(dkim_records)} DKIM key records are published; verifiers need exactly one"]
    record = dkim_records[0].decode("ascii", "replace")
    tags: dict[str, str] = {}
    problems: list[str] = []
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if not part.strip():
            continue
        if not eq:
            problems.append(f"malformed tag {part.strip()!r}")
            continue
        tags[name.strip()] = "".join(value.split())
    expected_type = algorithm_of(key).key_type
    if tags.get("v", "DKIM1") != "DKIM1":
        problems.append(f"v={tags['v']} (expected DKIM1)")
    if tags.get("k", "rsa") != expected_type:
        problems.append(f"k={tags.get('k', 'rsa')} but the key is {expected_type}")
    published = tags.get("p")
    if published is None:
        problems.append("no p= tag")
    elif not published:
        problems.append("p= is empty: the key is revoked")
    elif published != public_key_data(key):
        problems.append(f"p= publishes another key (published {_fingerprint(published)}, "
                        f"key file {_fingerprint(public_key_data(key))})")
    if "h" in tags and "sha256" not in tags["h"].split(":"):
        problems.append(f"h={tags['h']} does not allow sha256")
    if "s" in tags and not {"email", "*"} & set(tags["s"].split(":")):
        problems.append(f"s={tags['s']} does not allow email")
    if "y" in tags.get("t", "").split(":"):
        problems.append("t=y: the domain is testing DKIM, verifiers may ignore failures")
    return problems


def _fingerprint(b64: str) -> str:
    """A short SHA-256 fingerprint of a p= value, to show which key is which."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except ValueError:
        return "not valid base64"
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]
