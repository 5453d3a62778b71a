"""S/MIME (RFC 8551): sign outbound mail with a unit's certificate, verify inbound mail.

``SmimeSigner`` wraps a message as a detached multipart/signed; ``SmimeVerifier``
checks multipart/signed and opaque signed-data against trust anchors and CRLs and
returns an ``SmimeResult`` (never a bool).
"""

from signer.smime.config import MissingIdentity, SmimeConfig, SmimeIdentity
from signer.smime.keys import SigningIdentity, load_identity, load_pem_identity
from signer.smime.result import SignerReport, SmimeResult, SmimeStatus
from signer.smime.signing import SignStatus, SmimeSigner, SmimeSignResult
from signer.smime.verify import SmimeVerifier

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
