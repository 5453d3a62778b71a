"""DKIM and S/MIME signing and verification, SPF, DMARC, ARC, and signatures inside documents."""

from signer.cli import commands
from signer.config import SignerConfig
from signer.errors import SignerError

__all__ = ["SignerConfig", "SignerError", "commands"]
