"""ARC (RFC 8617) verification: mail that arrives through a mailing list or forwarder.

A forwarder that changes a message breaks its DKIM signature and its SPF; if it sealed
the message with an ARC set, :class:`ArcVerifier` checks the whole chain (every
ARC-Seal, and the newest ARC-Message-Signature) and reports ``pass``, ``fail`` or
``none`` with the newest sealer's domain and the results that sealer recorded
(its ARC-Authentication-Results). Whether those recorded results count is local policy
(section 7.2): only sealers named in ``trusted_sealers`` are believed.

dkimpy verifies the chain over the header fields :func:`mailbase.read_header` read
(never its own split of the message: one splitter decides what the header is, and a
block that reads two ways fails); key records come through our resolver (its TXT
lookups, under a per-message time budget). Every outcome and exception of dkimpy is
translated in one place, :meth:`ArcVerifier._map`.
"""

from __future__ import annotations

import binascii
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import dkim

from mailbase import HeaderBlock, Reason, read_header
from signer import reasons
from signer.canon import crlf
from signer.dkim_tags import is_domain_name
from signer.dns import TxtResolver
from signer.errors import DnsTemporaryError

_METHOD = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*([A-Za-z0-9_.-]+)")
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
_ARC_FIELDS = (b"arc-seal", b"arc-message-signature", b"arc-authentication-results")


class ArcStatus(Enum):
    """An ARC chain validation result (RFC 8617 section 4.4)."""

    PASS = "pass"
    FAIL = "fail"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ArcResult:
    """The ARC result of one message.

    ``sealer`` is the domain of the newest ARC-Seal; ``is_trusted`` says whether it is
    one of the trusted sealers; ``upstream`` maps each method the newest sealer recorded
    in its ARC-Authentication-Results (``dkim``, ``spf``, ``dmarc``...) to its result.
    """

    method: ClassVar[str] = "arc"

    result: ArcStatus
    reason: str
    sealer: str | None = None
    instances: int = 0
    is_trusted: bool = False
    upstream: dict[str, str] = field(default_factory=dict)
    #: the reason's code and parameters (signer/reasons.py), which ``reason`` is the
    #: English of; None where it has none (dkimpy's own words)
    why: Reason | None = field(default=None, compare=False)

    @classmethod
    def of(cls, result: ArcStatus, why: Reason, sealer: str | None = None,
           instances: int = 0) -> ArcResult:
        """A result for ``why``, its English text rendered from it."""
        return cls(result, why.text, sealer, instances, why=why)

    def properties(self) -> list[tuple[str, str]]:
        """None: the comment names the newest sealer (``header.oldest-pass`` is not computed)."""
        return []

    @property
    def is_trusted_pass(self) -> bool:
        """The chain passed and its newest sealer is trusted (its recorded results count)."""
        return self.result is ArcStatus.PASS and self.is_trusted

    def audit(self) -> dict[str, str | None]:
        """The audit record's view: method, result, reason, domain (the newest sealer)."""
        return {"method": "arc", "result": self.result.value, "reason": self.reason,
                "domain": self.sealer, **(self.why.as_json() if self.why else {})}


