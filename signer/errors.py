"""Errors raised by signer/.

    SignerError            anything signer/ could not do
"""

from __future__ import annotations


class SignerError(Exception):
    """signer/ could not do what was asked; the message says what and where."""
