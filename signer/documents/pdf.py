"""PDF signatures: integrity, coverage, later changes, signer, time and chain.

pyHanko reads the file (revisions, the signature dictionaries, the CMS) and judges the
integrity, the coverage of the signed byte range and, through its difference analysis,
what later incremental updates changed: updates that only add signatures, document
timestamps or validation data (DSS) are not modifications (ISO 32000-2 12.8, PAdES).
The signer's chain, validity and revocation are judged by signer/'s TrustStore, the
same trust as S/MIME, at the signing time: a trusted embedded timestamp when there is
one, else the time the signer claims (and the result says which).

Every pyHanko or asn1crypto failure on one signature is mapped, in `_unreadable`, to
an ``unverifiable`` verdict with a reason; nothing here raises on bad input.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailbase import Reason
from signer import reasons
from signer.documents.result import (
    DocumentSignature,
    DocumentVerdict,
    TimeSource,
    addresses_of,
)
from signer.trust import ChainCheck, ChainStatus, KeyPurpose, TrustStore

# pyHanko logs tracebacks for expected findings (a suspicious update); they belong in
# the verdict, not in stderr. The service's own logging still receives them.
logging.getLogger("pyhanko").addHandler(logging.NullHandler())

_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE

#: EKUs accepted for document signing: Adobe's list (emailProtection, codeSigning,
#: Adobe Authentic Documents Trust, Microsoft Document Signing) and RFC 9336's.
DOCUMENT_SIGNING = KeyPurpose("document signing", frozenset({
    ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsageOID.CODE_SIGNING,
    x509.ObjectIdentifier("1.2.840.113583.1.1.5"),
    x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),
    x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36"),
}))
TIME_STAMPING = KeyPurpose("timeStamping", frozenset({ExtendedKeyUsageOID.TIME_STAMPING}))

_FORMATS = {
    "/ETSI.CAdES.detached": "pades",
    "/adbe.pkcs7.detached": "adbe.pkcs7.detached",
    "/adbe.pkcs7.sha1": "adbe.pkcs7.sha1",
    "/ETSI.RFC3161": "rfc3161",
    "/adbe.x509.rsa_sha1": "adbe.x509.rsa_sha1",
}
_COVERAGE = {0: "unclear", 1: "contiguous-block-from-start", 2: "entire-revision",
             3: "entire-file"}
_MODIFICATION = {0: "none", 1: "lta-updates", 2: "form-filling", 3: "annotations", 4: "other"}
_CHAIN_VERDICTS = {
    ChainStatus.VALID: DocumentVerdict.VALID,
    ChainStatus.UNTRUSTED: DocumentVerdict.UNTRUSTED,
    ChainStatus.WRONG_USAGE: DocumentVerdict.UNTRUSTED,
    ChainStatus.EXPIRED: DocumentVerdict.EXPIRED,
    ChainStatus.NOT_YET_VALID: DocumentVerdict.EXPIRED,
    ChainStatus.REVOKED: DocumentVerdict.REVOKED,
    ChainStatus.REVOCATION_UNKNOWN: DocumentVerdict.UNVERIFIABLE,
}
_WEAK_DIGESTS = {"sha1": "SHA-1", "md5": "MD5"}
# local time of Vietnam written as UTC (see _signing_time)
_VN_OFFSET = dt.timedelta(hours=7)
_QUIRK_FROM = dt.timedelta(hours=6, minutes=50)
_QUIRK_TO = dt.timedelta(hours=7, minutes=10)
# a claimed time this far in the future is not believed: judge at now.
_CLOCK_SKEW = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class PdfLimits:
    """How much of a PDF is looked at before the answer is ``unverifiable``."""

    max_signatures: int = 20
    max_revisions: int = 100


class _Unverifiable(Exception):
    """Raised inside this module only; becomes an ``unverifiable`` verdict."""

    def __init__(self, why: Reason) -> None:
        super().__init__(why.text)
        self.why = why


@contextmanager
def _unreadable(what: Reason) -> Iterator[None]:
    """The one mapping point: any failure of the PDF or CMS libraries is a reason."""
    try:
        yield
    except _Unverifiable:
        raise
    except RecursionError as exc:
        raise _Unverifiable(reasons.NESTED_TOO_DEEPLY(what=what)) from exc
    except MemoryError as exc:
        raise _Unverifiable(reasons.TOO_LARGE(what=what)) from exc
    except Exception as exc:  # pyHanko, asn1crypto and cryptography raise many kinds
        raise _Unverifiable(reasons.UNREADABLE(what=what, detail=_short(exc))) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def has_signature_marker(data: bytes) -> bool:
    """True when the bytes may hold a signature: a signature dictionary's /ByteRange
    must be written in the file itself (never in a compressed object stream), because
    the byte range has to point at its /Contents in the file."""
    return b"/ByteRange" in data


def verify_pdf(data: bytes, trust: TrustStore, *, limits: PdfLimits | None = None,
               now: dt.datetime | None = None) -> tuple[list[DocumentSignature], str]:
    """Every signature in the PDF ``data`` with its verdict, and a summary reason."""
    now = now or dt.datetime.now(dt.UTC)
    limits = limits or PdfLimits()
    if not has_signature_marker(data):
        return [], "no signature in the document"
    try:
        with _unreadable(reasons.PDF_UNREADABLE()):
            embedded = _signatures(data, limits)
    except _Unverifiable as exc:
        return [DocumentSignature.of(DocumentVerdict.UNVERIFIABLE, exc.why)], str(exc)
    if not embedded:
        return [], "no signature in the document"
    results: list[DocumentSignature] = []
    for index, sig in enumerate(embedded):
        if index >= limits.max_signatures:
            results.append(DocumentSignature.of(
                DocumentVerdict.UNVERIFIABLE,
                reasons.TOO_MANY_SIGNATURES(limit=limits.max_signatures)))
            break
        results.append(_verify_one(sig, trust, now))
    valid = sum(1 for r in results if r.is_valid)
    return results, f"{len(results)} signature(s), {valid} valid"


def _signatures(data: bytes, limits: PdfLimits) -> list[Any]:
    """The signatures in signing order: pyHanko's EmbeddedPdfSignature for each field
    that reads, an ``unverifiable`` DocumentSignature for each that does not."""
    from pyhanko.pdf_utils.crypt import AuthStatus
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields
    from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    # a document encrypted with an empty user password opens for anyone.
    if reader.encrypted and reader.decrypt("").status is AuthStatus.FAILED:
        raise _Unverifiable(reasons.PDF_ENCRYPTED())
    if reader.xrefs.total_revisions > limits.max_revisions:
        raise _Unverifiable(reasons.TOO_MANY_REVISIONS(
            revisions=reader.xrefs.total_revisions, limit=limits.max_revisions))
    found: list[tuple[int, Any]] = []
    for index, (name, sig_obj, sig_field) in enumerate(
            enumerate_sig_fields(reader, filled_status=True)):
        if index > limits.max_signatures:
            break
        try:
            with _unreadable(reasons.SIGNATURE_UNREADABLE()):
                sub = str(sig_obj.get_object().get("/SubFilter", ""))
                if sub == "/adbe.x509.rsa_sha1":
                    raise _Unverifiable(reasons.BARE_PKCS1())
                sig = EmbeddedPdfSignature(reader, sig_field, name)
                found.append((sig.signed_revision, sig))
        except _Unverifiable as exc:
            found.append((reader.xrefs.total_revisions, DocumentSignature.of(
                DocumentVerdict.UNVERIFIABLE, exc.why, field=str(name))))
    return [sig for _, sig in sorted(found, key=lambda pair: pair[0])]


def _verify_one(sig: Any, trust: TrustStore, now: dt.datetime) -> DocumentSignature:
    if isinstance(sig, DocumentSignature):
        return sig
    field = None
    try:
        with _unreadable(reasons.SIGNATURE_UNREADABLE()):
            field = str(sig.field_name)
            return _judge(sig, field, trust, now)
    except _Unverifiable as exc:
        return DocumentSignature.of(DocumentVerdict.UNVERIFIABLE, exc.why, field=field)


def _judge(sig: Any, field: str, trust: TrustStore, now: dt.datetime) -> DocumentSignature:
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    sub = str(sig.sig_object.get("/SubFilter", ""))
    fmt = _FORMATS.get(sub, sub.lstrip("/") or "unknown")
    is_timestamp = str(sig.sig_object_type) == "/DocTimeStamp"
    try:
        signer_cert = sig.signer_cert
    except Exception as exc:
        raise _Unverifiable(reasons.NO_SIGNER_CERTIFICATE(detail=_short(exc))) from exc
    leaf = _to_crypto(signer_cert)
    who = _who(leaf)
    base = dict(field=field, format=fmt, is_timestamp=is_timestamp,
                digest_algorithm=str(sig.md_algorithm), valid_from=leaf.not_valid_before_utc,
                valid_until=leaf.not_valid_after_utc, emails=addresses_of(leaf),
                fingerprint=hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest(), **who)
    notes: list[str] = []
    weak = _WEAK_DIGESTS.get(str(sig.md_algorithm))

    # 1. integrity: the signed bytes and the signature value
    if fmt == "adbe.pkcs7.sha1":
        intact, valid = _sha1_form_integrity(sig, signer_cert)
    elif is_timestamp:
        intact, valid = _doc_timestamp_integrity(sig, signer_cert)
    elif fmt in ("pades", "adbe.pkcs7.detached"):
        intact, valid = validate_sig_integrity(sig.signer_info, signer_cert, "data",
                                               sig.compute_digest())
    else:
        raise _Unverifiable(reasons.FORMAT_UNSUPPORTED(format=repr(fmt)))
    if not intact:
        return DocumentSignature.of(DocumentVerdict.INVALID, reasons.SIGNED_BYTES_CHANGED(),
                                    notes=tuple(notes), integrity="changed", **base)
    if not valid:
        return DocumentSignature.of(DocumentVerdict.INVALID, reasons.SIGNATURE_VALUE_WRONG(),
                                    notes=tuple(notes), integrity="signature-value-wrong",
                                    **base)
    base.update(integrity="intact")
    if weak:
        return DocumentSignature.of(DocumentVerdict.INVALID,
                                    reasons.WEAK_DIGEST(algorithm=weak), notes=tuple(notes),
                                    **base)

    # 2. coverage and what later revisions changed
    sig.compute_integrity_info()
    summary = sig.summarise_integrity_info()
    coverage = _COVERAGE.get(summary["coverage"].value, "unclear")
    diff = summary["diff_result"]
    level = getattr(diff, "modification_level", None)
    modification = _MODIFICATION.get(level.value, "other") if level is not None else "other"
    base.update(coverage=coverage, modification_level=modification)
    if not summary["docmdp_ok"]:
        why = _short(diff) if isinstance(diff, Exception) else f"coverage {coverage}"
        return DocumentSignature.of(DocumentVerdict.MODIFIED,
                                    reasons.CHANGED_AFTER_SIGNING(detail=why),
                                    notes=tuple(notes), **base)

    # 3. when: a trusted timestamp, else the claimed time
    at, source, ts_note = _signing_time(sig, trust, now)
    if ts_note:
        notes.append(ts_note)

    # 4. the chain at that time, revocation from the configured CRLs (checked now)
    others = [_to_crypto(c) for c in sig.other_embedded_certs]
    purpose = TIME_STAMPING if is_timestamp else DOCUMENT_SIGNING
    check = trust.check(leaf, others, at=min(at or now, now), purpose=purpose,
                        revocation_at=now)
    verdict = _CHAIN_VERDICTS[check.status]
    reason: Reason | str = check.why or check.reason
    notes += check.notes
    revoked_at = check.revocation.revoked_at if check.revocation else None
    if (check.status is ChainStatus.REVOKED and source is TimeSource.TIMESTAMP
            and at is not None and revoked_at is not None and revoked_at > at):
        verdict = DocumentVerdict.VALID
        notes.append(f"{reason}, after the timestamped signing time "
                     f"{at:%Y-%m-%d %H:%M} UTC")
        reason = reasons.CHAINED(root=check.chain[-1].subject.rfc4514_string())
    if check.status is ChainStatus.UNTRUSTED:
        loop = _loop(leaf, others)
        if loop:
            verdict = DocumentVerdict.UNVERIFIABLE
            reason = reasons.CHAIN_LOOPS(loop=loop)
    if verdict is DocumentVerdict.VALID and at is not None and leaf.not_valid_after_utc < now:
        notes.append("valid when signed; the certificate expired on "
                     f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC since")
    return DocumentSignature.of(
        verdict, reasons.judged(reason, source.value), signing_time=at, time_source=source,
        chain=_chain(check), notes=tuple(notes), revocation=check.revocation, **base)


def _to_crypto(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def _who(cert: x509.Certificate) -> dict[str, str | None]:
    def first(oid: x509.ObjectIdentifier) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    return {
        "signer": first(NameOID.COMMON_NAME),
        "organisation": first(NameOID.ORGANIZATION_NAME),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
    }


def _chain(check: ChainCheck) -> tuple[str, ...]:
    return tuple(c.subject.rfc4514_string() for c in check.chain)


def _loop(leaf: x509.Certificate, others: Sequence[x509.Certificate]) -> str:
    """The names of a loop in the embedded certificates above ``leaf``, or ''."""
    by_subject = {c.subject: c for c in others}
    seen = [leaf.subject]
    current = leaf
    while current.issuer in by_subject and current.issuer != current.subject:
        current = by_subject[current.issuer]
        if current.subject in seen:
            names = [n.rfc4514_string() for n in (*seen, current.subject)]
            return " -> ".join(names[names.index(current.subject.rfc4514_string()):])
        seen.append(current.subject)
    return ""


def _signing_time(sig: Any, trust: TrustStore,
                  now: dt.datetime) -> tuple[dt.datetime | None, TimeSource, str]:
    """The time to judge the certificate at, where it came from, and a note.

    A trusted timestamp wins over the claimed signingTime. Some signing tools write
    local time (UTC+7) as if it were UTC: a claimed time 6 h 50 min to 7 h 10 min ahead
    of the trusted timestamp, or without one of ``now`` (the message's arrival, or the
    time of the command), is that quirk, judged at the claimed time minus 7 h, noted.
    """
    note = ""
    claimed = sig.self_reported_timestamp
    if claimed is not None and claimed.tzinfo is None:
        claimed = claimed.replace(tzinfo=dt.UTC)
    for token in _timestamp_tokens(sig.signer_info):
        at, problem = _check_token(token, sig.signer_info["signature"].native, trust)
        if problem is None and at is not None:
            if claimed is not None and _is_local_time_quirk(claimed, at):
                return at, TimeSource.TIMESTAMP, (
                    f"the claimed signing time {claimed:%Y-%m-%d %H:%M} UTC is 7 h ahead "
                    "of the trusted timestamp: the signing tool wrote local time (UTC+7) "
                    "as UTC")
            return at, TimeSource.TIMESTAMP, ""
        note = f"the embedded timestamp is not usable: {problem}"
    if claimed is not None:
        if _is_local_time_quirk(claimed, now):
            corrected = claimed - _VN_OFFSET
            return corrected, TimeSource.CLAIMED, (note + "; " if note else "") + (
                f"the claimed signing time {claimed:%Y-%m-%d %H:%M} UTC is 7 h ahead of "
                "the time of arrival: the signing tool wrote local time (UTC+7) as UTC; "
                f"judged at {corrected:%Y-%m-%d %H:%M} UTC")
        if claimed > now + _CLOCK_SKEW:
            return now, TimeSource.NONE, (note + "; " if note else "") + (
                f"the claimed signing time {claimed:%Y-%m-%d %H:%M} UTC is in the future")
        return claimed, TimeSource.CLAIMED, note
    return None, TimeSource.NONE, note


def _is_local_time_quirk(claimed: dt.datetime, reference: dt.datetime) -> bool:
    return _QUIRK_FROM <= claimed - reference <= _QUIRK_TO


def _timestamp_tokens(signer_info: cms.SignerInfo) -> list[cms.SignedData]:
    from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

    try:
        return list(extract_tst_data_iter(signer_info, signed=False))
    except Exception:
        return []


def _check_token(token: cms.SignedData, imprinted: bytes,
                 trust: TrustStore) -> tuple[dt.datetime | None, str | None]:
    """The token's time if it is intact, over ``imprinted`` and by a trusted TSA."""
    from pyhanko.sign.validation.generic_cms import (
        extract_certs_for_validation,
        validate_sig_integrity,
    )

    try:
        info = token["encap_content_info"]["content"].parsed
        if not isinstance(info, tsp.TSTInfo):
            return None, "it holds no TSTInfo"
        algo = info["message_imprint"]["hash_algorithm"]["algorithm"].native
        expected = hashlib.new(algo, imprinted).digest()
        if info["message_imprint"]["hashed_message"].native != expected:
            return None, "it does not cover this signature"
        certs = extract_certs_for_validation(token)
        raw = token["encap_content_info"]["content"].contents
        signer_info = token["signer_infos"][0]
        digest = hashlib.new(signer_info["digest_algorithm"]["algorithm"].native, raw).digest()
        intact, valid = validate_sig_integrity(signer_info, certs.signer_cert, "tst_info",
                                               digest)
        if not (intact and valid):
            return None, "its signature does not verify"
        at: dt.datetime = info["gen_time"].native
        check = trust.check(_to_crypto(certs.signer_cert),
                            [_to_crypto(c) for c in certs.other_certs],
                            at=at, purpose=TIME_STAMPING,
                            revocation_at=dt.datetime.now(dt.UTC))
        if not check.is_valid:
            return None, f"its authority is {check.status.value} ({check.reason})"
        return at, None
    except Exception as exc:
        return None, _short(exc)


def _doc_timestamp_integrity(sig: Any, signer_cert: asn1_x509.Certificate) -> tuple[bool, bool]:
    """A /DocTimeStamp: the token's imprint is the byte-range digest."""
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    eci = sig.signed_data["encap_content_info"]
    info = eci["content"].parsed
    imprint = info["message_imprint"]
    algo = imprint["hash_algorithm"]["algorithm"].native
    if imprint["hashed_message"].native != sig.compute_digest(algo):
        return False, True
    raw = eci["content"].contents
    return validate_sig_integrity(sig.signer_info, signer_cert, "tst_info",
                                  hashlib.new(sig.md_algorithm, raw).digest())


def _sha1_form_integrity(sig: Any, signer_cert: asn1_x509.Certificate) -> tuple[bool, bool]:
    """adbe.pkcs7.sha1: the CMS encapsulates the SHA-1 of the byte range and signs it."""
    from pyhanko.sign.validation.generic_cms import validate_sig_integrity

    content = sig.signed_data["encap_content_info"]["content"].native
    if not isinstance(content, bytes) or content != sig.compute_digest("sha1"):
        return False, True
    return validate_sig_integrity(sig.signer_info, signer_cert, "data",
                                  hashlib.new(sig.md_algorithm, content).digest())
