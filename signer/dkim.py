"""DKIM signing (RFC 6376, RFC 8463): the DKIM-Signature header lines to prepend.

The signer canonicalizes and hashes with :mod:`signer.canon` and does the private-key
operation with ``cryptography`` (OpenSSL), so an RSA-2048 signature of a 10 KB message
costs little more than the raw RSA operation. It never re-serializes the message: the
caller prepends the returned bytes to the exact bytes it sends on.

Header sanity against the composition attacks ("Composition Kills", USENIX Security
2020): a message whose From is missing, repeated, or names not exactly one address is
refused (:class:`UnsignableMessageError`), using mailbase's one From parser; From, To,
Cc, Subject and Date are oversigned (listed once more than present), as is any other
repeated signed header, so a header added later breaks the signature. The header is the
one :func:`mailbase.read_header` read; a block that reads two ways (any of its defects)
is refused too: a signature must not vouch for fields another program reads otherwise.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from mailbase import Address, HeaderBlock, HeaderField, from_values_block, read_from, read_header
from signer import canon
from signer.canon import Canon
from signer.config import DkimConfig
from signer.errors import NoSigningKeyError, UnsignableMessageError
from signer.keys import Algorithm, PrivateKey, load_private_key
from signer.rotation_store import load_rotation

SIGNED_HEADERS: tuple[str, ...] = (
    "from", "to", "cc", "subject", "date", "message-id", "reply-to", "in-reply-to",
    "references", "mime-version", "content-type", "content-transfer-encoding",
)
"""The header fields congvu signs, in ``h=`` order."""

OVERSIGNED_HEADERS = frozenset({"from", "to", "cc", "subject", "date"})
"""Listed in ``h=`` once more than present, so that none can be added after signing."""

_SIGNED_KEYS = tuple((name, name.encode("ascii")) for name in SIGNED_HEADERS)
_SHA256 = hashes.SHA256()
_B64_LINE = 72


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A loaded DKIM private key and where its public half is published."""

    domain: str
    selector: str
    algorithm: Algorithm
    private_key: PrivateKey
    path: Path | None = None

    def sign_digest(self, digest: bytes) -> bytes:
        """Sign a SHA-256 digest: RSASSA-PKCS1-v1_5, or Ed25519 over the digest (RFC 8463)."""
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            return self.private_key.sign(digest, padding.PKCS1v15(), Prehashed(_SHA256))
        return self.private_key.sign(digest)


def load_signing_key(domain: str, selector: str, path: Path, *,
                     algorithm: Algorithm | None = None) -> SigningKey:
    """Load one key file for ``selector._domainkey.domain``.

    :raises KeyFileError: see :func:`signer.keys.load_private_key`.
    """
    key = load_private_key(path, algorithm=algorithm)
    found = Algorithm.RSA_SHA256 if isinstance(key, rsa.RSAPrivateKey) \
        else Algorithm.ED25519_SHA256
    return SigningKey(domain.lower().rstrip("."), selector, found, key, Path(path))


