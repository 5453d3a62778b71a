"""`DocumentVerifier`: which documents carry a valid digital signature."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from pathlib import Path

from signer import reasons
from signer.documents.config import DocumentsConfig
from signer.documents.office import verify_office
from signer.documents.pdf import PdfLimits, has_signature_marker, verify_pdf
from signer.documents.result import (
    DocumentKind,
    DocumentResult,
    DocumentSignature,
    DocumentVerdict,
)
from signer.documents.roles import Roles, UnitDirectory
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher, within
from signer.presets import load_presets
from signer.revocation import (
    Revocation,
    RevocationMethod,
    RevocationPolicy,
    RevocationStatus,
)
from signer.smime.config import SmimeConfig
from signer.trust import TrustStore, load_certificates, load_crl

_PDF_MAGIC = b"%PDF-"
_ZIP_MAGIC = b"PK\x03\x04"
# PDF readers accept the header anywhere in the first 1024 bytes (ISO 32000 7.5.2 note).
_PDF_HEAD = 1024
log = logging.getLogger("congvu.signer")
_NOT_A_DOCUMENT = DocumentResult(DocumentKind.NONE, reason="not a PDF or Office document")


class DocumentVerifier:
    """Verify the digital signatures inside PDF and Office documents.

    Built once from the trust configuration (shared with S/MIME unless
    ``[signer.documents]`` names its own anchors); `verify` never raises on bad input.

    :param timeout: seconds one `verify` may spend fetching CRLs and issuers in all
        (the service's ``[signer.documents] timeout``); None: 10 s per fetch only.
    :param directory: the directory that says whose each valid signature is
        (organisation, person); without one every role is unknown and no file complete.
    """

    def __init__(self, trust: TrustStore, *, max_size: int = 64 * 1024 * 1024,
                 limits: PdfLimits | None = None, timeout: float | None = None,
                 directory: UnitDirectory | None = None) -> None:
        self.trust = trust
        self.max_size = max_size
        self.limits = limits or PdfLimits()
        self.timeout = timeout
        self.roles = Roles(directory) if directory is not None else None

    @classmethod
    def from_config(cls, documents: DocumentsConfig, smime: SmimeConfig | None = None,
                    *, extra_anchors: tuple[Path, ...] = (),
                    extra_intermediates: tuple[Path, ...] = (),
                    is_offline: bool = False,
                    directory: UnitDirectory | None = None) -> DocumentVerifier:
        """The verifier the configuration describes.

        ``documents.trust`` presets and ``documents.trust_anchors`` (with its
        intermediates and CRLs) when either is set, else the S/MIME ones (its presets
        included);
        ``extra_anchors`` and ``extra_intermediates`` (``--ca``, ``--intermediate``)
        add to them; ``directory`` gives the signatures their roles. ``is_offline``
        (or ``is_fetching = false``)
        fetches nothing: only configured and cached CRLs and issuers are used.

        :raises CertificateFileError: a trust file that cannot be used; it names the file.
        """
        source: DocumentsConfig | SmimeConfig = documents
        if not documents.trust_anchors and not documents.trust and smime is not None:
            source = smime
        store = EvidenceStore(documents.store_dir)
        presets, missing = load_presets(source.trust, documents.store_dir)
        if missing:
            log.warning("trust presets incomplete missing=%s: run `congvu document trust "
                        "fetch` (or `trust add FILE`)", ",".join(m.sha256[:16] for m in missing))
        trust = TrustStore(
            anchors=[*presets, *(c for path in (*source.trust_anchors, *extra_anchors)
                                 for c in load_certificates(path))],
            intermediates=[c for path in (*source.intermediates, *extra_intermediates)
                           for c in load_certificates(path)],
            crls=[load_crl(path) for path in source.crls],
            is_crl_required=documents.revocation is RevocationPolicy.REQUIRED,
            fetcher=Fetcher(is_enabled=documents.is_fetching and not is_offline),
            store=store,
            ocsp_rewrite=documents.ocsp_rewrite,
        )
        return cls(trust, max_size=documents.max_size,
                   limits=PdfLimits(max_signatures=documents.max_signatures,
                                    max_revisions=documents.max_revisions),
                   timeout=documents.timeout, directory=directory)

    @staticmethod
    def kind_of(data: bytes) -> DocumentKind:
        """PDF, a zip that may be an Office package (OOXML), or NONE, from the first bytes."""
        if _PDF_MAGIC in data[:_PDF_HEAD]:
            return DocumentKind.PDF
        if data[:4] == _ZIP_MAGIC:
            return DocumentKind.OOXML
        return DocumentKind.NONE

    def verify(self, data: bytes, filename: str | None = None, *,
               now: dt.datetime | None = None) -> DocumentResult:
        """The signatures in ``data`` and their verdicts; at once for other files.

        Never raises on bad input: what the PDF and Office readers cannot read is an
        ``unverifiable`` signature with the reason (the mail flows on).
        """
        try:
            with within(self.timeout):
                result = self._with_revocation(self._verify(data, filename, now))
            return self.roles.assign(result) if self.roles is not None else result
        except Exception as exc:  # a reader bug on hostile bytes must not stop mail
            log.warning("document %s could not be verified: %r", filename or "?", exc)
            why = reasons.NOT_VERIFIED(error=type(exc).__name__)
            return self._with_revocation(DocumentResult(self.kind_of(data), (
                DocumentSignature.of(DocumentVerdict.UNVERIFIABLE, why),), why.text, filename))

    def _with_revocation(self, result: DocumentResult) -> DocumentResult:
        """Every signature with a revocation object: ``unknown``/``none`` where the
        check did not run (the signature failed before it)."""
        if all(s.revocation is not None for s in result.signatures):
            return result
        unchecked = Revocation(RevocationStatus.UNKNOWN, RevocationMethod.NONE,
                               dt.datetime.now(dt.UTC), "not checked",
                               is_required=self.trust.is_crl_required)
        return replace(result, signatures=tuple(
            s if s.revocation is not None else replace(s, revocation=unchecked)
            for s in result.signatures))

    def _verify(self, data: bytes, filename: str | None,
                now: dt.datetime | None) -> DocumentResult:
        guess = self.kind_of(data)
        if guess is DocumentKind.NONE:
            return DocumentResult(DocumentKind.NONE, reason=_NOT_A_DOCUMENT.reason,
                                  filename=filename)
        if len(data) > self.max_size:
            megabytes = self.max_size // (1024 * 1024)
            limit = reasons.TOO_LARGE_TO_VERIFY(megabytes=megabytes).text
            if guess is DocumentKind.PDF and has_signature_marker(data):
                return DocumentResult(guess, (DocumentSignature.of(
                    DocumentVerdict.UNVERIFIABLE,
                    reasons.DOCUMENT_TOO_LARGE(megabytes=megabytes)),),
                    reason=limit, filename=filename)
            return DocumentResult(guess if guess is DocumentKind.PDF else DocumentKind.NONE,
                                  reason=limit, filename=filename)
        if guess is DocumentKind.PDF:
            signatures, reason = verify_pdf(data, self.trust, limits=self.limits, now=now)
            return DocumentResult(DocumentKind.PDF, tuple(signatures), reason, filename)
        kind, found, reason = verify_office(
            data, self.trust, max_signatures=self.limits.max_signatures, now=now)
        return DocumentResult(kind, tuple(found), reason, filename)