class ArcVerifier:
    """Verifies the ARC chain of inbound mail.

    :param resolver: TXT lookups for the sealers' keys.
    :param trusted_sealers: domains whose recorded results we believe (lower-case).
    :param budget: seconds of key lookups per message, all sets together.
    :param min_rsa_bits: the smallest RSA key accepted (RFC 8301: 1024).
    """

    def __init__(self, resolver: TxtResolver, *, trusted_sealers: Iterable[str] = (),
                 budget: float = 10.0, min_rsa_bits: int = 1024) -> None:
        self._resolver = resolver
        self.trusted_sealers = frozenset(d.lower().rstrip(".") for d in trusted_sealers)
        self.budget = budget
        self.min_rsa_bits = min_rsa_bits

    def verify(self, raw: bytes, *, header: HeaderBlock | None = None) -> ArcResult:
        """The ARC result of ``raw`` (``none`` when it carries no ARC set).

        :param header: ``raw``'s header as :func:`mailbase.read_header` read it; read
            here when not given.
        :raises ValueError: ``header`` was read from other bytes.
        """
        if header is None:
            header = read_header(raw)
        body = header.body(raw)
        if not any(f.key in _ARC_FIELDS for f in header.fields):
            return ArcResult.of(ArcStatus.NONE, reasons.ARC_NONE())
        if header.defects:
            return ArcResult.of(ArcStatus.FAIL, reasons.ARC_MALFORMED_HEADER(
                detail=str(header.defects[0])))
        arc = dkim.ARC(None, minkey=self.min_rsa_bits)
        # dkimpy's own (name, value) pairs, from our reading: value with CRLF folding
        # and its final CRLF, the body CRLF throughout (as its own parser gives them)
        arc.headers = [[f.name, crlf(f.value) + b"\r\n"] for f in header.fields]
        arc.body = crlf(body)
        lookups = _Lookups(self._resolver, time.monotonic() + self.budget)
        return self._map(arc, lookups)

    def _map(self, arc: dkim.ARC, lookups: _Lookups) -> ArcResult:
        """Run dkimpy and translate its outcome and its exceptions into an :class:`ArcResult`."""
        try:
            cv, sets, reason = arc.verify(dnsfunc=lookups)
        except dkim.DKIMException as exc:
            return ArcResult.of(ArcStatus.FAIL, reasons.ARC_MALFORMED_SET(detail=str(exc)))
        except (ValueError, IndexError, KeyError, TypeError, UnicodeError, binascii.Error,
                ImportError) as exc:
            # dkimpy on hostile headers (an AMS whose i= matches no header...), or a key
            # type whose library is missing: never a pass, never a crash
            return ArcResult.of(ArcStatus.FAIL, reasons.ARC_UNCHECKABLE(
                detail=f"{type(exc).__name__}: {exc}"))
        if cv == dkim.CV_None:
            return ArcResult.of(ArcStatus.NONE, reasons.ARC_NONE())
        malformed = _malformed_domain(sets)
        if malformed is not None:
            return ArcResult(ArcStatus.FAIL, malformed, None, len(sets))
        newest: dict[Any, Any] = sets[0] if sets else {}
        sealer = _text(newest.get("as-domain")) or None
        if sealer is not None:
            sealer = sealer.lower().rstrip(".")
        upstream = _recorded_results(newest.get("aar-value", b""))
        is_trusted = sealer is not None and sealer in self.trusted_sealers
        if cv == dkim.CV_Pass:
            verified = reasons.ARC_VERIFIED(sets=len(sets), sealer=str(sealer))
            return ArcResult(ArcStatus.PASS, verified.text, sealer, len(sets), is_trusted,
                             upstream, verified)
        # cv None from dkimpy: an upstream sealer recorded cv=fail, the chain is terminated
        why = lookups.failure or _text(reason)
        return ArcResult(ArcStatus.FAIL, why, sealer, len(sets), is_trusted, upstream)


class _Lookups:
    """dkimpy's ``dnsfunc``: our resolver, one record or ``None``, under a time budget."""

    def __init__(self, resolver: TxtResolver, deadline: float) -> None:
        self._resolver = resolver
        self._deadline = deadline
        self.failure: str | None = None

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        if time.monotonic() > self._deadline:
            self.failure = f"key not looked up: the DNS budget of this message is spent ({text})"
            raise dkim.DnsTimeoutError(self.failure)
        try:
            records = self._resolver(text.rstrip("."))
        except DnsTemporaryError as exc:
            self.failure = f"key lookup of {exc.name} failed: {exc.reason}"
            raise dkim.DnsTimeoutError(self.failure) from exc
        except ValueError:
            return None
        return records[0] if records else None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else ""


def _malformed_domain(sets: list[dict[Any, Any]]) -> str | None:
    """Why a set fails whose d= is not a domain name (RFC 8617 4.1 takes d= from RFC 6376
    3.5), so no chain passes, nor names a sealer, behind a d= another reader reads
    otherwise; ``None`` when every d= is one."""
    for found in sets:
        for key, header in (("as-domain", "ARC-Seal"), ("ams-domain", "ARC-Message-Signature")):
            value = found.get(key)
            if isinstance(value, bytes) and not is_domain_name(value):
                return (f"{header} i={found.get('instance')} has a d= that is not a domain "
                        f"name: {_text(value)[:60]!r}")
    return None


def _recorded_results(aar: bytes) -> dict[str, str]:
    """``{method: result}`` from an ARC-Authentication-Results value (``i=N; authserv; ...``)."""
    text = _COMMENT.sub(" ", _text(aar).replace("\r\n", " "))
    found: dict[str, str] = {}
    for part in text.split(";")[2:]:
        match = _METHOD.match(part)
        if match is not None:
            found.setdefault(match.group(1).lower(), match.group(2).lower())
    return found