class DkimSigner:
    """Signs outbound mail with every active key of the sender's domain.

    :param keys: the loaded signing keys; two for one domain (RSA and Ed25519, or the
        old and new key during a rotation) give two signatures.
    :param refuse_repeated_headers: refuse, rather than oversign, a message with a
        repeated To, Cc, Subject, Date or other signed header.
    :param expire_after: seconds until the signature expires (``x=``); ``None``: never.
    :param clock: the time source for ``t=`` (seconds since the epoch).
    """

    def __init__(self, keys: Iterable[SigningKey], *, refuse_repeated_headers: bool = False,
                 expire_after: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys: dict[str, list[SigningKey]] = {}
        for key in keys:
            self._keys.setdefault(key.domain.lower(), []).append(key)
        self.refuse_repeated_headers = refuse_repeated_headers
        self.expire_after = expire_after
        self._clock = clock

    @classmethod
    def from_config(cls, config: DkimConfig, *,
                    clock: Callable[[], float] = time.time) -> DkimSigner:
        """Load every signing key of the key table and of the rotation state (at startup
        and on SIGHUP).

        :raises KeyFileError: the first key file that cannot be used, by path.
        :raises RotationStateError: the rotation state is unreadable (signer/rotation_store.py).
        """
        keys = [
            load_signing_key(entry.domain, entry.selector, entry.key_file,
                             algorithm=Algorithm(entry.algorithm))
            for entry in config.keys if entry.is_signing
        ]
        # rotated keys sign once `dkim check` saw them published (signer.dkim_rotation)
        now = dt.datetime.fromtimestamp(clock(), dt.UTC)
        keys.extend(
            load_signing_key(rotated.domain, rotated.selector, Path(rotated.key_file),
                             algorithm=Algorithm(rotated.algorithm))
            for rotated in load_rotation(config).signing(now)
        )
        return cls(keys, refuse_repeated_headers=config.refuse_repeated_headers,
                   expire_after=config.expire_after, clock=clock)

    @property
    def domains(self) -> frozenset[str]:
        """The domains this signer has an active key for."""
        return frozenset(self._keys)

    def signs_for(self, domain: str) -> bool:
        """Whether an active key exists for ``domain``."""
        return domain.lower().rstrip(".") in self._keys

    def sign(self, raw: bytes, *, domain: str, header: HeaderBlock | None = None) -> bytes:
        """The DKIM-Signature header line(s) to prepend to ``raw``, one per active key.

        :param header: ``raw``'s header as :func:`mailbase.read_header` read it (the
            milter passes the reading it has); read here when not given.
        :raises NoSigningKeyError: no active key for ``domain``.
        :raises UnsignableMessageError: the message must not be signed as it is; the
            reason says why (From missing, repeated or not one address; a header block
            that reads two ways; a repeated header when those are refused).
        :raises ValueError: ``header`` was read from other bytes.
        """
        keys = self._keys.get(domain.lower().rstrip("."))
        if not keys:
            raise NoSigningKeyError(domain)
        if header is None:
            header = read_header(raw)
        body = header.body(raw)
        if header.defects:
            raise UnsignableMessageError(f"the header block is malformed: {header.defects[0]}")
        fields = header.fields
        names = self._header_list(fields)
        body_hash = base64.b64encode(
            hashlib.sha256(canon.body(body, Canon.RELAXED)).digest()).decode("ascii")
        selected = select_headers(fields, [name.encode("ascii") for name in names])
        signed = b"".join(canon.header(f, Canon.RELAXED) for f in selected)
        now = int(self._clock())
        eol = b"\r\n" if raw.find(b"\n") <= 0 or raw[raw.find(b"\n") - 1] == 0x0D else b"\n"
        out = []
        for key in keys:
            head = _signature_head(key, names, body_hash, now, self.expire_after)
            canonical = canon.header(
                HeaderField(b"DKIM-Signature", head.partition(b":")[2]), Canon.RELAXED)
            digest = hashlib.sha256(signed + canonical[:-2]).digest()
            b64 = base64.b64encode(key.sign_digest(digest)).decode("ascii")
            value = head + _fold_b64(b64).encode("ascii")
            out.append(value.replace(b"\r\n", eol) + eol)
        return b"".join(out)

    def _header_list(self, fields: Sequence[HeaderField]) -> list[str]:
        counts = Counter(f.key for f in fields)
        _sender(fields)
        names: list[str] = []
        for name, key in _SIGNED_KEYS:
            count = counts[key]
            if count > 1 and self.refuse_repeated_headers:
                raise UnsignableMessageError(
                    f"the message has {count} {name} headers (repeated headers are refused)")
            names.extend([name] * (count + 1 if name in OVERSIGNED_HEADERS or count > 1
                                   else count))
        return names


def from_domain(raw: bytes) -> str:
    """The domain of the message's one From address, read by mailbase's one reader.

    The milter passes the reading it made at the door instead; this is for the command
    line. :raises UnsignableMessageError: the From is ambiguous (the reason says why).
    """
    verdict = read_from(read_header(raw))
    if verdict.address is None:
        raise UnsignableMessageError(verdict.ambiguity or "the From header is ambiguous")
    return verdict.address.domain


def _sender(fields: Sequence[HeaderField]) -> Address:
    found = _parse_sender(tuple(f.unfolded for f in fields if f.key == b"from"))
    if isinstance(found, str):
        raise UnsignableMessageError(found)
    return found


@functools.lru_cache(maxsize=4096)
def _parse_sender(values: tuple[bytes, ...]) -> Address | str:
    """mailbase's verdict on these From values: the address, or why it is refused."""
    verdict = read_from(from_values_block(values))
    return verdict.address if verdict.address is not None else (
        verdict.ambiguity or "the From header is ambiguous")


def select_headers(fields: Sequence[HeaderField], keys: Sequence[bytes]) -> list[HeaderField]:
    """The fields ``h=`` names (lower-case), each taking its last unused instance.

    RFC 6376 5.4.2: a name with no instance left contributes nothing (that is what
    oversigning signs).
    """
    wanted = set(keys)
    instances: dict[bytes, list[HeaderField]] = {}
    for field in fields:
        if field.key in wanted:
            instances.setdefault(field.key, []).append(field)
    selected = []
    for key in keys:
        stack = instances.get(key)
        if stack:
            selected.append(stack.pop())
    return selected


def _signature_head(key: SigningKey, names: list[str], body_hash: str, now: int,
                    expire_after: int | None) -> bytes:
    """The DKIM-Signature field up to an empty ``b=``, folded below 78 columns."""
    expiry = f" x={now + expire_after};" if expire_after else ""
    lines = [
        f"DKIM-Signature: v=1; a={key.algorithm.value}; c=relaxed/relaxed;",
        f" d={key.domain}; s={key.selector}; t={now};{expiry}",
    ]
    line = " h="
    for i, name in enumerate(names):
        piece = name + (":" if i < len(names) - 1 else ";")
        if len(line) + len(piece) > 76:
            lines.append(line)
            line = "  "
        line += piece
    lines.extend([line, f" bh={body_hash};", " b="])
    return "\r\n".join(lines).encode("ascii")


def _fold_b64(b64: str) -> str:
    parts = [b64[i : i + _B64_LINE] for i in range(0, len(b64), _B64_LINE)]
    return "\r\n  ".join(parts)
