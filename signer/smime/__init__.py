"""S/MIME (RFC 8551): sign outbound mail with a unit's certificate, verify inbound mail.

``SmimeSigner`` wraps a message as a detached multipart/signed; ``SmimeVerifier``
checks multipart/signed and opaque signed-data against trust anchors and CRLs and
returns an ``SmimeResult`` (never a bool).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signer.smime.config import MissingIdentity, SmimeConfig, SmimeIdentity
    from signer.smime.keys import SigningIdentity, load_identity, load_pem_identity
    from signer.smime.result import SignerReport, SmimeResult, SmimeStatus
    from signer.smime.signing import SignStatus, SmimeSigner, SmimeSignResult
    from signer.smime.verify import SmimeVerifier
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "signer.smime.config": ("MissingIdentity", "SmimeConfig", "SmimeIdentity"),
        "signer.smime.keys": ("SigningIdentity", "load_identity", "load_pem_identity"),
        "signer.smime.result": ("SignerReport", "SmimeResult", "SmimeStatus"),
        "signer.smime.signing": ("SignStatus", "SmimeSigner", "SmimeSignResult"),
        "signer.smime.verify": ("SmimeVerifier",),
    })

__all__ = [
    "MissingIdentity",
    "SignStatus",
    "SignerReport",
    "SigningIdentity",
    "SmimeConfig",
    "SmimeIdentity",
    "SmimeResult",
    "SmimeSignResult",
    "SmimeSigner",
    "SmimeStatus",
    "SmimeVerifier",
    "load_identity",
    "load_pem_identity",
]
