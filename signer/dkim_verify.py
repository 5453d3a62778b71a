"""DKIM verification (RFC 6376 section 6, RFC 8463, RFC 8301): one result per signature.

:class:`DkimVerifier` checks each DKIM-Signature of a message on the bytes as received
and returns a list of :class:`DkimResult` values (RFC 8601 results), never a bool. Key
records come from an injected resolver, so a DNS timeout becomes ``temperror`` and never
a pass or a hang. The number of signatures evaluated per message is capped (a flood of
DKIM-Signature headers is a known denial of service).

Every tag of a signature and of a key record is read against its grammar
(:mod:`signer.dkim_tags`): a syntax error is a permanent failure, and a result names a
domain only when ``d=`` is one. dkimpy reads PKCS#1 RSA key records; ``cryptography``
verifies. Every exception either raises is translated in one place, :func:`map_exceptions`.

The header is the one :func:`mailbase.read_header` read. A block that reads two ways
(a stray line, a leading folded line, a NUL, a bare CR) is ``permerror``: a signature
must not pass over fields another program reads otherwise. White space before a colon
(obsolete syntax) is not refused: relaxed canonicalization is defined for it.

Results, following RFC 8601 section 2.7.1:
    pass       the signature verified
    fail       body hash or signature mismatch, or the signature has expired
    neutral    the signature has syntax errors or uses what we do not support
    permerror  no key record, a malformed, revoked, too weak or mismatched key
    temperror  the key lookup failed (timeout, SERVFAIL)
    none       the message has no DKIM-Signature
"""

from __future__ import annotations

import binascii
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

import dkim
import dkim.crypto
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from mailbase import HeaderBlock, HeaderDefectKind, HeaderField, Reason, read_header
from signer import canon, reasons
from signer.canon import Canon
from signer.config import DkimConfig
from signer.dkim import select_headers
from signer.dkim_tags import KeyRecord, Signature, displayed, parse_key_record, parse_signature
from signer.dns import DnsResolver, TxtResolver
from signer.errors import DkimError, DnsTemporaryError
from signer.keys import Algorithm, PublicKey

MIN_VERIFY_RSA_BITS = 1024
"""RFC 8301 section 3.2: verifiers do not accept RSA keys under 1024 bits."""

_B_VALUE = re.compile(rb"(^|;)([ \t\r\n]*b[ \t\r\n]*=)[^;]*")
_SHA256 = hashes.SHA256()


class AuthResult(Enum):
    """An RFC 8601 authentication result."""

    PASS = "pass"
    FAIL = "fail"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"
    NONE = "none"
    POLICY = "policy"


@dataclass(frozen=True, slots=True)
class DkimResult:
    """The outcome of one DKIM signature (or ``none`` for an unsigned message)."""

    method: ClassVar[str] = "dkim"

    result: AuthResult
    reason: str
    domain: str | None = None
    selector: str | None = None
    algorithm: str | None = None
    identity: str | None = None
    signature_prefix: str | None = None
    #: the reason's code and parameters (signer/reasons.py), which ``reason`` is the
    #: English of; None for a result made elsewhere from a bare text
    why: Reason | None = field(default=None, compare=False)

    @classmethod
    def of(cls, result: AuthResult, why: Reason) -> DkimResult:
        """A result for ``why``, its English text rendered from it."""
        return cls(result, why.text, why=why)

    def properties(self) -> list[tuple[str, str]]:
        """The RFC 8601 ptype.property=value pairs (RFC 6008 header.b included)."""
        pairs = [("header.d", self.domain), ("header.i", self.identity),
                 ("header.s", self.selector), ("header.a", self.algorithm),
                 ("header.b", self.signature_prefix)]
        return [(name, value) for name, value in pairs if value]


@dataclass
class _MessageCache:
    fields: tuple[HeaderField, ...]
    body: bytes
    body_hashes: dict[tuple[Canon, int | None], bytes] = field(default_factory=dict)
    keys: dict[str, tuple[KeyRecord, PublicKey]] = field(default_factory=dict)
    dns_started: float | None = None


@contextmanager
def map_exceptions(malformed: AuthResult) -> Iterator[None]:
    """Translate dkimpy, cryptography, DNS and decoding errors into :class:`DkimError`.

    :param malformed: the result for unparsable input at this step (``neutral`` for a
        signature's own tags, ``permerror`` for a key record).
    """
    try:
        yield
    except DkimError:
        raise
    except DnsTemporaryError as exc:
        raise DkimError(AuthResult.TEMPERROR.value,
                        reasons.DKIM_LOOKUP_FAILED(detail=str(exc.reason))) from exc
    except InvalidSignature as exc:
        raise DkimError(AuthResult.FAIL.value, reasons.DKIM_BAD_SIGNATURE()) from exc
    except (dkim.DKIMException, dkim.crypto.UnparsableKeyError) as exc:
        raise DkimError(malformed.value, reasons.DKIM_UNUSABLE(detail=str(exc))) from exc
    except UnsupportedAlgorithm as exc:
        raise DkimError(malformed.value, reasons.DKIM_UNSUPPORTED_KEY(detail=str(exc))) from exc
    except (binascii.Error, ValueError) as exc:
        raise DkimError(malformed.value, reasons.DKIM_MALFORMED_VALUE(detail=str(exc))) from exc


