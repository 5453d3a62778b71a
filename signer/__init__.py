"""DKIM and S/MIME signing and verification, SPF, DMARC, ARC, and signatures inside documents."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from signer.arc import ArcResult, ArcStatus, ArcVerifier
    from signer.authcheck import (
        AuthChecker,
        AuthDecision,
        AuthVerdict,
        Disposition,
        DmarcActions,
        dmarc_disposition,
        own_domain_spoof,
    )
    from signer.authconfig import AuthConfig
    from signer.authresults import (
        MethodResult,
        authentication_results,
        remove_authentication_results,
    )
    from signer.cli import commands
    from signer.config import DkimConfig, SignerConfig
    from signer.dkim import DkimSigner, from_domain
    from signer.dkim_rotation import RotationStateError
    from signer.dkim_verify import AuthResult, DkimResult, DkimVerifier
    from signer.dmarc import DmarcChecker, DmarcPolicy, DmarcResult, DmarcStatus
    from signer.dns import DnsResolver
    from signer.dnscache import CachingResolver
    from signer.dnscheck import published_problems
    from signer.documents import (
        DocumentKind,
        DocumentResult,
        DocumentsConfig,
        DocumentVerdict,
        DocumentVerifier,
    )
    from signer.errors import (
        CertificateFileError,
        DnsTemporaryError,
        KeyFileError,
        NoSigningKeyError,
        SignerError,
        UnsignableMessageError,
    )
    from signer.reasons import CATALOGUE as REASONS_CATALOGUE
    from signer.reasons import REASONS
    from signer.rotation_store import copy_rotation
    from signer.smime import (
        SigningIdentity,
        SignStatus,
        SmimeConfig,
        SmimeResult,
        SmimeSigner,
        SmimeSignResult,
        SmimeStatus,
        SmimeVerifier,
    )
    from signer.spf import SpfChecker, SpfResult, SpfStatus
    from signer.trust import ChainStatus, TrustStore
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "signer.arc": ("ArcResult", "ArcStatus", "ArcVerifier"),
        "signer.authcheck": (
            "AuthChecker", "AuthDecision", "AuthVerdict", "Disposition", "DmarcActions",
            "dmarc_disposition", "own_domain_spoof",
        ),
        "signer.authconfig": ("AuthConfig",),
        "signer.authresults": (
            "MethodResult", "authentication_results", "remove_authentication_results",
        ),
        "signer.cli": ("commands",),
        "signer.config": ("DkimConfig", "SignerConfig"),
        "signer.dkim": ("DkimSigner", "from_domain"),
        "signer.dkim_rotation": ("RotationStateError",),
        "signer.dkim_verify": ("AuthResult", "DkimResult", "DkimVerifier"),
        "signer.dmarc": ("DmarcChecker", "DmarcPolicy", "DmarcResult", "DmarcStatus"),
        "signer.dns": ("DnsResolver",),
        "signer.dnscache": ("CachingResolver",),
        "signer.dnscheck": ("published_problems",),
        "signer.documents": (
            "DocumentKind", "DocumentResult", "DocumentsConfig", "DocumentVerdict",
            "DocumentVerifier",
        ),
        "signer.errors": (
            "CertificateFileError", "DnsTemporaryError", "KeyFileError",
            "NoSigningKeyError", "SignerError", "UnsignableMessageError",
        ),
        "signer.reasons": ("CATALOGUE as REASONS_CATALOGUE", "REASONS"),
        "signer.rotation_store": ("copy_rotation",),
        "signer.smime": (
            "SigningIdentity", "SignStatus", "SmimeConfig", "SmimeResult", "SmimeSigner",
            "SmimeSignResult", "SmimeStatus", "SmimeVerifier",
        ),
        "signer.spf": ("SpfChecker", "SpfResult", "SpfStatus"),
        "signer.trust": ("ChainStatus", "TrustStore"),
    })

__all__ = [
    "REASONS",
    "REASONS_CATALOGUE",
    "ArcResult",
    "ArcStatus",
    "ArcVerifier",
    "AuthChecker",
    "AuthConfig",
    "AuthDecision",
    "AuthResult",
    "AuthVerdict",
    "CachingResolver",
    "CertificateFileError",
    "ChainStatus",
    "Disposition",
    "DkimConfig",
    "DkimResult",
    "DkimSigner",
    "DkimVerifier",
    "DmarcActions",
    "DmarcChecker",
    "DmarcPolicy",
    "DmarcResult",
    "DmarcStatus",
    "DnsResolver",
    "DnsTemporaryError",
    "DocumentKind",
    "DocumentResult",
    "DocumentVerdict",
    "DocumentVerifier",
    "DocumentsConfig",
    "KeyFileError",
    "MethodResult",
    "NoSigningKeyError",
    "RotationStateError",
    "SignStatus",
    "SignerConfig",
    "SignerError",
    "SigningIdentity",
    "SmimeConfig",
    "SmimeResult",
    "SmimeSignResult",
    "SmimeSigner",
    "SmimeStatus",
    "SmimeVerifier",
    "SpfChecker",
    "SpfResult",
    "SpfStatus",
    "TrustStore",
    "UnsignableMessageError",
    "authentication_results",
    "commands",
    "copy_rotation",
    "dmarc_disposition",
    "from_domain",
    "own_domain_spoof",
    "published_problems",
    "remove_authentication_results",
]
