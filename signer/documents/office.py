"""Signatures in Office packages: OOXML (_xmlsignatures/) and ODF (META-INF/*signatures.xml).

Detected and reported, not verified: each XML signature's certificate gives the signer,
and its chain is checked with the same TrustStore as PDFs at the time the signature
claims. Checking the package's integrity needs the OPC relationship transform (OOXML)
and per-part digests (ODF), which no well-kept Python library implements; so every
Office signature's verdict is ``unverifiable`` with that reason, or ``untrusted`` /
``expired`` / ``revoked`` when the certificate alone already rules it out.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import zipfile
import zlib
from xml.etree import ElementTree

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from signer import reasons
from signer.documents.pdf import DOCUMENT_SIGNING
from signer.documents.result import (
    DocumentKind,
    DocumentSignature,
    DocumentVerdict,
    TimeSource,
    addresses_of,
)
from signer.trust import ChainStatus, TrustStore

_DS = "{http://www.w3.org/2000/09/xmldsig#}"
_ODF_MIME = b"application/vnd.oasis.opendocument"
_ODF_SIGNATURES = ("META-INF/documentsignatures.xml", "META-INF/macrosignatures.xml")
_MAX_PART = 1024 * 1024
_TIME_TAGS = ("SignatureTime", "date", "SigningTime")


def office_kind(archive: zipfile.ZipFile) -> DocumentKind:
    """OOXML, ODF, or NONE for a zip that is neither."""
    names = set(archive.namelist())
    if "[Content_Types].xml" in names:
        return DocumentKind.OOXML
    if "mimetype" in names:
        info = archive.getinfo("mimetype")
        if info.file_size < 200 and archive.read(info).startswith(_ODF_MIME):
            return DocumentKind.ODF
    return DocumentKind.NONE


def signature_parts(archive: zipfile.ZipFile, kind: DocumentKind) -> list[str]:
    """The names of the XML signature parts in the package."""
    if kind is DocumentKind.OOXML:
        return sorted(n for n in archive.namelist()
                      if n.lower().startswith("_xmlsignatures/") and n.lower().endswith(".xml"))
    return [n for n in _ODF_SIGNATURES if n in archive.namelist()]


def verify_office(data: bytes, trust: TrustStore, *, max_signatures: int = 20,
                  now: dt.datetime | None = None
                  ) -> tuple[DocumentKind, list[DocumentSignature], str]:
    """The kind of package and a report for each XML signature in it."""
    now = now or dt.datetime.now(dt.UTC)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        kind = office_kind(archive)
        if kind is DocumentKind.NONE:
            return kind, [], "not an Office document"
        parts = signature_parts(archive, kind)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError,
            NotImplementedError, RuntimeError, zlib.error) as exc:
        return DocumentKind.NONE, [], f"not a readable package ({exc})"
    fmt = "ooxml-xmldsig" if kind is DocumentKind.OOXML else "odf-xmldsig"
    results: list[DocumentSignature] = []
    for part in parts:
        for signature in _read_part(archive, part, fmt):
            if len(results) >= max_signatures:
                results.append(DocumentSignature.of(
                    DocumentVerdict.UNVERIFIABLE,
                    reasons.TOO_MANY_OFFICE_SIGNATURES(limit=max_signatures)))
                return kind, results, "too many signatures"
            results.append(_judge(signature, part, fmt, trust, now) if isinstance(
                signature, ElementTree.Element) else signature)
    if not results:
        return kind, [], "no signature in the document"
    return kind, results, f"{len(results)} signature(s) detected; integrity not verified"


def _read_part(archive: zipfile.ZipFile, part: str,
               fmt: str) -> list[ElementTree.Element | DocumentSignature]:
    try:
        with archive.open(part) as stream:
            xml = stream.read(_MAX_PART + 1)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
            RuntimeError, zlib.error) as exc:
        return [DocumentSignature.of(DocumentVerdict.UNVERIFIABLE,
                                     reasons.OFFICE_PART_UNREADABLE(detail=str(exc)),
                                     field=part, format=fmt)]
    if len(xml) > _MAX_PART:
        return [DocumentSignature.of(DocumentVerdict.UNVERIFIABLE,
                                     reasons.OFFICE_PART_TOO_LARGE(), field=part, format=fmt)]
    # no DTD, so no entity expansion (billion laughs) and no external entities.
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        return [DocumentSignature.of(DocumentVerdict.UNVERIFIABLE, reasons.OFFICE_PART_DTD(),
                                     field=part, format=fmt)]
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        return [DocumentSignature.of(DocumentVerdict.UNVERIFIABLE,
                                     reasons.OFFICE_PART_NOT_XML(detail=str(exc)),
                                     field=part, format=fmt)]
    return list(root.iter(f"{_DS}Signature"))


def _judge(signature: ElementTree.Element, part: str, fmt: str, trust: TrustStore,
           now: dt.datetime) -> DocumentSignature:
    certs: list[x509.Certificate] = []
    for element in signature.iter(f"{_DS}X509Certificate"):
        try:
            certs.append(x509.load_der_x509_certificate(
                base64.b64decode("".join((element.text or "").split()))))
        except ValueError:
            continue
    field = f"{part}#{signature.get('Id')}" if signature.get("Id") else part
    if not certs:
        return DocumentSignature.of(DocumentVerdict.UNVERIFIABLE,
                                    reasons.OFFICE_NO_CERTIFICATE(), field=field, format=fmt)
    leaf = next((c for c in certs if not _is_ca(c)), certs[0])
    claimed = _claimed_time(signature)
    at = claimed if claimed is not None and claimed <= now else now
    check = trust.check(leaf, [c for c in certs if c is not leaf], at=at,
                        purpose=DOCUMENT_SIGNING, revocation_at=now)
    verdict = DocumentVerdict.UNVERIFIABLE
    reason = reasons.OFFICE_NOT_CHECKED(check=check.why or check.reason)
    if check.status in (ChainStatus.UNTRUSTED, ChainStatus.WRONG_USAGE):
        verdict = DocumentVerdict.UNTRUSTED
    elif check.status in (ChainStatus.EXPIRED, ChainStatus.NOT_YET_VALID):
        verdict = DocumentVerdict.EXPIRED
    elif check.status is ChainStatus.REVOKED:
        verdict = DocumentVerdict.REVOKED

    def first(oid: x509.ObjectIdentifier) -> str | None:
        values = leaf.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    from cryptography.x509.oid import NameOID

    return DocumentSignature.of(
        verdict, reason, field=field, format=fmt,
        signer=first(NameOID.COMMON_NAME), organisation=first(NameOID.ORGANIZATION_NAME),
        subject=leaf.subject.rfc4514_string(), issuer=leaf.issuer.rfc4514_string(),
        serial=format(leaf.serial_number, "x"), signing_time=claimed,
        time_source=TimeSource.CLAIMED if claimed else TimeSource.NONE,
        chain=tuple(c.subject.rfc4514_string() for c in check.chain),
        revocation=check.revocation, emails=addresses_of(leaf),
        fingerprint=hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest(),
    )


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _claimed_time(signature: ElementTree.Element) -> dt.datetime | None:
    for element in signature.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag not in _TIME_TAGS:
            continue
        text = (element.text or "").strip()
        if not text:
            value = next((e.text for e in element if e.tag.rsplit("}", 1)[-1] == "Value"), "")
            text = (value or "").strip()
        try:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return None
