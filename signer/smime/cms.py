"""CMS SignedData (RFC 5652) signature checks: asn1crypto parses, cryptography verifies.

``cryptography`` builds SignedData but has no public verifier; asn1crypto gives the
structure with the bytes as they were sent, so the signed attributes are verified over
exactly what the signer signed (re-tagged as a SET OF, section 5.4), and the message
digest attribute is compared with the digest of the exact content.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from enum import StrEnum

from asn1crypto import cms as acms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# RFC 8551 section 2.1 and RFC 6151/6194: no MD5 or SHA-1 signatures are accepted.
_WEAK = {"md5", "sha1"}
_RSA = {"rsassa_pkcs1v15", "sha224_rsa", "sha256_rsa", "sha384_rsa", "sha512_rsa"}
_ECDSA = {"ecdsa", "sha224_ecdsa", "sha256_ecdsa", "sha384_ecdsa", "sha512_ecdsa"}
# Parsing bounds: a signature is a few kilobytes; these leave room and stop floods.
MAX_SIGNERS = 8
MAX_CERTIFICATES = 32


class CmsError(ValueError):
    """SignedData that cannot be read at all; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureStatus(StrEnum):
    """What checking one SignerInfo found."""

    VALID = "valid"
    BAD_DIGEST = "bad-digest"
    BAD_SIGNATURE = "bad-signature"
    NO_CERTIFICATE = "no-certificate"
    WEAK = "weak"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class SignerCheck:
    """One signer's signature: status, reason, certificate and claimed signing time."""

    status: SignatureStatus
    reason: str
    cert: x509.Certificate | None = None
    signing_time: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SignedData:
    """A parsed SignedData: its certificates, its signers' checks, the content it covers."""

    certificates: tuple[x509.Certificate, ...]
    signers: tuple[SignerCheck, ...]
    content: bytes


def check_signed_data(der: bytes, content: bytes | None) -> SignedData:
    """Check every signature in a DER ContentInfo over ``content`` (None: encapsulated).

    :raises CmsError: not a readable SignedData, no content, or too many signers.
    """
    try:
        info = acms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise CmsError(f"the CMS structure is {info['content_type'].native}, "
                           "not signed-data")
        signed = info["content"]
        encap = signed["encap_content_info"]
        econtent_type = encap["content_type"].dotted
        if content is None:
            if encap["content"].native is None:
                raise CmsError("the signature is detached but no signed content was found")
            content = bytes(encap["content"].native)
        certificates = _certificates(signed)
        signer_infos = list(signed["signer_infos"])
    except CmsError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CmsError(f"the CMS signature cannot be parsed: {exc}") from exc
    if not signer_infos:
        raise CmsError("the CMS signature has no signer")
    if len(signer_infos) > MAX_SIGNERS:
        raise CmsError(f"the CMS signature has {len(signer_infos)} signers (at most "
                       f"{MAX_SIGNERS} are checked)")
    checks = tuple(_check_signer(si, certificates, content, econtent_type)
                   for si in signer_infos)
    return SignedData(tuple(certificates), checks, content)


def _certificates(signed: acms.SignedData) -> list[x509.Certificate]:
    found: list[x509.Certificate] = []
    for choice in signed["certificates"] or []:
        if choice.name != "certificate":
            continue  # attribute and other certificate formats are not used for S/MIME
        if len(found) >= MAX_CERTIFICATES:
            raise CmsError(f"the CMS signature carries more than {MAX_CERTIFICATES} "
                           "certificates")
        try:
            found.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        except ValueError:
            continue  # an unreadable extra certificate cannot help anyone
    return found


def _find_cert(sid: acms.SignerIdentifier,
               certificates: list[x509.Certificate]) -> x509.Certificate | None:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"].dump()
        serial = sid.chosen["serial_number"].native
        for cert in certificates:
            if cert.serial_number == serial and cert.issuer.public_bytes() == issuer:
                return cert
        return None
    wanted = sid.chosen.native
    for cert in certificates:
        try:
            ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except (x509.ExtensionNotFound, ValueError):
            continue
        if ski.digest == wanted:
            return cert
    return None


