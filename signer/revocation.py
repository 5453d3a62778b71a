"""Is a certificate revoked? OCSP, then CRLs from configured files, the cache, or fetched.

For each certificate on a path and its issuer, a current OCSP answer (`signer.ocsp`)
from the responder the certificate names decides first; without one, the CRL used
is, in order: a configured
CRL file of that issuer that is still current; one fetched earlier from the
certificate's distribution point and still before its nextUpdate (in memory, then in
the evidence store); else one fetched now from the distribution point (RFC 5280
4.2.1.13), at most 50 MiB, within the fetch limits of `signer.fetch`. A CRL counts
only when the issuer's key signed it and its nextUpdate is still ahead. The result
is a value: good, revoked (with the date) or unknown (with what could not be reached).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from signer.errors import FetchError
from signer.evidence import EvidenceStore
from signer.fetch import MAX_CRL, Fetcher
from signer.ocsp import OcspChecker
from signer.trustsettings import RevocationPolicy as RevocationPolicy  # also imported from here

log = logging.getLogger("congvu.signer")


class RevocationStatus(StrEnum):
    """What the revocation check found for one certificate."""

    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class RevocationMethod(StrEnum):
    """Where the status came from."""

    CRL = "crl"
    OCSP = "ocsp"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class CrlEvidence:
    """The CRL a status rests on: its issuer, number, thisUpdate and the SHA-256 of its
    DER bytes (the name of its copy in the evidence store)."""

    issuer: str
    number: int | None
    this_update: dt.datetime
    sha256: str

    def as_dict(self) -> dict[str, object]:
        """The JSON form (``revocation.crl``)."""
        return {"issuer": self.issuer,
                "number": str(self.number) if self.number is not None else None,
                "this_update": self.this_update.isoformat(), "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class OcspEvidence:
    """The OCSP answer a status rests on: the SHA-256 of its bytes (its name in the
    evidence store) and when the responder produced it."""

    sha256: str
    produced_at: dt.datetime

    def as_dict(self) -> dict[str, object]:
        """The JSON form (``revocation.ocsp``)."""
        return {"sha256": self.sha256, "produced_at": self.produced_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Revocation:
    """The revocation status of one certificate, with its evidence.

    ``reason`` says, for ``unknown``, what could not be reached or used; ``subject``
    names the certificate checked (the signer's, or a CA's above it).
    """

    status: RevocationStatus
    method: RevocationMethod
    checked_at: dt.datetime
    reason: str
    subject: str = ""
    crl: CrlEvidence | None = None
    ocsp: OcspEvidence | None = None
    revoked_at: dt.datetime | None = None
    is_required: bool = False
    #: unknown because a CRL configured for the issuer is out of date: an operator's
    #: mistake, never passed over as "not required"
    is_stale: bool = False

    def as_dict(self) -> dict[str, object]:
        """The JSON form `document verify` prints per signature."""
        return {"status": self.status.value, "method": self.method.value,
                "checked_at": self.checked_at.isoformat(),
                "crl": self.crl.as_dict() if self.crl else None,
                "ocsp": self.ocsp.as_dict() if self.ocsp else None,
                "is_required": self.is_required}


@dataclass(slots=True)
class AcceptedCrl:
    """A CRL that its issuer signed and that is current, with the SHA-256 of its DER."""

    crl: x509.CertificateRevocationList
    sha256: str


@dataclass
class RevocationChecker:
    """CRLs for each issuer: configured, cached, or fetched from distribution points.

    :param crls: the configured CRL files' contents.
    :param fetcher: fetches distribution points; None or disabled: configured and
        cached CRLs only.
    :param store: where fetched and used CRLs are kept and looked up across processes.
    :param ocsp_rewrite: OCSP URL prefixes and what to ask instead.
    """

    crls: Sequence[x509.CertificateRevocationList] = ()
    fetcher: Fetcher | None = None
    store: EvidenceStore | None = None
    ocsp_rewrite: Mapping[str, str] = field(default_factory=dict)
    _ocsp: OcspChecker = field(init=False, repr=False)
    _signed_by: dict[tuple[int, bytes], bool] = field(default_factory=dict, repr=False)
    _kept: dict[int, str] = field(default_factory=dict, repr=False)
    _by_url: dict[str, AcceptedCrl] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # without a fetcher, answers cached in the store are still used
        self._ocsp = OcspChecker(self.fetcher or Fetcher(is_enabled=False), self.store,
                                 self.ocsp_rewrite)

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, *,
              now: dt.datetime) -> Revocation:
        """The status of ``cert`` (issued by ``issuer``): from a current OCSP answer,
        else from the freshest usable CRL."""
        subject = cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"
        answer, problems = self._ocsp.answer(cert, issuer, now=now)
        if answer is not None and answer.status is not ocsp.OCSPCertStatus.UNKNOWN:
            evidence = OcspEvidence(answer.sha256, answer.produced_at)
            if answer.status is ocsp.OCSPCertStatus.REVOKED:
                when = answer.revoked_at or answer.produced_at
                return Revocation(RevocationStatus.REVOKED, RevocationMethod.OCSP, now,
                                  f"{subject} was revoked on {when:%Y-%m-%d %H:%M} UTC "
                                  f"(OCSP, {answer.url})", subject, ocsp=evidence,
                                  revoked_at=when)
            return Revocation(RevocationStatus.GOOD, RevocationMethod.OCSP, now,
                              f"good according to the OCSP responder at {answer.url}",
                              subject, ocsp=evidence)
        if answer is not None:
            problems.append(f"the OCSP responder at {answer.url} does not know the "
                            "certificate")
        by_ocsp = len(problems)
        found = self._configured(issuer, now, problems)
        if found is None:
            found = self._distributed(cert, issuer, now, problems)
        if found is None:
            if len(problems) == by_ocsp:
                problems.append(f"no CRL from {_name(issuer)} is configured and the "
                                "certificate names no CRL distribution point")
            return Revocation(RevocationStatus.UNKNOWN, RevocationMethod.NONE, now,
                              "; ".join(problems), subject,
                              is_stale=self._has_stale(issuer, now))
        crl = found.crl
        used = CrlEvidence(_name(issuer), crl_number(crl), crl.last_update_utc, found.sha256)
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            return Revocation(RevocationStatus.REVOKED, RevocationMethod.CRL, now,
                              f"{subject} was revoked on "
                              f"{entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC", subject,
                              crl=used, revoked_at=entry.revocation_date_utc)
        return Revocation(RevocationStatus.GOOD, RevocationMethod.CRL, now,
                          f"not on the CRL of {_name(issuer)}", subject, crl=used)

    def _configured(self, issuer: x509.Certificate, now: dt.datetime,
                    problems: list[str]) -> AcceptedCrl | None:
        fingerprint = issuer.fingerprint(hashes.SHA256())
        usable = []
        for index, crl in enumerate(self.crls):
            if crl.issuer != issuer.subject:
                continue
            key = (index, fingerprint)
            if key not in self._signed_by:
                self._signed_by[key] = _is_signed_by(crl, issuer)
            if self._signed_by[key]:
                usable.append((index, crl))
        if not usable:
            return None
        index, crl = max(usable, key=lambda pair: pair[1].last_update_utc)
        if crl.next_update_utc is not None and crl.next_update_utc < now:
            problems.append(f"the CRL from {_name(issuer)} expired on "
                            f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC")
            return None
        if index not in self._kept:  # kept once per process: a CRL may be megabytes
            der = crl.public_bytes(serialization.Encoding.DER)
            self._kept[index] = (self.store.keep(der, "crl") if self.store
                                 else hashlib.sha256(der).hexdigest())
        return AcceptedCrl(crl, self._kept[index])

    def _has_stale(self, issuer: x509.Certificate, now: dt.datetime) -> bool:
        return any(crl.issuer == issuer.subject and crl.next_update_utc is not None
                   and crl.next_update_utc < now for crl in self.crls)

    def _distributed(self, cert: x509.Certificate, issuer: x509.Certificate,
                     now: dt.datetime, problems: list[str]) -> AcceptedCrl | None:
        for url in distribution_points(cert):
            if not url.startswith(("http://", "https://")):
                problems.append(f"the CRL at {url} is not fetched (only http and https)")
                continue
            found = self._cached(url, issuer, now)
            if found is not None:
                return found
            try:
                found = self._fetch(url, issuer, now)
            except FetchError as exc:
                problems.append(f"the CRL at {exc}")
                continue
            return found
        return None

    def _cached(self, url: str, issuer: x509.Certificate, now: dt.datetime) -> AcceptedCrl | None:
        found = self._by_url.get(url)
        if found is not None and _is_fresh(found.crl, now):
            return found
        if self.store is None:
            return None
        data = self.store.recall(url)
        if data is None:
            return None
        try:
            found = accept_crl(data, issuer, now)
        except ValueError:
            return None
        self.store.used(url)
        self._by_url[url] = found
        return found

    def _fetch(self, url: str, issuer: x509.Certificate, now: dt.datetime) -> AcceptedCrl:
        if self.fetcher is None:
            raise FetchError(url, "fetching is off")
        data = self.fetcher.get(url, max_bytes=MAX_CRL)
        try:
            found = accept_crl(data, issuer, now)
        except ValueError as exc:
            raise FetchError(url, str(exc)) from exc
        if self.store is not None:
            self.store.keep(data, "crl")
            self.store.remember(url, found.sha256, "crl", issuer=self.store.keep(
                issuer.public_bytes(serialization.Encoding.DER), "crt"))
        self._by_url[url] = found
        log.info("crl fetched url=%s issuer=%s number=%s next_update=%s", url,
                 _name(issuer), crl_number(found.crl), found.crl.next_update_utc)
        return found

def accept_crl(data: bytes, issuer: x509.Certificate, now: dt.datetime) -> AcceptedCrl:
    """The CRL in ``data`` (DER or PEM) if ``issuer`` signed it and it is current.

    :raises ValueError: with a reason an administrator can read.
    """
    try:
        crl = (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----BEGIN")
               else x509.load_der_x509_crl(data))
    except ValueError as exc:
        raise ValueError(f"is not a readable CRL ({exc})") from exc
    if crl.issuer != issuer.subject or not _is_signed_by(crl, issuer):
        raise ValueError(f"is not signed by {_name(issuer)}")
    if not _is_fresh(crl, now):
        raise ValueError("is out of date (its nextUpdate has passed)")
    der = crl.public_bytes(serialization.Encoding.DER)
    return AcceptedCrl(crl, hashlib.sha256(der).hexdigest())


def distribution_points(cert: x509.Certificate) -> list[str]:
    """The URLs of the certificate's CRL distribution points, in order."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    return [name.value for point in points for name in (point.full_name or ())
            if isinstance(name, x509.UniformResourceIdentifier)]


def _is_fresh(crl: x509.CertificateRevocationList, now: dt.datetime) -> bool:
    # a CRL without nextUpdate says nothing of when to look again: fresh for a day
    until = crl.next_update_utc or crl.last_update_utc + dt.timedelta(days=1)
    return crl.last_update_utc <= now + dt.timedelta(minutes=10) and now <= until


def _is_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def crl_number(crl: x509.CertificateRevocationList) -> int | None:
    """The CRL's cRLNumber (RFC 5280 5.2.3), or None."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (x509.ExtensionNotFound, ValueError):
        return None


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"
