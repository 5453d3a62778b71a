"""The words the trust settings use: the pinned CA presets and the revocation policy.

``[signer.documents]`` and ``[signer.smime]`` name them. They live apart from the code
that loads certificates and asks CRLs and OCSP responders (signer/presets.py,
signer/revocation.py), so reading the configuration does not import a cryptography
library.
"""

from __future__ import annotations

from enum import StrEnum


class TrustPreset(StrEnum):
    """A named set of pinned CA certificates (``[signer.documents] trust``)."""

    VGCA = "vgca"  # Ban Cơ yếu Chính phủ's specialised PKI, G1 and G2
    NATIONAL = "national"  # the Vietnam National Root CA over the licensed public CAs


class RevocationPolicy(StrEnum):
    """Whether a signature whose revocation status is unknown can be valid."""

    REQUIRED = "required"  # unknown: the signature is unverifiable
    OPTIONAL = "optional"  # unknown: valid, with a note
