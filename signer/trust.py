"""Trust anchors, intermediates and CRLs: is this certificate from someone we trust?

Shared by S/MIME verification and, later, by the signatures inside documents. The path
is built and checked by ``cryptography.x509.verification`` (RFC 5280 path building,
validity, basic constraints, name constraints, key sizes), with its extension policies
set for the purpose at hand: for S/MIME, RFC 8550 section 4.4 (key usage with
digitalSignature or nonRepudiation; an extended key usage, when present, with
emailProtection or anyExtendedKeyUsage, also on the CAs). Revocation comes from the
configured CRL files or those fetched from the certificates' distribution points
(`signer.revocation`), because that library does not read CRLs.

Two rules for the signatures in circulation: a signature may carry only the signer's
certificate, so a missing issuer is fetched from the caIssuers URL (`signer.issuers`),
also when what the signature carries names the issuer but leads to no trust anchor
(a cross-certificate, a CA certificate re-issued under another root);
and a CA certificate configured as trusted is trusted by its bytes, so an old CA
certificate signed with SHA-1 (which the path builder refuses to check) does not make
every signer under it untrusted. The signer's own certificate signed with SHA-1 or MD5
still fails, with a reason naming the algorithm.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from mailbase import Reason
from signer import reasons
from signer.errors import CertificateFileError
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.issuers import IssuerFetcher
from signer.ocsp import signature_verifies
from signer.revocation import (
    Revocation,
    RevocationChecker,
    RevocationMethod,
    RevocationStatus,
)

_USAGE_MARK = "congvu-usage:"
_FINGERPRINT = hashes.SHA256()
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
#: Hashes no signature by a signer may rest on (a trusted CA's own bytes excepted).
_WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5"}


class ChainStatus(StrEnum):
    """What a path check found; only ``VALID`` lets a signature pass."""

    VALID = "valid"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    WRONG_USAGE = "wrong-usage"
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation-unknown"


@dataclass(frozen=True, slots=True)
class KeyPurpose:
    """What a certificate must be good for: the extended key usages that allow it."""

    name: str
    eku: frozenset[x509.ObjectIdentifier]


EMAIL_PROTECTION = KeyPurpose("emailProtection", frozenset({ExtendedKeyUsageOID.EMAIL_PROTECTION}))


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The outcome of checking one certificate: status, reason, and the path found."""

    status: ChainStatus
    #: in English, as logs and JSON keep it
    reason: str
    chain: tuple[x509.Certificate, ...] = ()
    #: the signer's revocation status (the worst found on the path), once a path is found
    revocation: Revocation | None = None
    #: what does not change the status (revocation unknown and not required)
    notes: tuple[str, ...] = ()
    #: the reason's code and parameters (signer/reasons.py); None where it has none
    why: Reason | None = field(default=None, compare=False)

    @classmethod
    def of(cls, status: ChainStatus, why: Reason, chain: tuple[x509.Certificate, ...] = (),
           revocation: Revocation | None = None, notes: tuple[str, ...] = ()) -> ChainCheck:
        """A check with ``status`` for ``why``, its English text rendered from it."""
        return cls(status, why.text, chain, revocation, notes, why)

    @property
    def is_valid(self) -> bool:
        """True only for a trusted, current, unrevoked certificate fit for the purpose."""
        return self.status is ChainStatus.VALID


def _ee_key_usage(_policy: Policy, _cert: x509.Certificate,
                  ext: x509.KeyUsage | None) -> None:
    # RFC 8550 section 4.4.2: a signing certificate asserts digitalSignature or
    # nonRepudiation when it has a key usage extension at all.
    if ext is not None and not (ext.digital_signature or ext.content_commitment):
        raise ValueError(f"{_USAGE_MARK} key usage allows neither digitalSignature "
                         "nor nonRepudiation")


_EkuCheck = Callable[[Policy, x509.Certificate, x509.ExtendedKeyUsage | None], None]


def _eku_validator(purpose: KeyPurpose, *, what: str) -> _EkuCheck:
    def check(_policy: Policy, _cert: x509.Certificate,
              ext: x509.ExtendedKeyUsage | None) -> None:
        # RFC 8550 section 4.4.4: when present, the EKU must allow the purpose.
        if ext is not None and _ANY_EKU not in ext and not purpose.eku & set(ext):
            raise ValueError(f"{_USAGE_MARK} {what} extended key usage does not include "
                             f"{purpose.name}")
    return check


