"""Issuer certificates a signature does not carry, from the caIssuers URL.

Real signed documents usually carry only the signer's certificate. When no configured
or embedded certificate is named as its issuer, the certificate's Authority
Information Access caIssuers URL (RFC 5280 4.2.2.1) gives one: DER, PEM, or a
certs-only PKCS#7 (.p7b/.p7c). What is fetched is only a candidate: it is trusted only
when the path through it reaches a trust anchor. Kept for 7 days.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from signer.errors import FetchError
from signer.evidence import CERTIFICATE_CACHE, EvidenceStore
from signer.fetch import MAX_CERTIFICATE, Fetcher

#: How many issuers above the signer are fetched at most.
_MAX_DEPTH = 3


def ca_issuers(cert: x509.Certificate) -> list[str]:
    """The caIssuers URLs of ``cert``, in order."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [d.access_location.value for d in access
            if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def read_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in DER, PEM or certs-only PKCS#7 (DER or PEM) bytes.

    :raises ValueError: none could be read.
    """
    if b"-----BEGIN PKCS7" in data:
        return list(pkcs7.load_pem_pkcs7_certificates(data))
    if b"-----BEGIN" in data:
        return list(x509.load_pem_x509_certificates(data))
    try:
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        return list(pkcs7.load_der_pkcs7_certificates(data))


@dataclass
class IssuerFetcher:
    """Fetches the issuers of a certificate along caIssuers URLs, with a cache."""

    fetcher: Fetcher
    store: EvidenceStore | None = None
    _by_url: dict[str, tuple[float, list[x509.Certificate]]] = field(
        default_factory=dict, repr=False)

    def issuers(self, leaf: x509.Certificate, known: Sequence[x509.Certificate]
                ) -> tuple[list[x509.Certificate], list[str]]:
        """Certificates fetched up from ``leaf`` until one's issuer is ``known``, and
        the problems met (each naming its URL)."""
        names = {c.subject for c in known}
        found: list[x509.Certificate] = []
        problems: list[str] = []
        current = leaf
        for _ in range(_MAX_DEPTH):
            if current.issuer in names or current.issuer == current.subject:
                break
            above = None
            for url in ca_issuers(current):
                try:
                    certs = self._get(url)
                except FetchError as exc:
                    problems.append(f"the issuer certificate at {exc}")
                    continue
                above = next((c for c in certs if c.subject == current.issuer), None)
                if above is not None:
                    break
                problems.append(f"the certificate at {url} is not the issuer "
                                f"({current.issuer.rfc4514_string()})")
            if above is None:
                break
            found.append(above)
            names.add(above.subject)
            current = above
        return found, problems

    def _get(self, url: str) -> list[x509.Certificate]:
        if url in self._by_url:
            when, certs = self._by_url[url]
            if time.monotonic() - when < CERTIFICATE_CACHE.total_seconds():
                return certs
        cached = self.store.recall(url, max_age=CERTIFICATE_CACHE) if self.store else None
        if cached is not None and self.store is not None:
            self.store.used(url)  # `trust refresh` keeps fetching what is in use
        data = cached if cached is not None else self.fetcher.get(
            url, max_bytes=MAX_CERTIFICATE)
        try:
            certs = read_certificates(data)
        except ValueError as exc:
            raise FetchError(url, f"holds no readable certificate ({exc})") from exc
        if cached is None and self.store is not None:
            digest = self.store.keep(data, "crt")
            self.store.remember(url, digest, "crt")
        self._by_url[url] = (time.monotonic(), certs)
        return certs
