"""The ``[signer.documents]`` table: trust for document signatures, and the limits."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signer.trustsettings import RevocationPolicy, TrustPreset

log = logging.getLogger("congvu.signer")


class DocumentsConfig(BaseModel):
    """Signatures inside documents. With no trust anchors or presets of its own, the
    S/MIME trust configuration (``[signer.smime]`` trust_anchors, intermediates, crls)
    applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    is_enabled: bool = Field(
        default=True, description="Verify the signatures inside attached documents.")
    trust: tuple[TrustPreset, ...] = Field(
        default=(),
        description="Trust presets: vgca (the Government Cipher Committee's CA: the G2 "
        "root and issuing CA shipped in the package, the G1 ones and the Party bodies' "
        "G2 CA once `congvu document trust fetch` or `trust add` installed them) and "
        "national (the Vietnam National Root CA, over the licensed public CAs, whose "
        "issuing certificates come from the signer's caIssuers URL). Every member is "
        "pinned by its SHA-256 and trusted by its bytes; presets count as this table's "
        "own trust, beside trust_anchors.")
    trust_anchors: tuple[Path, ...] = Field(
        default=(),
        description="PEM files of CAs trusted for document signatures; empty: the "
        "[signer.smime] trust anchors, intermediates and CRLs are used.")
    intermediates: tuple[Path, ...] = Field(
        default=(), description="PEM files of intermediate CAs (with trust_anchors).")
    crls: tuple[Path, ...] = Field(
        default=(), description="CRL files (PEM or DER) (with trust_anchors).")
    revocation: RevocationPolicy = Field(
        default=RevocationPolicy.REQUIRED,
        description="required: a signature whose revocation status cannot be learnt "
        "(no current OCSP answer, and no current CRL configured, cached or fetched) is "
        "unverifiable, with what could "
        "not be reached named; optional: it is valid, with a note.")
    is_crl_required: bool | None = Field(
        default=None,
        description="Replaced by revocation (true: required, false: optional); still "
        "read for this release, with a warning.")
    is_fetching: bool = Field(
        default=True,
        description="Ask the certificates' OCSP responders, fetch CRLs from their "
        "distribution points and missing issuer certificates from their caIssuers URLs "
        "(10 s per fetch, within timeout; 1 MiB per certificate or OCSP answer, 50 MiB "
        "per CRL). false: only configured and cached ones.")
    ocsp_rewrite: dict[str, str] = Field(
        default_factory=dict,
        description="OCSP responder URL prefixes and what to ask instead, for "
        "certificates that name an internal host, e.g. "
        '{ "http://ocsp.ca.ptc" = "http://ocsp.ca.gov.vn" }.')
    store_dir: Path = Field(
        default=Path("documents"),
        description="Where fetched CRLs and issuer certificates, and the revocation "
        "evidence each verdict used (content-addressed, kept once), are kept; relative "
        "paths are under the data directory.")
    max_size: int = Field(
        default=64 * 1024 * 1024, ge=1024,
        description="Documents larger than this many bytes are not verified (unverifiable).")
    max_signatures: int = Field(
        default=20, ge=1, le=500,
        description="Signatures verified per document; a document with more is unverifiable "
        "for the rest.")
    max_revisions: int = Field(
        default=100, ge=1, le=10_000,
        description="Incremental updates a PDF may have before its signatures are judged "
        "unverifiable (the difference analysis grows with them).")
    timeout: float = Field(
        default=10.0, gt=0, le=600,
        description="Seconds the service waits for one message's documents; then their "
        "signatures are recorded as unverifiable and the mail flows on.")

    @model_validator(mode="after")
    def _presets_once(self) -> DocumentsConfig:
        if len(set(self.trust)) != len(self.trust):
            raise ValueError("a trust preset is listed twice")
        return self

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        """Read ``is_crl_required`` as ``revocation`` for one release, with a warning."""
        if isinstance(data, dict) and data.get("is_crl_required") is not None:
            old = data["is_crl_required"]
            if isinstance(old, bool) and "revocation" not in data:
                data = {**data, "revocation": "required" if old else "optional"}
            log.warning("config key=signer.documents.is_crl_required renamed_to="
                        "signer.documents.revocation: write revocation = \"%s\"; the old "
                        "key is read for this release only", data.get("revocation"))
        return data

    @property
    def renamed_keys(self) -> list[str]:
        """Warnings for keys read under their old name (`config check`, the CLI)."""
        if self.is_crl_required is None:
            return []
        return [f"[signer.documents] is_crl_required is replaced by revocation = "
                f'"{self.revocation.value}"; the old key is read for this release only']
