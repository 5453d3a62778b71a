"""S/MIME signing of outbound mail (RFC 8551): a detached multipart/signed wrapper.

The message's own header fields stay on the outside as the bytes they were, except the
``Content-*`` fields, which move inside the signed entity with the body. The signature
is CMS SignedData (RFC 5652) as ``cryptography``'s PKCS7SignatureBuilder makes it: SHA-256,
the signer's certificate and intermediates, and the signed attributes content type,
message digest, signing time and S/MIME capabilities. For an RSA identity the builder
makes it once, and each message's signature is written into that template
(signer/smime/template.py): the same bytes for one RSA operation.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509

from mailbase import HeaderBlock
from signer.smime.config import SmimeConfig
from signer.smime.keys import SigningIdentity, load_identity
from signer.smime.mime import base64_lines, canonical_content, is_content, split_entity, to_eol
from signer.smime.template import SignatureTemplate, build_signature

# Top-level types that already carry S/MIME or PGP protection (RFC 8551 section 3.2,
# RFC 1847): signing them again would hide the inner signature or the encryption.
_PROTECTED_TYPES = {
    "multipart/signed": "already signed (multipart/signed)",
    "multipart/encrypted": "encrypted (multipart/encrypted)",
    "application/pkcs7-mime": "already signed or encrypted (application/pkcs7-mime)",
    "application/x-pkcs7-mime": "already signed or encrypted (application/x-pkcs7-mime)",
}
_PREAMBLE = b"This is an S/MIME signed message."
#: the file name of the signature part (RFC 8551 section 3.4.3.2)
SIGNATURE_NAME = "smime.p7s"
_NAME = SIGNATURE_NAME.encode("ascii")


class SignStatus(StrEnum):
    """Whether a message was signed."""

    SIGNED = "signed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class SmimeSignResult:
    """The outcome of signing: ``message`` is the new bytes, or the original when skipped."""

    status: SignStatus
    message: bytes
    reason: str
    identity: str = ""
    #: signed, and the signed entity is the message's Content fields and body exactly as
    #: they came (only its other header fields were written anew, outside): not
    #: re-encoded to 7 bits, no line end changed. The archive's index then reads the
    #: message's parts as the pipeline walked them (milter/stages/archive.py)
    is_verbatim: bool = False
    #: the file name of the signature part added, when signed
    signature_name: str = ""

    @property
    def is_signed(self) -> bool:
        """True when ``message`` is the newly signed message."""
        return self.status is SignStatus.SIGNED


class SmimeSigner:
    """Signs messages with identities loaded once: by address, unit id or pattern.

    :param by_address: identities for exact sender addresses (matched case-insensitively).
    :param by_unit: identities for directory unit ids.
    :param patterns: (shell pattern, identity) pairs, tried in order.
    """

    def __init__(self, *, by_address: Mapping[str, SigningIdentity] | None = None,
                 by_unit: Mapping[str, SigningIdentity] | None = None,
                 patterns: Iterable[tuple[str, SigningIdentity]] = ()) -> None:
        self._by_address = {k.casefold(): v for k, v in (by_address or {}).items()}
        self._by_unit = dict(by_unit or {})
        self._patterns = [(p.casefold(), v) for p, v in patterns]
        # Each of this signer's own identities gets its signature template at its first
        # message (signer/smime/template.py); None: the builder signs for it.
        self._templates: dict[int, tuple[SigningIdentity, SignatureTemplate | None]] = {
            id(i): (i, None) for i in (*self._by_address.values(), *self._by_unit.values(),
                                       *(i for _, i in self._patterns))}
        self._pending = set(self._templates)

    @classmethod
    def from_config(cls, config: SmimeConfig) -> SmimeSigner:
        """Load every configured identity now.

        :raises KeyFileError: the first unusable key, certificate or passphrase file.
        """
        by_address: dict[str, SigningIdentity] = {}
        by_unit: dict[str, SigningIdentity] = {}
        patterns: list[tuple[str, SigningIdentity]] = []
        for entry in config.identities:
            loaded = load_identity(entry)
            if entry.address:
                by_address[entry.address] = loaded
            elif entry.unit:
                by_unit[entry.unit] = loaded
            elif entry.pattern:
                patterns.append((entry.pattern, loaded))
        return cls(by_address=by_address, by_unit=by_unit, patterns=patterns)

    @classmethod
    def single(cls, identity: SigningIdentity) -> SmimeSigner:
        """A signer with one identity used for every sender (the CLI's ``--cert/--key``)."""
        return cls(patterns=[("*", identity)])

    def identity_for(self, address: str, *, unit: str | None = None) -> SigningIdentity | None:
        """The identity for a sender: exact address, then ``unit``, then the first pattern."""
        folded = address.casefold()
        if folded in self._by_address:
            return self._by_address[folded]
        if unit is not None and unit in self._by_unit:
            return self._by_unit[unit]
        for pattern, identity in self._patterns:
            if fnmatch.fnmatchcase(folded, pattern):
                return identity
        return None

    def identity_for_address(self, address: str) -> SigningIdentity | None:
        """The identity made for exactly ``address`` (no unit, no pattern), or None."""
        return self._by_address.get(address.casefold())

    def sign(self, raw: bytes, identity: SigningIdentity, *,
             header: HeaderBlock | None = None) -> SmimeSignResult:
        """Wrap ``raw`` as multipart/signed with ``identity``'s signature.

        Already signed or encrypted mail, and mail whose header block reads two ways
        (a signature must not vouch for fields another program reads otherwise), are
        returned unchanged with ``SKIPPED``.

        :param header: ``raw``'s header as :func:`mailbase.read_header` read it; read
            here when not given.
        :raises ValueError: ``header`` was read from other bytes.
        """
        entity = split_entity(raw, header=header)
        if entity.header.defects:
            return SmimeSignResult(SignStatus.SKIPPED, raw, "not signed: the header block is "
                                   f"malformed: {entity.header.defects[0]}", identity.label)
        top = entity.content_type().mime_type
        if top in _PROTECTED_TYPES:
            return SmimeSignResult(SignStatus.SKIPPED, raw,
                                   f"not signed again: the message is {_PROTECTED_TYPES[top]}",
                                   identity.label)
        outer = [f for f in entity.fields if not is_content(f)]
        inner = [f for f in entity.fields if is_content(f)]
        content = canonical_content(inner, entity.body)
        signature = self._signature(content, identity)
        boundary = _boundary(content)
        eol = entity.eol
        signed = to_eol(content, eol)
        # (a copy and a comparison: microseconds, against a walk of the whole message)
        is_verbatim = signed == b"".join(f.raw + eol for f in inner) + eol + entity.body
        # the outer fields as they were written, each ended as the message ends its lines
        head = b"".join(f.raw + eol for f in outer)
        if not any(f.key == b"mime-version" for f in outer):
            head += b"MIME-Version: 1.0" + eol
        head += (
            b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";'
            + eol + b' micalg=sha-256; boundary="' + boundary + b'"' + eol
        )
        delimiter = b"--" + boundary
        body = b"".join([
            _PREAMBLE, eol, eol, delimiter, eol,
            signed, eol, delimiter, eol,
            b'Content-Type: application/pkcs7-signature; name="%s"' % _NAME, eol,
            b"Content-Transfer-Encoding: base64", eol,
            b'Content-Disposition: attachment; filename="%s"' % _NAME, eol,
            b"Content-Description: S/MIME Cryptographic Signature", eol, eol,
            base64_lines(signature, eol), eol, delimiter, b"--", eol,
        ])
        return SmimeSignResult(SignStatus.SIGNED, head + eol + body,
                               f"signed with the certificate of {identity.label}",
                               identity.label, is_verbatim, SIGNATURE_NAME)

    def _signature(self, content: bytes, identity: SigningIdentity) -> bytes:
        chain = tuple(cert for cert in identity.chain if cert.subject != cert.issuer)
        template = self._template(identity, chain)
        signed = template.sign(content, dt.datetime.now(dt.UTC)) if template else None
        return signed or build_signature(content, identity.cert, identity.key, chain)

    def _template(self, identity: SigningIdentity, chain: tuple[x509.Certificate, ...]
                  ) -> SignatureTemplate | None:
        key = id(identity)
        if key in self._pending:
            self._templates[key] = (identity, SignatureTemplate.for_identity(
                identity.cert, identity.key, chain))
            self._pending.discard(key)
        own = self._templates.get(key)
        return own[1] if own is not None and own[0] is identity else None


def _boundary(content: bytes) -> bytes:
    while True:
        boundary = b"=_congvu_" + secrets.token_hex(16).encode("ascii")
        if boundary not in content:
            return boundary
