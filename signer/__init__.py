"""DKIM and S/MIME signing and verification, SPF, DMARC, ARC, and signatures inside documents."""

from signer.authresults import authentication_results, remove_authentication_results
from signer.cli import commands
from signer.config import DkimConfig, SignerConfig
from signer.dkim import DkimSigner, from_domain
from signer.dkim_verify import AuthResult, DkimResult, DkimVerifier
from signer.dns import DnsResolver
from signer.errors import (
    CertificateFileError,
    DnsTemporaryError,
    KeyFileError,
    NoSigningKeyError,
    SignerError,
    UnsignableMessageError,
)
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
from signer.trust import ChainStatus, TrustStore

__all__ = [
    "AuthResult",
    "CertificateFileError",
    "ChainStatus",
    "DkimConfig",
    "DkimResult",
    "DkimSigner",
    "DkimVerifier",
    "DnsResolver",
    "DnsTemporaryError",
    "KeyFileError",
    "NoSigningKeyError",
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
    "TrustStore",
    "UnsignableMessageError",
    "authentication_results",
    "commands",
    "from_domain",
    "remove_authentication_results",
]