@dataclass
class TrustStore:
    """Trust anchors, extra intermediates and CRLs, loaded once.

    :param is_crl_required: a certificate whose revocation status is unknown (no
        current OCSP answer, no usable CRL configured, cached or fetched) is
        ``REVOCATION_UNKNOWN`` instead of valid (``[signer.documents] revocation =
        "required"``).
    :param fetcher: asks OCSP responders, fetches CRLs from distribution points and
        issuers from caIssuers URLs; None: only what is configured (and cached).
    :param store: where fetched material and the revocation evidence used are kept.
    :param ocsp_rewrite: OCSP URL prefixes and what to ask instead.
    """

    anchors: Sequence[x509.Certificate]
    intermediates: Sequence[x509.Certificate] = ()
    crls: Sequence[x509.CertificateRevocationList] = ()
    is_crl_required: bool = False
    fetcher: Fetcher | None = None
    store: EvidenceStore | None = None
    ocsp_rewrite: Mapping[str, str] = field(default_factory=dict)
    _store: Store | None = field(default=None, init=False, repr=False)
    _revocation_checker: RevocationChecker = field(init=False, repr=False)
    _issuers: IssuerFetcher | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        trusted = list(self.anchors)
        # a configured CA certificate signed with a weak hash by a configured anchor is
        # trusted by its bytes: the path builder would refuse to check that signature.
        trusted += [c for c in self.intermediates
                    if _weak_hash(c) and any(_issued_by(c, a) for a in self.anchors)]
        if trusted:
            self._store = Store(trusted)
        self._revocation_checker = RevocationChecker(self.crls, self.fetcher, self.store,
                                                     self.ocsp_rewrite)
        if self.fetcher is not None or self.store is not None:
            # offline, issuers fetched earlier still come from the store
            self._issuers = IssuerFetcher(self.fetcher or Fetcher(is_enabled=False), self.store)

    @classmethod
    def from_files(cls, anchors: Iterable[Path], intermediates: Iterable[Path] = (),
                   crls: Iterable[Path] = (), *, is_crl_required: bool = False) -> TrustStore:
        """Load PEM certificate files and PEM or DER CRL files.

        :raises CertificateFileError: a file that is missing, unreadable or holds nothing
            usable; it names the file.
        """
        return cls(
            anchors=[c for path in anchors for c in load_certificates(path)],
            intermediates=[c for path in intermediates for c in load_certificates(path)],
            crls=[load_crl(path) for path in crls],
            is_crl_required=is_crl_required,
        )

    def check(self, leaf: x509.Certificate, untrusted: Sequence[x509.Certificate] = (), *,
              at: dt.datetime, purpose: KeyPurpose = EMAIL_PROTECTION,
              revocation_at: dt.datetime | None = None) -> ChainCheck:
        """Check ``leaf`` at time ``at``, building its path through ``untrusted`` certificates
        (e.g. those a signature carries) and the configured intermediates.

        Revocation is checked at ``revocation_at`` (default ``at``): a certificate on a
        CRL is revoked whatever the revocation date, because a revoked signer never passes.
        """
        if self._store is None:
            return ChainCheck.of(ChainStatus.UNTRUSTED, reasons.NO_ANCHORS())
        if at > leaf.not_valid_after_utc:
            return ChainCheck.of(ChainStatus.EXPIRED, reasons.CERT_EXPIRED(
                date=f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M}"))
        if at < leaf.not_valid_before_utc:
            return ChainCheck.of(ChainStatus.NOT_YET_VALID, reasons.CERT_NOT_YET_VALID(
                date=f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M}"))
        weak = _weak_hash(leaf)
        if weak:
            return ChainCheck.of(ChainStatus.UNTRUSTED, reasons.CERT_WEAK(algorithm=weak))
        candidates = [*untrusted, *self.intermediates]
        problems: list[str] = []
        if self._issuers is not None:
            fetched, problems = self._issuers.issuers(leaf, [*candidates, *self.anchors])
            candidates += fetched
        ee = (
            ExtensionPolicy.webpki_defaults_ee()
            .may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _ee_key_usage)
            .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC,
                            _eku_validator(purpose, what="the certificate's"))
            .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        )
        ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(
            x509.ExtendedKeyUsage, Criticality.AGNOSTIC,
            _eku_validator(purpose, what="an issuing CA's"))
        verifier = (
            PolicyBuilder().store(self._store).time(at)
            .extension_policies(ca_policy=ca, ee_policy=ee).build_client_verifier()
        )
        try:
            chain = tuple(verifier.verify(leaf, candidates).chain)
        except VerificationError as exc:
            text = str(exc)
            if _USAGE_MARK in text:
                reason = text.split(_USAGE_MARK, 1)[1].split(" (encountered", 1)[0].strip()
                return ChainCheck(ChainStatus.WRONG_USAGE, reason)
            # The certificates a signature carries may name the issuer without leading
            # to an anchor (a cross-certificate, a CA certificate re-issued under another
            # root), which stopped the walk up the caIssuers URLs: walk it again from
            # what is trusted only, and build once more with what it gives.
            found = self._issuers_past(leaf, untrusted, candidates, problems)
            if found is None:
                return ChainCheck.of(ChainStatus.UNTRUSTED, reasons.NO_PATH(
                    detail="; ".join([_short(text), *problems])))
            try:
                chain = tuple(verifier.verify(leaf, [*candidates, *found]).chain)
            except VerificationError as again:
                return ChainCheck.of(ChainStatus.UNTRUSTED, reasons.NO_PATH(
                    detail="; ".join([_short(str(again)), *problems])))
        return self._revocation(chain, revocation_at or at)

    def _issuers_past(self, leaf: x509.Certificate, untrusted: Sequence[x509.Certificate],
                      candidates: Sequence[x509.Certificate], problems: list[str]
                      ) -> list[x509.Certificate] | None:
        """Issuers fetched up from ``leaf`` as if the signature carried nothing; None
        when there is nothing new to try (no fetcher, nothing carried, nothing new)."""
        if self._issuers is None or not untrusted:
            return None
        fetched, more = self._issuers.issuers(leaf, [*self.intermediates, *self.anchors])
        problems += [p for p in more if p not in problems]
        known = {c.fingerprint(_FINGERPRINT) for c in candidates}
        found = [c for c in fetched if c.fingerprint(_FINGERPRINT) not in known]
        return found or None

    def _revocation(self, chain: tuple[x509.Certificate, ...], at: dt.datetime) -> ChainCheck:
        """The path's revocation: revoked if any certificate is, unknown if any is
        unknown (``REVOCATION_UNKNOWN`` when required, else a note), else good."""
        found = [self._revocation_checker.check(cert, issuer, now=at)
                 for cert, issuer in itertools.pairwise(chain)]
        root = _subject(chain[-1])
        if not found:  # the signer's certificate is itself an anchor
            none = Revocation(RevocationStatus.UNKNOWN, RevocationMethod.NONE, at,
                              "the certificate is itself a trust anchor",
                              is_required=self.is_crl_required)
            return ChainCheck.of(ChainStatus.VALID, reasons.ANCHOR_ITSELF(root=root), chain,
                                 none)
        leaf = found[0]
        revoked = next((r for r in found if r.status is RevocationStatus.REVOKED), None)
        unknown = [r for r in found if r.status is RevocationStatus.UNKNOWN]
        if revoked is not None:
            summary = replace(leaf, status=RevocationStatus.REVOKED,
                              revoked_at=revoked.revoked_at, is_required=self.is_crl_required)
            return ChainCheck(ChainStatus.REVOKED, revoked.reason, chain, summary)
        if unknown:
            summary = replace(leaf, status=RevocationStatus.UNKNOWN,
                              is_required=self.is_crl_required)
            why = "; ".join(f"revocation of {r.subject} unknown: {r.reason}" for r in unknown)
            if self.is_crl_required or any(r.is_stale for r in unknown):
                return ChainCheck(ChainStatus.REVOCATION_UNKNOWN, why, chain, summary)
            return ChainCheck.of(ChainStatus.VALID, reasons.CHAINED(root=root), chain, summary,
                                 (f"{why} (revocation is not required)",))
        summary = replace(leaf, is_required=self.is_crl_required)
        return ChainCheck.of(ChainStatus.VALID, reasons.CHAINED_NOT_REVOKED(root=root), chain,
                             summary)


