"""DKIM and S/MIME signing and verification, SPF, DMARC, ARC, and signatures inside documents."""

from signer.authresults import authentication_results, remove_authentication_results
from signer.cli import commands
from signer.config import DkimConfig, SignerConfig
from signer.dkim import DkimSigner, from_domain
from signer.dkim_verify import AuthResult, DkimResult, DkimVerifier
from signer.dns import DnsResolver
from signer.errors import (
    DnsTemporaryError,
    KeyFileError,
    NoSigningKeyError,
    SignerError,
    UnsignableMessageError,
)

__all__ = [
    "AuthResult",
    "DkimConfig",
    "DkimResult",
    "DkimSigner",
    "DkimVerifier",
    "DnsResolver",
    "DnsTemporaryError",
    "KeyFileError",
    "NoSigningKeyError",
    "SignerConfig",
    "SignerError",
    "UnsignableMessageError",
    "authentication_results",
    "commands",
    "from_domain",
    "remove_authentication_results",
]
