"""Detached CMS signatures from a per-identity template: one RSA operation per message.

cryptography's PKCS7SignatureBuilder builds the whole SignedData again for every message
(certificates, algorithm sets, attributes, capabilities): on a 10 KB message that costs
about 0.3 ms of CPU beside the RSA signature itself. For one identity everything in it is
the same every time except three values of fixed length: the message digest (32 bytes of
SHA-256), the signing time (UTCTime, 13 bytes) and an RSA PKCS#1 v1.5 signature (the
modulus' length). The template is the builder's own output for an empty message, made
once per identity; each message gets its digest and time written over the template's,
its signed attributes signed as DER ``SET OF`` (RFC 5652 section 5.4), and that signature
written over the template's. The attributes keep their DER order, which their types and
lengths decide, not these values. Other keys (ECDSA signatures vary in length) and times
UTCTime cannot hold (2050 on) use the builder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from signer.smime.keys import SigningKey

OPTIONS = (pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary)
_UTC_TIME = 0x17
_TIME_LENGTH = 13  # YYMMDDHHMMSSZ


def build_signature(content: bytes, cert: x509.Certificate, key: SigningKey,
                    chain: tuple[x509.Certificate, ...]) -> bytes:
    """The detached SignedData (DER) cryptography's builder makes for ``content``:
    SHA-256, the signer's certificate and ``chain``, the S/MIME signed attributes."""
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())
    )
    # add_certificate after set_data: set_data drops the extra certificates.
    for extra in chain:
        builder = builder.add_certificate(extra)
    return builder.sign(serialization.Encoding.DER, OPTIONS)


def _utc_time(at: dt.datetime) -> bytes:
    return at.astimezone(dt.UTC).strftime("%y%m%d%H%M%SZ").encode("ascii")


def _only(haystack: bytes, needle: bytes) -> int:
    """Where ``needle`` is in ``haystack``, which must hold it exactly once."""
    at = haystack.find(needle)
    if at < 0 or haystack.find(needle, at + 1) >= 0:
        raise ValueError("the template's field is not found exactly once")
    return at


@dataclass(frozen=True, slots=True)
class SignatureTemplate:
    """One RSA identity's SignedData with the offsets of what changes per message."""

    der: bytes
    key: rsa.RSAPrivateKey
    #: where the signed attributes ([0] IMPLICIT SET OF Attribute) are in ``der``
    attrs_at: int
    attrs_end: int
    #: where the digest and the time are inside the signed attributes
    digest_at: int
    time_at: int
    #: where the signature is in ``der``, and its length
    signature_at: int
    signature_length: int

    @classmethod
    def for_identity(cls, cert: x509.Certificate, key: SigningKey,
                     chain: tuple[x509.Certificate, ...]) -> SignatureTemplate | None:
        """The template of an RSA identity, or None where the builder must sign."""
        if not isinstance(key, rsa.RSAPrivateKey):
            return None
        der = build_signature(b"", cert, key, chain)
        signer = acms.ContentInfo.load(der)["content"]["signer_infos"][0]
        attrs = signer["signed_attrs"]
        values = {attr["type"].native: attr["values"][0] for attr in attrs}
        time = values["signing_time"].chosen
        if time.tag != _UTC_TIME or len(time.contents) != _TIME_LENGTH:
            return None
        attrs_der = attrs.dump()
        signature = signer["signature"].native
        attrs_at = _only(der, attrs_der)
        return cls(
            der=der, key=key, attrs_at=attrs_at, attrs_end=attrs_at + len(attrs_der),
            digest_at=_only(attrs_der, values["message_digest"].dump()) + 2,
            time_at=_only(attrs_der, time.dump()) + 2,
            signature_at=_only(der, signature), signature_length=len(signature),
        )

    def sign(self, content: bytes, at: dt.datetime) -> bytes | None:
        """The SignedData of ``content`` signed at ``at``; None where UTCTime cannot
        hold ``at`` (the builder then writes GeneralizedTime)."""
        if not 1950 <= at.astimezone(dt.UTC).year < 2050:
            return None
        attrs = bytearray(self.der[self.attrs_at:self.attrs_end])
        attrs[self.digest_at:self.digest_at + 32] = hashlib.sha256(content).digest()
        attrs[self.time_at:self.time_at + _TIME_LENGTH] = _utc_time(at)
        # RFC 5652 section 5.4: the signature covers the attributes as a DER SET OF
        signed = b"\x31" + bytes(attrs[1:])
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        if len(signature) != self.signature_length:
            return None
        return b"".join((
            self.der[:self.attrs_at], attrs, self.der[self.attrs_end:self.signature_at],
            signature, self.der[self.signature_at + self.signature_length:],
        ))
