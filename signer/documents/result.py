"""What document verification found, as values: one verdict per signature."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from mailbase import Reason, fold
from signer.revocation import Revocation


class DocumentKind(StrEnum):
    """What kind of document the bytes are (by content, never by name alone)."""

    PDF = "pdf"
    OOXML = "ooxml"
    ODF = "odf"
    NONE = "none"


class DocumentVerdict(StrEnum):
    """The verdict on one signature inside a document; only ``VALID`` counts as signed."""

    VALID = "valid"
    INVALID = "invalid"
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    REVOKED = "revoked"
    MODIFIED = "modified-after-signing"
    UNVERIFIABLE = "unverifiable"


class TimeSource(StrEnum):
    """Where the signing time the certificate was judged at came from."""

    TIMESTAMP = "timestamp"  # a valid, trusted RFC 3161 token in the signature
    CLAIMED = "claimed"  # the signer's own signingTime or /M: not proof
    NONE = "none"  # no time in the signature: judged now


class RootFamily(StrEnum):
    """Which public key infrastructure a valid signature's trust anchor belongs to."""

    GOV = "gov"  # the government's specialised PKI (Ban Cơ yếu Chính phủ)
    PUBLIC = "public"  # the national root of the public PKI, over the licensed public CAs
    OTHER = "other"  # any other configured anchor (a commercial CA's own root, a private CA)


#: Folded attribute=value pairs of a trust anchor's subject naming its family. The
#: government PKI's certificates name the Government Cipher Committee as organisation;
#: the licensed public CAs (VNPT-CA, Viettel-CA, BKAV-CA, FPT-CA...) chain to the
#: national root CA of the public PKI. Only a configured anchor ends a valid chain, so
#: a name cannot be forged into a family.
_FAMILIES = {
    ("o", "ban co yeu chinh phu"): RootFamily.GOV,
    ("o", "government cipher committee"): RootFamily.GOV,
    ("cn", "vietnam national root ca"): RootFamily.PUBLIC,
}
_RDN_SEPARATOR = re.compile(r"(?<!\\)[,+]")


def root_family(anchor: str) -> RootFamily:
    """The family of a trust anchor from its subject (RFC 4514, as ``chain`` holds it)."""
    for part in _RDN_SEPARATOR.split(anchor):
        kind, _, value = part.partition("=")
        family = _FAMILIES.get((kind.strip().lower(), fold(value.replace("\\", "").strip())))
        if family is not None:
            return family
    return RootFamily.OTHER


