"""Signatures inside documents: PDF (verified) and OOXML/ODF (detected).

milter/ builds one `DocumentVerifier` at startup with `DocumentVerifier.from_config`
and calls `verify(data, filename)` for each attachment; the result is a value.
"""

from signer.documents.config import DocumentsConfig
from signer.documents.result import (
    DocumentKind,
    DocumentResult,
    DocumentSignature,
    DocumentVerdict,
    TimeSource,
)
from signer.documents.verifier import DocumentVerifier

__all__ = [
    "DocumentKind",
    "DocumentResult",
    "DocumentSignature",
    "DocumentVerdict",
    "DocumentVerifier",
    "DocumentsConfig",
    "TimeSource",
]
