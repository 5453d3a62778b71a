"""Revocation from OCSP responders (RFC 6960), with a URL rewrite map.

A certificate's Authority Information Access names its OCSP responder. The request is
POSTed (RFC 6960 A.1) with the CertID of the certificate and its issuer; the answer
counts only when it is successful, names that CertID, is signed by the issuer or by a
responder certificate the issuer issued for OCSP signing (4.2.2.2), and is current
(thisUpdate not ahead, nextUpdate not past). Answers are cached until their nextUpdate,
or one hour when they name none; the bytes used are kept as evidence. Some
certificates in circulation name an internal responder host: ``rewrite`` maps URL
prefixes to the public ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from signer.errors import FetchError
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher

log = logging.getLogger("congvu.signer")

#: Bytes an OCSP answer may have.
MAX_OCSP = 1024 * 1024
#: How long an answer without nextUpdate is used.
_NO_NEXT_UPDATE = dt.timedelta(hours=1)
_SKEW = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class OcspAnswer:
    """A usable OCSP answer for one certificate."""

    status: ocsp.OCSPCertStatus
    revoked_at: dt.datetime | None
    produced_at: dt.datetime
    until: dt.datetime
    sha256: str
    url: str


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responder URLs of ``cert``, in order."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [d.access_location.value for d in access
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


@dataclass
class OcspChecker:
    """Asks the responders a certificate names, through the rewrite map, with a cache."""

    fetcher: Fetcher
    store: EvidenceStore | None = None
    rewrite: Mapping[str, str] = field(default_factory=dict)
    _answers: dict[tuple[str, int], OcspAnswer] = field(default_factory=dict, repr=False)

    def answer(self, cert: x509.Certificate, issuer: x509.Certificate, *,
               now: dt.datetime) -> tuple[OcspAnswer | None, list[str]]:
        """A current answer for ``cert``, or None and what went wrong at each URL."""
        problems: list[str] = []
        urls = [self._rewritten(u) for u in ocsp_urls(cert)]
        if not urls:
            return None, problems
        request = ocsp.OCSPRequestBuilder().add_certificate(
            cert, issuer, hashes.SHA1()).build()  # SHA-1 CertIDs: what responders index
        for url in urls:
            key = (url, cert.serial_number)
            cached = self._answers.get(key) or self._from_store(url, request, issuer, now)
            if cached is not None and cached.until >= now:
                return cached, problems
            try:
                found = self._ask(url, request, issuer, now)
            except FetchError as exc:
                problems.append(f"the OCSP responder at {exc}")
                continue
            self._answers[key] = found
            return found, problems
        return None, problems

    def _rewritten(self, url: str) -> str:
        for prefix, replacement in self.rewrite.items():
            if url.startswith(prefix):
                return replacement + url[len(prefix):]
        return url

    def _from_store(self, url: str, request: ocsp.OCSPRequest, issuer: x509.Certificate,
                    now: dt.datetime) -> OcspAnswer | None:
        if self.store is None:
            return None
        key = cache_key(url, request)
        data = self.store.recall(key)
        if data is None:
            return None
        try:
            found = accept_answer(data, url, request, issuer, now)
        except ValueError:
            return None
        self.store.used(key)
        return found

    def _ask(self, url: str, request: ocsp.OCSPRequest, issuer: x509.Certificate,
             now: dt.datetime) -> OcspAnswer:
        data = self.fetcher.get(url, max_bytes=MAX_OCSP,
                                data=request.public_bytes(serialization.Encoding.DER),
                                content_type="application/ocsp-request")
        try:
            found = accept_answer(data, url, request, issuer, now)
        except ValueError as exc:
            raise FetchError(url, str(exc)) from exc
        if self.store is not None:
            self.store.keep(data, "ocsp")
            self.store.remember(
                cache_key(url, request), found.sha256, "ocsp", url=url,
                issuer=self.store.keep(issuer.public_bytes(serialization.Encoding.DER), "crt"),
                request=request.public_bytes(serialization.Encoding.DER))
        log.info("ocsp answered url=%s serial=%x status=%s", url, request.serial_number,
                 found.status.name.lower())
        return found


def cache_key(url: str, request: ocsp.OCSPRequest) -> str:
    """The evidence store's key for the answer of ``url`` to ``request``."""
    return (f"ocsp {url} {request.issuer_key_hash.hex()} {request.issuer_name_hash.hex()} "
            f"{request.serial_number:x}")


def accept_answer(data: bytes, url: str, request: ocsp.OCSPRequest, issuer: x509.Certificate,
            now: dt.datetime) -> OcspAnswer:
    """The answer in ``data`` if it is usable for ``request``.

    :raises ValueError: with a reason an administrator can read.
    """
    try:
        response = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise ValueError(f"is not a readable OCSP answer ({exc})") from exc
    if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise ValueError(f"answered {response.response_status.name.lower()}")
    single = next((r for r in response.responses
                   if r.serial_number == request.serial_number
                   and r.issuer_key_hash == request.issuer_key_hash
                   and r.issuer_name_hash == request.issuer_name_hash), None)
    if single is None:
        raise ValueError("answered about another certificate")
    if not _is_signed_for(response, issuer):
        raise ValueError(f"answer is not signed by {issuer.subject.rfc4514_string()} or a "
                         "responder it authorised")
    if single.this_update_utc > now + _SKEW:
        raise ValueError("answer is dated in the future")
    until = single.next_update_utc or min(single.this_update_utc, now) + _NO_NEXT_UPDATE
    if until < now:
        raise ValueError("answer is out of date (its nextUpdate has passed)")
    return OcspAnswer(single.certificate_status, single.revocation_time_utc,
                      response.produced_at_utc, until, hashlib.sha256(data).hexdigest(), url)


def _is_signed_for(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> bool:
    """Signed by the issuer itself, or by a certificate the issuer issued for OCSP
    signing (a delegated responder, RFC 6960 4.2.2.2)."""
    candidates = [issuer] + [c for c in response.certificates if _is_delegate(c, issuer)]
    algorithm = response.signature_hash_algorithm
    if algorithm is None:
        return False
    return any(signature_verifies(c, response.signature, response.tbs_response_bytes, algorithm)
               for c in candidates)


def _is_delegate(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return False
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku or cert.issuer != issuer.subject:
        return False
    algorithm = cert.signature_hash_algorithm
    return algorithm is not None and signature_verifies(
        issuer, cert.signature, cert.tbs_certificate_bytes, algorithm)


def signature_verifies(signer: x509.Certificate, signature: bytes, data: bytes,
                       algorithm: hashes.HashAlgorithm) -> bool:
    """True when ``signer``'s key (RSA PKCS#1 v1.5 or ECDSA) made ``signature`` over
    ``data`` with ``algorithm``, whatever the hash (SHA-1 included, which cryptography's
    certificate checks refuse)."""
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