def _weak_hash(cert: x509.Certificate) -> str:
    """The name of the weak hash ``cert`` is signed with, or ''."""
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # an algorithm cryptography does not know: not ours to call weak
        return ""
    return _WEAK_HASHES.get(algorithm.name, "") if algorithm is not None else ""


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``cert`` (whatever the hash, SHA-1 included,
    which ``verify_directly_issued_by`` refuses)."""
    algorithm = cert.signature_hash_algorithm
    return (cert.issuer == issuer.subject and algorithm is not None
            and signature_verifies(issuer, cert.signature, cert.tbs_certificate_bytes,
                                   algorithm))


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _short(text: str) -> str:
    text = text.removeprefix("validation failed: ").split(" (encountered", 1)[0]
    if "Forbidden signature algorithm" in text:
        weak = next((name for key, name in _WEAK_HASHES.items() if key in text.lower()),
                    "a weak hash")
        return (f"a CA certificate on the path is signed with {weak}, which is not "
                "checked; configure that CA as a trust anchor to trust it by its bytes")
    return text


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateFileError(path, f"cannot be read: {exc.strerror or exc}") from exc


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM (or single DER) file.

    :raises CertificateFileError: missing, unreadable or holding no certificate.
    """
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise CertificateFileError(path, f"holds no readable certificate ({exc})") from exc
    return certs


def load_crl(path: Path) -> x509.CertificateRevocationList:
    """One CRL from a PEM or DER file.

    :raises CertificateFileError: missing, unreadable or not a CRL.
    """
    data = _read(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CertificateFileError(path, f"is not a readable CRL ({exc})") from exc
