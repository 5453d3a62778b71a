"""Signatures inside documents: PDF (verified) and OOXML/ODF (detected).

milter/ builds one `DocumentVerifier` at startup with `DocumentVerifier.from_config`
and calls `verify(data, filename)` for each attachment; the result is a value.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signer.documents.config import DocumentsConfig
    from signer.documents.result import (
        DocumentKind,
        DocumentResult,
        DocumentSignature,
        DocumentVerdict,
        TimeSource,
    )
    from signer.documents.verifier import DocumentVerifier
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "signer.documents.config": ("DocumentsConfig",),
        "signer.documents.result": (
            "DocumentKind", "DocumentResult", "DocumentSignature", "DocumentVerdict",
            "TimeSource",
        ),
        "signer.documents.verifier": ("DocumentVerifier",),
    })

__all__ = [
    "DocumentKind",
    "DocumentResult",
    "DocumentSignature",
    "DocumentVerdict",
    "DocumentVerifier",
    "DocumentsConfig",
    "TimeSource",
]
