"""The ``[signer.documents]`` table: trust for document signatures, and the limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class DocumentsConfig(BaseModel):
    """Signatures inside documents. With no trust anchors of its own, the S/MIME trust
    configuration (``[signer.smime]`` trust_anchors, intermediates, crls) applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    is_enabled: bool = Field(
        default=True, description="Verify the signatures inside attached documents.")
    trust_anchors: tuple[Path, ...] = Field(
        default=(),
        description="PEM files of CAs trusted for document signatures; empty: the "
        "[signer.smime] trust anchors, intermediates and CRLs are used.")
    intermediates: tuple[Path, ...] = Field(
        default=(), description="PEM files of intermediate CAs (with trust_anchors).")
    crls: tuple[Path, ...] = Field(
        default=(), description="CRL files (PEM or DER) (with trust_anchors).")
    is_crl_required: bool = Field(
        default=False,
        description="A signer whose issuer has no configured CRL is unverifiable, not valid.")
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