class DkimVerifier:
    """Verifies every DKIM signature of inbound mail (up to ``max_signatures``).

    :param resolver: TXT lookups (see :class:`signer.dns.DnsResolver`).
    :param max_signatures: signatures evaluated per message; more are reported once,
        as ``neutral``, and not evaluated.
    :param dns_budget: seconds of key lookups per message, all signatures together;
        once spent, the remaining signatures are ``temperror`` without a lookup, so a
        message with several slow selectors cannot hold the filter for long.
    :param clock: the time source for ``x=`` (seconds since the epoch).
    """

    def __init__(self, resolver: TxtResolver, *, max_signatures: int = 5,
                 dns_budget: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if max_signatures < 1:
            raise ValueError("max_signatures must be at least 1")
        self._resolver = resolver
        self.max_signatures = max_signatures
        self.dns_budget = dns_budget
        self._clock = clock

    @classmethod
    def from_config(cls, config: DkimConfig) -> DkimVerifier:
        """A verifier using the configured resolver, timeout and signature cap."""
        resolver = DnsResolver(config.resolver_nameserver, port=config.resolver_port,
                               timeout=config.resolver_timeout)
        return cls(resolver, max_signatures=config.max_signatures,
                   dns_budget=2 * config.resolver_timeout)

    def verify(self, raw: bytes, *, header: HeaderBlock | None = None) -> list[DkimResult]:
        """One result per DKIM-Signature (newest first), or one ``none`` result.

        :param header: ``raw``'s header as :func:`mailbase.read_header` read it (the
            milter passes the reading it made at the door); read here when not given.
        :raises ValueError: ``header`` was read from other bytes.
        """
        if header is None:
            header = read_header(raw)
        body = header.body(raw)
        signatures = [f for f in header.fields if f.key == b"dkim-signature"]
        if not signatures:
            return [DkimResult.of(AuthResult.NONE, reasons.DKIM_UNSIGNED())]
        ambiguous = [d for d in header.defects
                     if d.kind is not HeaderDefectKind.SPACE_BEFORE_COLON]
        if ambiguous:
            return [DkimResult.of(AuthResult.PERMERROR,
                                  reasons.DKIM_HEADER_MALFORMED(detail=str(ambiguous[0])))]
        cache = _MessageCache(header.fields, body)
        results = [self._verify_one(sig, cache) for sig in signatures[: self.max_signatures]]
        if len(signatures) > self.max_signatures:
            extra = len(signatures) - self.max_signatures
            results.append(DkimResult.of(AuthResult.NEUTRAL, reasons.DKIM_TOO_MANY(
                extra=extra, limit=self.max_signatures)))
        return results

    def _verify_one(self, sig_field: HeaderField, cache: _MessageCache) -> DkimResult:
        try:
            signature = parse_signature(sig_field.value)
        except DkimError as exc:
            return _result(AuthResult(exc.result), exc.why, displayed(_loose_tags(sig_field)))
        shown = {"d": signature.domain, "s": signature.selector,
                 "a": signature.algorithm.value, "i": signature.identity or "",
                 "b": _b64_text(signature.tags[b"b"])}
        try:
            self._check(sig_field, signature, cache)
        except DkimError as exc:
            return _result(AuthResult(exc.result), exc.why, shown)
        return _result(AuthResult.PASS, reasons.DKIM_VERIFIED(), shown)

    def _check(self, sig_field: HeaderField, sig: Signature, cache: _MessageCache) -> None:
        if sig.expires is not None and sig.expires < self._clock():
            raise DkimError("fail", reasons.DKIM_EXPIRED())
        if _body_hash(cache, sig.body_canon, sig.length) != sig.body_hash:
            raise DkimError("fail", reasons.DKIM_BODY_HASH())
        record, key = self._key(sig.selector, sig.domain, cache)
        _check_key(record, key, sig)
        selected = select_headers(cache.fields, sig.headers)
        hashed = b"".join(canon.header(f, sig.header_canon) for f in selected)
        stripped = HeaderField(sig_field.name, _B_VALUE.sub(rb"\1\2", sig_field.value, count=1),
                               sig_field.gap)
        digest = hashlib.sha256(hashed + canon.header(stripped, sig.header_canon)[:-2]).digest()
        with map_exceptions(AuthResult.PERMERROR):
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(sig.signature, digest, padding.PKCS1v15(), Prehashed(_SHA256))
            else:
                key.verify(sig.signature, digest)

    def _key(self, selector: str, domain: str,
             cache: _MessageCache) -> tuple[KeyRecord, PublicKey]:
        name = f"{selector}._domainkey.{domain}"
        if name not in cache.keys:
            now = time.monotonic()
            if cache.dns_started is None:
                cache.dns_started = now
            elif self.dns_budget is not None and now - cache.dns_started >= self.dns_budget:
                raise DkimError("temperror",
                                reasons.DKIM_DNS_BUDGET(seconds=f"{self.dns_budget:g}"))
            with map_exceptions(AuthResult.PERMERROR):
                records = self._resolver(name)
                if not records:
                    raise DkimError("permerror", reasons.DKIM_NO_KEY(name=name))
                record = parse_key_record(records[0], name)
                cache.keys[name] = (record, _public_key(record, name))
        return cache.keys[name]


def _result(result: AuthResult, reason: Reason, shown: dict[str, str]) -> DkimResult:
    """A result naming only the values that fit their grammar (:func:`displayed`)."""
    b = shown.get("b")
    domain = shown.get("d")
    return DkimResult(result, reason.text, why=reason, domain=domain.lower() if domain else None,
                      selector=shown.get("s") or None, algorithm=shown.get("a") or None,
                      identity=shown.get("i") or None, signature_prefix=b[:8] if b else None)


def _loose_tags(sig_field: HeaderField) -> dict[bytes, bytes]:
    """The tags of a signature that failed its grammar, read leniently, for
    :func:`displayed` to pick the values that fit theirs from."""
    tags: dict[bytes, bytes] = {}
    for spec in sig_field.unfolded.split(b";"):
        name, eq, value = spec.partition(b"=")
        if eq:
            tags.setdefault(name.strip(b" \t"), value.strip(b" \t"))
    return tags


def _b64_text(value: bytes) -> str:
    return bytes(c for c in value if c not in b" \t\r\n").decode("ascii")


def _body_hash(cache: _MessageCache, body_canon: Canon, length: int | None) -> bytes:
    key = (body_canon, length)
    if key not in cache.body_hashes:
        canonical = canon.body(cache.body, body_canon)
        if length is not None:
            if length > len(canonical):
                raise DkimError("fail", reasons.DKIM_LENGTH())
            canonical = canonical[:length]
        cache.body_hashes[key] = hashlib.sha256(canonical).digest()
    return cache.body_hashes[key]


def _public_key(record: KeyRecord, name: str) -> PublicKey:
    if not record.public:
        raise DkimError("permerror", reasons.DKIM_KEY_REVOKED(name=name))
    if record.key_type == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(record.public)
    if record.key_type != "rsa":
        raise DkimError("permerror",
                        reasons.DKIM_KEY_UNKNOWN_TYPE(name=name, value=repr(record.key_type)))
    try:
        key = serialization.load_der_public_key(record.public)
    except ValueError:
        # cryptography's DER reader is strict (it also takes the bare PKCS#1 form); a
        # record only dkimpy's reads, such as a stray byte after the key, is read as
        # dkimpy reads it, so the two verifiers never disagree on a key
        numbers = dkim.crypto.parse_public_key(record.public)
        key = rsa.RSAPublicNumbers(numbers["publicExponent"], numbers["modulus"]).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise DkimError("permerror", reasons.DKIM_KEY_NOT_RSA(name=name))
    return key


def _check_key(record: KeyRecord, key: PublicKey, sig: Signature) -> None:
    key_type = Algorithm.RSA_SHA256 if isinstance(key, rsa.RSAPublicKey) \
        else Algorithm.ED25519_SHA256
    if key_type is not sig.algorithm:
        raise DkimError("permerror", reasons.DKIM_KEY_MISMATCH(algorithm=sig.algorithm.value,
                                                          key_type=key_type.key_type))
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_VERIFY_RSA_BITS:
        raise DkimError("permerror", reasons.DKIM_KEY_WEAK(bits=key.key_size))
    if record.hashes is not None and "sha256" not in record.hashes:
        raise DkimError("permerror", reasons.DKIM_KEY_NO_SHA256())
    if record.services is not None and not {"email", "*"} & record.services:
        raise DkimError("permerror", reasons.DKIM_KEY_NOT_EMAIL())
    if "s" in record.flags and sig.identity is not None \
            and sig.identity.rpartition("@")[2].lower() != sig.domain:
        raise DkimError("permerror", reasons.DKIM_KEY_NO_SUBDOMAINS())