@dataclass(frozen=True, slots=True)
class DocumentSignature:
    """One signature found in a document, with its verdict and who made it."""

    verdict: DocumentVerdict
    reason: str
    #: the PDF signature field's name, or the signature part inside an Office package
    field: str | None = None
    #: the signature's format: pades, adbe.pkcs7.detached, ooxml-xmldsig, odf-xmldsig...
    format: str | None = None
    #: the signer certificate's common name, organisation, full subject, issuer, serial
    signer: str | None = None
    organisation: str | None = None
    subject: str | None = None
    issuer: str | None = None
    serial: str | None = None
    signing_time: dt.datetime | None = None
    time_source: TimeSource = TimeSource.NONE
    digest_algorithm: str | None = None
    #: PDF: entire-file, entire-revision, contiguous-block-from-start, unclear
    coverage: str | None = None
    #: PDF: what later revisions changed: none, lta-updates, form-filling, annotations, other
    modification_level: str | None = None
    #: the certificate path found, leaf first (subjects)
    chain: tuple[str, ...] = ()
    #: a document timestamp (/DocTimeStamp), not a person's signature
    is_timestamp: bool = False
    #: things worth knowing that do not change the verdict (expired since, revocation
    #: not required and unknown)
    notes: tuple[str, ...] = ()
    #: the signer certificate's revocation status and its evidence; every signature
    #: the verifier returns has one (``unknown``/``none`` when not checked)
    revocation: Revocation | None = None
    #: the signed bytes: intact, changed, signature-value-wrong; None when not reached
    integrity: str | None = None
    #: the signer certificate's validity period
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    #: whose signature: organisation, person or unknown; only a valid signature is
    #: given more than unknown (by the directory, which the verifier does not read)
    role: str = "unknown"
    #: the directory unit id of an organisation's or person's signature
    unit: str | None = None
    #: the signer certificate's addresses (subject emailAddress, then rfc822Name
    #: subject alternative names) and SHA-256 fingerprint (hex): what roles are read from
    emails: tuple[str, ...] = ()
    fingerprint: str | None = None
    #: the reason's code and parameters (signer/reasons.py), which ``reason`` is the
    #: English of; None where it has none
    why: Reason | None = dataclasses.field(default=None, compare=False)

    @classmethod
    def of(cls, verdict: DocumentVerdict, why: Reason, **rest: Any) -> DocumentSignature:
        """A signature with ``verdict`` for ``why``, its English text rendered from it."""
        return cls(verdict, why.text, why=why, **rest)

    @property
    def is_valid(self) -> bool:
        """True for a valid signature by a person (document timestamps do not count)."""
        return self.verdict is DocumentVerdict.VALID and not self.is_timestamp

    @property
    def root_family(self) -> RootFamily | None:
        """The family of the trust anchor a valid signature chains to (the last
        certificate of ``chain``); None when the signature is not valid."""
        if self.verdict is not DocumentVerdict.VALID or not self.chain:
            return None
        return root_family(self.chain[-1])

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form for the CLI, the audit record and the stage."""
        return {
            "verdict": self.verdict.value,
            "reason": self.reason,
            "field": self.field,
            "format": self.format,
            "signer": self.signer,
            "organisation": self.organisation,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "time_source": self.time_source.value,
            "digest_algorithm": self.digest_algorithm,
            "coverage": self.coverage,
            "modification_level": self.modification_level,
            "chain": list(self.chain),
            "is_timestamp": self.is_timestamp,
            "notes": list(self.notes),
            "root_family": family.value if (family := self.root_family) else None,
            "revocation_status": self.revocation.status.value if self.revocation else None,
            "revocation_evidence": _evidence(self.revocation),
            **(self.why.as_json() if self.why is not None else {}),
            "signer_role": self.role,
            "signer_unit": self.unit,
        }

    def as_json(self) -> dict[str, object]:
        """`as_dict` plus integrity, the certificate's validity period, the revocation
        object, role and unit: what `congvu document verify` prints (the audit record
        keeps `as_dict`'s fields, role and unit as signer_role and signer_unit, since
        ``role`` there is the listener's)."""
        return {**self.as_dict(),
                "integrity": self.integrity,
                "valid_from": self.valid_from.isoformat() if self.valid_from else None,
                "valid_until": self.valid_until.isoformat() if self.valid_until else None,
                "revocation": self.revocation.as_dict() if self.revocation else None,
                "role": self.role, "unit": self.unit}


@dataclass(frozen=True, slots=True)
class DocumentResult:
    """Everything found in one file: its kind and each signature's verdict.

    ``reason`` says why there is nothing to report (not a document, no signature,
    unreadable) or summarises the signatures.
    """

    kind: DocumentKind
    signatures: tuple[DocumentSignature, ...] = ()
    reason: str = ""
    filename: str | None = None

    @property
    def is_signed(self) -> bool:
        """True when the document carries at least one signature by a person."""
        return any(not s.is_timestamp for s in self.signatures)

    @property
    def is_validly_signed(self) -> bool:
        """True when at least one signature by a person is valid."""
        return any(s.is_valid for s in self.signatures)

    @property
    def is_complete(self) -> bool:
        """True when a valid person's signature is followed by a valid organisation
        signature of a directory unit covering the whole document; roles come from the
        directory, so a result the verifier alone made is never complete."""
        people = [i for i, s in enumerate(self.signatures) if s.is_valid and s.role == "person"]
        return any(s.is_valid and s.role == "organisation" and s.unit is not None
                   and i > people[0] and _covers_all(s)
                   for i, s in enumerate(self.signatures)) if people else False

    @property
    def verdict(self) -> str:
        """One word for the whole file: ``valid`` when a signature is valid, else the
        first signature's verdict, ``unsigned`` for a document without one, ``none``
        for a file that is not a document."""
        if self.kind is DocumentKind.NONE:
            return "none"
        people = [s for s in self.signatures if not s.is_timestamp]
        if not people:
            return "unsigned"
        if any(s.is_valid for s in people):
            return DocumentVerdict.VALID.value
        return people[0].verdict.value

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form for the documents stage and the audit record."""
        return {
            "filename": self.filename,
            "kind": self.kind.value,
            "verdict": self.verdict,
            "is_signed": self.is_signed,
            "is_validly_signed": self.is_validly_signed,
            "reason": self.reason,
            "signatures": [s.as_dict() for s in self.signatures],
        }

    def as_json(self) -> dict[str, object]:
        """What `congvu document verify` prints per file: `as_dict` with ``complete``
        and each signature's revocation, role and unit."""
        return {**self.as_dict(), "complete": self.is_complete,
                "signatures": [s.as_json() for s in self.signatures]}


def addresses_of(cert: x509.Certificate) -> tuple[str, ...]:
    """The certificate's addresses: subject emailAddress values, then rfc822Name
    subject alternative names, without repeats."""
    found = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)]
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found += names.get_values_for_type(x509.RFC822Name)
    except (x509.ExtensionNotFound, ValueError):
        pass  # no or an unreadable alternative name: the subject's addresses stand
    return tuple(dict.fromkeys(a.strip() for a in found if a.strip()))


def _evidence(revocation: Revocation | None) -> str | None:
    if revocation is None:
        return None
    if revocation.ocsp is not None:
        return revocation.ocsp.sha256
    return revocation.crl.sha256 if revocation.crl is not None else None


def _covers_all(signature: DocumentSignature) -> bool:
    return signature.coverage == "entire-file" or (
        signature.coverage == "entire-revision"
        and signature.modification_level in ("none", "lta-updates"))
