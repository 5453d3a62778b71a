"""Trust anchors, intermediates and CRLs: is this certificate from someone we trust?

Shared by S/MIME verification and, later, by the signatures inside documents. The path
is built and checked by ``cryptography.x509.verification`` (RFC 5280 path building,
validity, basic constraints, name constraints, key sizes), with its extension policies
set for the purpose at hand: for S/MIME, RFC 8550 section 4.4 (key usage with
digitalSignature or nonRepudiation; an extended key usage, when present, with
emailProtection or anyExtendedKeyUsage, also on the CAs). Revocation comes from the
configured CRL files, checked here because that library does not read CRLs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
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

from signer.errors import CertificateFileError

_USAGE_MARK = "congvu-usage:"
_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE


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
    reason: str
    chain: tuple[x509.Certificate, ...] = ()

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

    :param is_crl_required: a certificate whose issuer has no CRL here is
        ``REVOCATION_UNKNOWN`` instead of valid.
    """

    anchors: Sequence[x509.Certificate]
    intermediates: Sequence[x509.Certificate] = ()
    crls: Sequence[x509.CertificateRevocationList] = ()
    is_crl_required: bool = False
    _store: Store | None = field(default=None, init=False, repr=False)
    _crl_ok: dict[tuple[int, bytes], bool] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.anchors:
            self._store = Store(list(self.anchors))

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
            return ChainCheck(ChainStatus.UNTRUSTED, "no trust anchors are configured")
        if at > leaf.not_valid_after_utc:
            return ChainCheck(ChainStatus.EXPIRED, "the certificate expired on "
                              f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        if at < leaf.not_valid_before_utc:
            return ChainCheck(ChainStatus.NOT_YET_VALID, "the certificate is valid only from "
                              f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
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
            chain = tuple(verifier.verify(leaf, [*untrusted, *self.intermediates]).chain)
        except VerificationError as exc:
            text = str(exc)
            if _USAGE_MARK in text:
                reason = text.split(_USAGE_MARK, 1)[1].split(" (encountered", 1)[0].strip()
                return ChainCheck(ChainStatus.WRONG_USAGE, reason)
            return ChainCheck(ChainStatus.UNTRUSTED,
                              f"no valid path to a trust anchor: {_short(text)}")
        return self._revocation(chain, revocation_at or at)

    def _revocation(self, chain: tuple[x509.Certificate, ...], at: dt.datetime) -> ChainCheck:
        notes: list[str] = []
        for cert, issuer in itertools.pairwise(chain):
            crls = self._crls_by(issuer)
            who = _subject(cert)
            if not crls:
                if self.is_crl_required:
                    return ChainCheck(ChainStatus.REVOCATION_UNKNOWN,
                                      f"no CRL from {_subject(issuer)} is configured", chain)
                notes.append(f"no CRL from {_subject(issuer)} to check {who}")
                continue
            crl = max(crls, key=lambda c: c.last_update_utc)
            if crl.next_update_utc is not None and crl.next_update_utc < at:
                return ChainCheck(ChainStatus.REVOCATION_UNKNOWN,
                                  f"the CRL from {_subject(issuer)} expired on "
                                  f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC", chain)
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return ChainCheck(ChainStatus.REVOKED,
                                  f"{who} was revoked on "
                                  f"{entry.revocation_date_utc:%Y-%m-%d %H:%M} UTC", chain)
        root = _subject(chain[-1])
        reason = f"chained to {root}, not revoked"
        if notes:
            reason = f"chained to {root}; " + "; ".join(notes)
        return ChainCheck(ChainStatus.VALID, reason, chain)

    def _crls_by(self, issuer: x509.Certificate) -> list[x509.CertificateRevocationList]:
        found = []
        fingerprint = issuer.fingerprint(hashes.SHA256())
        for index, crl in enumerate(self.crls):
            if crl.issuer != issuer.subject:
                continue
            key = (index, fingerprint)
            if key not in self._crl_ok:
                try:
                    self._crl_ok[key] = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    self._crl_ok[key] = False
            if self._crl_ok[key]:
                found.append(crl)
        return found


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _short(text: str) -> str:
    return text.removeprefix("validation failed: ").split(" (encountered", 1)[0]


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
