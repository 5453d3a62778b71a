"""Errors raised by signer/.

    SignerError            anything signer/ could not do
    ├── KeyFileError       a private key file that cannot be used (path, reason)
    ├── DnsTemporaryError  a DNS lookup that got no answer (name, reason): temperror
    ├── UnsignableMessageError  a message DKIM must not sign (reason)
    ├── NoSigningKeyError  no active DKIM key for a domain (domain)
    ├── DkimError          a DKIM signature or key record that cannot be checked
    ├── CertificateFileError  a certificate or CRL file that cannot be used (path, reason)
    ├── FetchError         a CA certificate, CRL or OCSP answer not fetched (url, reason)
    └── TrustPinError      a certificate offered for a trust preset that no pin matches
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbase import Reason


class SignerError(Exception):
    """signer/ could not do what was asked; the message says what and where."""


class KeyFileError(SignerError):
    """A private key file that is missing, unreadable, too open, too weak or broken.

    ``path`` is the file, ``reason`` what is wrong with it.
    """

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"key file {path}: {reason}")
        self.path = path
        self.reason = reason


class DnsTemporaryError(SignerError):
    """A DNS lookup that got no answer (timeout, SERVFAIL): a temporary failure."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"DNS lookup of {name} failed: {reason}")
        self.name = name
        self.reason = reason


class UnsignableMessageError(SignerError):
    """A message that DKIM must not sign as it is (no From, several From headers...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"message not signed: {reason}")
        self.reason = reason


class NoSigningKeyError(SignerError):
    """No active DKIM signing key is configured for the domain."""

    def __init__(self, domain: str) -> None:
        super().__init__(f"no active DKIM key for domain {domain!r}; add one to [signer.dkim]")
        self.domain = domain


class DkimError(SignerError):
    """A DKIM signature or key record that cannot be checked; ``result`` is its RFC 8601 result.

    Raised only inside verification, which turns it into a result value.
    """

    def __init__(self, result: str, why: Reason) -> None:
        super().__init__(why.text)
        self.result = result
        self.reason = why.text
        #: the reason's code and parameters (signer/reasons.py), ``reason`` its English
        self.why = why


class CertificateFileError(SignerError):
    """A certificate or CRL file that is missing, unreadable or holds nothing usable.

    ``path`` is the file, ``reason`` what is wrong with it.
    """

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"certificate file {path}: {reason}")
        self.path = path
        self.reason = reason


class FetchError(SignerError):
    """A CA certificate or CRL that could not be fetched within the limits.

    ``url`` is what was asked for, ``reason`` what went wrong (timeout, refused, too
    large, an HTTP status). Verification turns it into an ``unknown`` revocation status
    or an untrusted chain with the URL named; ``document trust fetch`` reports it.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class TrustPinError(SignerError):
    """A certificate offered for a trust preset whose SHA-256 matches no pinned member.

    ``source`` is the file or URL, ``fingerprint`` the certificate's SHA-256 (hex).
    """

    def __init__(self, source: object, fingerprint: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.fingerprint = fingerprint
        self.reason = reason