def _check_signer(si: acms.SignerInfo, certificates: list[x509.Certificate],
                  content: bytes, econtent_type: str) -> SignerCheck:
    cert = _find_cert(si["sid"], certificates)
    if cert is None:
        return SignerCheck(SignatureStatus.NO_CERTIFICATE,
                           "the signer's certificate is not in the signature")
    digest_name = si["digest_algorithm"]["algorithm"].native
    if digest_name in _WEAK:
        return SignerCheck(SignatureStatus.WEAK,
                           f"{digest_name.upper()} signatures are not accepted", cert)
    if digest_name not in _HASHES:
        return SignerCheck(SignatureStatus.UNSUPPORTED,
                           f"unsupported digest algorithm {digest_name}", cert)
    algorithm = _HASHES[digest_name]()
    signing_time: dt.datetime | None = None
    attrs = si["signed_attrs"]
    if attrs.native is not None and len(attrs):
        values: dict[str, list[object]] = {}
        for attr in attrs:
            values.setdefault(attr["type"].native, []).extend(attr["values"])
        types = values.get("content_type", [])
        digests = values.get("message_digest", [])
        # RFC 5652 section 5.3: exactly one content-type and one message-digest value.
        if len(types) != 1 or len(digests) != 1:
            return SignerCheck(SignatureStatus.BAD_SIGNATURE,
                               "the signed attributes lack one content type and one digest",
                               cert)
        if types[0].dotted != econtent_type:  # type: ignore[attr-defined]
            return SignerCheck(SignatureStatus.BAD_SIGNATURE,
                               "the signed content type does not match the content", cert)
        hasher = hashes.Hash(algorithm)
        hasher.update(content)
        if not hmac.compare_digest(hasher.finalize(), digests[0].native):  # type: ignore[attr-defined]
            return SignerCheck(SignatureStatus.BAD_DIGEST,
                               "the content was changed after signing (digest mismatch)",
                               cert)
        times = values.get("signing_time", [])
        if len(times) == 1:
            native = times[0].native  # type: ignore[attr-defined]
            if isinstance(native, dt.datetime):
                signing_time = native.astimezone(dt.UTC)
        # Section 5.4: the signature covers the DER SET OF, not the [0] IMPLICIT tag.
        signed_bytes = b"\x31" + attrs.dump()[1:]
    else:
        if econtent_type != "1.2.840.113549.1.7.1":
            return SignerCheck(SignatureStatus.BAD_SIGNATURE,
                               "no signed attributes over non-data content", cert)
        signed_bytes = content
    return _verify(si, cert, algorithm, signed_bytes, signing_time)


def _verify(si: acms.SignerInfo, cert: x509.Certificate, algorithm: hashes.HashAlgorithm,
            signed_bytes: bytes, signing_time: dt.datetime | None) -> SignerCheck:
    sig_name = si["signature_algorithm"]["algorithm"].native
    signature = si["signature"].native
    key = cert.public_key()
    try:
        if sig_name in _RSA and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed_bytes, padding.PKCS1v15(), algorithm)
        elif sig_name == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = si["signature_algorithm"]["parameters"]
            pss_hash = _HASHES.get(params["hash_algorithm"]["algorithm"].native)
            mgf_hash = _HASHES.get(
                params["mask_gen_algorithm"]["parameters"]["algorithm"].native)
            if pss_hash is None or mgf_hash is None:
                return SignerCheck(SignatureStatus.UNSUPPORTED,
                                   "unsupported RSA-PSS parameters", cert)
            key.verify(signature, signed_bytes,
                       padding.PSS(padding.MGF1(mgf_hash()), params["salt_length"].native),
                       pss_hash())
        elif sig_name in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed_bytes, ec.ECDSA(algorithm))
        else:
            return SignerCheck(SignatureStatus.UNSUPPORTED,
                               f"unsupported signature algorithm {sig_name} for a "
                               f"{type(key).__name__}", cert)
    except InvalidSignature:
        return SignerCheck(SignatureStatus.BAD_SIGNATURE,
                           "the signature does not verify with the signer's certificate",
                           cert, signing_time)
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        return SignerCheck(SignatureStatus.UNSUPPORTED,
                           f"the signature cannot be checked: {exc}", cert)
    return SignerCheck(SignatureStatus.VALID, "signature valid", cert, signing_time)
