"""S/MIME verification of inbound mail, on the bytes as received.

Only a signature that covers the whole visible message counts (the S/MIME signature
spoofing classes of "Johnny, you are fired", USENIX Security 2019): the top-level
entity must be multipart/signed or application/pkcs7-mime signed-data. A signed part
nested inside an unsigned message, or a forwarded signed message, is at most
``neutral``. Every signer must hold up: one bad signer makes the message ``fail``.
The signer's certificate must chain to a configured trust anchor, be valid now and at
the claimed signing time, fit for emailProtection, not revoked, and name the From
address; a valid signature by someone else is ``policy``, never ``pass``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from pathlib import Path

from mailbase import FromVerdict, HeaderBlock, Reason, read_from
from signer import reasons
from signer.evidence import EvidenceStore
from signer.presets import load_presets
from signer.smime.cms import CmsError, SignatureStatus, SignedData, SignerCheck, check_signed_data
from signer.smime.config import SmimeConfig
from signer.smime.keys import certificate_addresses
from signer.smime.mime import Entity, split_entity, split_multipart, to_crlf, walk_types
from signer.smime.result import SignerReport, SmimeResult, SmimeStatus, worst
from signer.trust import ChainStatus, TrustStore

_SIGNATURE_TYPES = {"application/pkcs7-signature", "application/x-pkcs7-signature"}
_OPAQUE_TYPES = {"application/pkcs7-mime", "application/x-pkcs7-mime"}
_NESTED_HINT = re.compile(rb"(?i)pkcs7-(?:signature|mime)|multipart/signed")
_CLOCK_SKEW = dt.timedelta(hours=1)
log = logging.getLogger("congvu.signer")
_FAILING = {
    ChainStatus.UNTRUSTED, ChainStatus.EXPIRED, ChainStatus.NOT_YET_VALID,
    ChainStatus.WRONG_USAGE, ChainStatus.REVOKED,
}


class SmimeVerifier:
    """Verifies S/MIME signatures against the configured trust anchors and CRLs."""

    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust

    @classmethod
    def from_config(cls, config: SmimeConfig, *,
                    store_dir: Path | None = None) -> SmimeVerifier:
        """Load the trust presets, anchors, intermediates and CRLs the configuration names.

        ``store_dir`` (``[signer.documents] store_dir``) holds the preset members that
        `document trust fetch` installed, and the issuer certificates, CRLs and OCSP
        answers document verification fetched: used here, never fetched here (the
        mail would wait). Without it only the shipped preset members count.

        :raises CertificateFileError: an unreadable file, naming it.
        """
        presets, missing = load_presets(config.trust, store_dir)
        if missing:
            log.warning("smime trust presets incomplete missing=%s: run `congvu document "
                        "trust fetch` (or `trust add FILE`)",
                        ",".join(m.sha256[:16] for m in missing))
        files = TrustStore.from_files(config.trust_anchors, config.intermediates, config.crls)
        return cls(TrustStore(
            anchors=[*presets, *files.anchors], intermediates=files.intermediates,
            crls=files.crls, is_crl_required=config.is_crl_required,
            store=EvidenceStore(store_dir) if store_dir is not None else None))

    def verify(self, raw: bytes, *, now: dt.datetime | None = None,
               header: HeaderBlock | None = None,
               sender: FromVerdict | None = None) -> SmimeResult:
        """The S/MIME verdict on a message as received; never raises on bad input.

        :param header: ``raw``'s header as :func:`mailbase.read_header` read it, and
            ``sender`` the one reading of its From (:func:`mailbase.read_from`), as the
            milter made them at the door; read here when not given.
        :raises ValueError: ``header`` was read from other bytes (a caller's mistake).
        """
        now = now or dt.datetime.now(dt.UTC)
        entity = split_entity(raw, header=header)
        try:
            return self._verify(raw, entity, sender or read_from(entity.header), now)
        except CmsError as exc:
            return SmimeResult(SmimeStatus.PERMERROR, exc.reason)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
            # asn1crypto parses lazily (and recursively): malformed DER can surface anywhere.
            return SmimeResult.of(SmimeStatus.PERMERROR,
                                  reasons.SMIME_UNPARSABLE(detail=str(exc)))

    def _verify(self, raw: bytes, entity: Entity, sender: FromVerdict,
                now: dt.datetime) -> SmimeResult:
        # Two Content-Type fields let a client show another structure than the one
        # checked here (USENIX Security 2019, "MIME wrapping"): refuse to judge.
        if len(entity.values("content-type")) > 1:
            return SmimeResult.of(SmimeStatus.PERMERROR, reasons.SMIME_SEVERAL_TYPES())
        content_type = entity.content_type()
        if content_type.mime_type == "multipart/signed":
            protocol = (content_type.param("protocol") or "").lower()
            if protocol not in _SIGNATURE_TYPES:
                if protocol == "application/pgp-signature":
                    return SmimeResult.of(SmimeStatus.NONE, reasons.SMIME_OPENPGP())
                return SmimeResult.of(SmimeStatus.PERMERROR, reasons.SMIME_PROTOCOL(
                    protocol=protocol or "missing"))
            signed, content = self._detached(entity, content_type.param("boundary"))
        elif content_type.mime_type in _OPAQUE_TYPES:
            kind = (content_type.param("smime-type") or "").lower()
            if kind in {"enveloped-data", "authenveloped-data"}:
                return SmimeResult.of(SmimeStatus.NEUTRAL, reasons.SMIME_ENCRYPTED())
            if kind == "certs-only":
                return SmimeResult.of(SmimeStatus.NONE, reasons.SMIME_CERTS_ONLY())
            signed = check_signed_data(_decode_body(entity), None)
            content = signed.content
        else:
            return self._unsigned(raw)
        return self._judge(sender, signed, to_crlf(content), now)

    def _detached(self, entity: Entity, boundary: str | None) -> tuple[SignedData, bytes]:
        if not boundary:
            raise CmsError("multipart/signed without a boundary")
        parts, closed = split_multipart(entity.body, boundary)
        if not closed:
            raise CmsError("multipart/signed is not closed by its boundary")
        # RFC 1847 section 2.1: exactly the content and the signature; a third part
        # would be shown by some clients without being signed.
        if len(parts) != 2:
            raise CmsError(f"multipart/signed has {len(parts)} parts instead of 2")
        sig_part = split_entity(parts[1])
        if sig_part.content_type().mime_type not in _SIGNATURE_TYPES:
            raise CmsError("the second part of multipart/signed is "
                           f"{sig_part.content_type().mime_type}, not a signature")
        content = to_crlf(parts[0])
        return check_signed_data(_decode_body(sig_part), content), content

    @staticmethod
    def _unsigned(raw: bytes) -> SmimeResult:
        if _NESTED_HINT.search(raw):
            for number, mime_type in walk_types(raw):
                if mime_type in _SIGNATURE_TYPES | _OPAQUE_TYPES | {"multipart/signed"}:
                    return SmimeResult.of(SmimeStatus.NEUTRAL,
                                          reasons.SMIME_NESTED(part=str(number)))
        return SmimeResult.of(SmimeStatus.NONE, reasons.SMIME_UNSIGNED())

    def _judge(self, verdict: FromVerdict, signed: SignedData, content: bytes,
               now: dt.datetime) -> SmimeResult:
        sender = verdict.addr_spec
        sender_problem = verdict.ambiguity or ""
        changed = _changed_from(content, sender)
        reports = [self._report(check, signed, sender, sender_problem, now)
                   for check in signed.signers]
        if changed is not None:
            reports = [SignerReport(SmimeStatus.FAIL, changed.text, r.subject, r.addresses,
                                    r.serial, r.issuer, r.signing_time, r.chain, changed)
                       if r.status is SmimeStatus.PASS else r for r in reports]
        status = worst([r.status for r in reports])
        decisive = next(r for r in reports if r.status is status)
        why = decisive.why
        if len(reports) > 1 and status is not SmimeStatus.PASS:
            why = reasons.SMIME_SIGNER_OF(number=reports.index(decisive) + 1,
                                          count=len(reports),
                                          reason=decisive.why or decisive.reason)
        signer = sender if status is SmimeStatus.PASS and sender else (
            decisive.addresses[0] if decisive.addresses else "")
        return SmimeResult(status, why.text if why else decisive.reason, signer,
                           decisive.subject, tuple(reports), why)

    def _report(self, check: SignerCheck, signed: SignedData, sender: str | None,
                sender_problem: str, now: dt.datetime) -> SignerReport:
        cert = check.cert
        if cert is None:
            return SignerReport(SmimeStatus.PERMERROR, check.reason)
        addresses = certificate_addresses(cert)
        subject = cert.subject.rfc4514_string()

        def report(status: SmimeStatus, reason: Reason | str,
                   chain: tuple[str, ...] = ()) -> SignerReport:
            return SignerReport(status, str(reason), subject, addresses,
                                f"{cert.serial_number:x}", cert.issuer.rfc4514_string(),
                                check.signing_time, chain,
                                reason if isinstance(reason, Reason) else None)

        if check.status in {SignatureStatus.BAD_DIGEST, SignatureStatus.BAD_SIGNATURE,
                            SignatureStatus.WEAK}:
            return report(SmimeStatus.FAIL, check.reason)
        if check.status is not SignatureStatus.VALID:
            return report(SmimeStatus.PERMERROR, check.reason)
        untrusted = [c for c in signed.certificates if c is not cert]
        chain_check = self.trust.check(cert, untrusted, at=now)
        chain = tuple(c.subject.rfc4514_string() for c in chain_check.chain)
        if chain_check.status is ChainStatus.REVOCATION_UNKNOWN:
            return report(SmimeStatus.TEMPERROR, chain_check.why or chain_check.reason, chain)
        if chain_check.status in _FAILING:
            return report(SmimeStatus.FAIL, chain_check.why or chain_check.reason, chain)
        when = check.signing_time
        if when is not None:
            if when > now + _CLOCK_SKEW:
                return report(SmimeStatus.FAIL, reasons.SMIME_FUTURE(
                    time=f"{when:%Y-%m-%d %H:%M}"), chain)
            then = self.trust.check(cert, untrusted, at=when, revocation_at=now)
            if then.status in _FAILING:
                return report(SmimeStatus.FAIL, reasons.SMIME_AT_SIGNING_TIME(
                    time=f"{when:%Y-%m-%d %H:%M}", check=then.why or then.reason), chain)
        if sender is None:
            return report(SmimeStatus.PERMERROR,
                          reasons.SMIME_NO_SENDER(problem=sender_problem), chain)
        if sender.casefold() not in {a.casefold() for a in addresses}:
            named = ", ".join(addresses) or "no address"
            return report(SmimeStatus.POLICY, reasons.SMIME_NOT_THE_SENDER(
                names=named, sender=sender), chain)
        return report(SmimeStatus.PASS, reasons.SMIME_SIGNED(
            subject=subject, sender=sender, check=chain_check.why or chain_check.reason), chain)


def _decode_body(entity: Entity) -> bytes:
    encoding = (entity.first("content-transfer-encoding") or "").strip().lower()
    # Raw DER (binary transfer) starts with a SEQUENCE tag and a length octet; base64
    # of DER starts with "MI".
    if encoding != "base64" and entity.body[:1] == b"\x30" and entity.body[1:2] >= b"\x80":
        return entity.body
    try:
        return base64.b64decode(re.sub(rb"\s+", b"", entity.body), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CmsError("the signature part is not valid base64") from exc


def _changed_from(content: bytes, sender: str | None) -> Reason | None:
    """A reason when the signed content carries its own From (protected headers, or a
    wrapped message/rfc822, RFC 8551 section 3.1) that differs from the outer one."""
    inner = split_entity(content)
    if not inner.values("from") and inner.content_type().mime_type == "message/rfc822":
        inner = split_entity(inner.body)
    if not inner.values("from"):
        return None
    verdict = read_from(inner.header)
    signed_from = verdict.addr_spec
    if signed_from is None:
        return reasons.SMIME_SIGNED_FROM_UNUSABLE(problem=str(verdict.ambiguity))
    if sender is None or signed_from.casefold() != sender.casefold():
        return reasons.SMIME_FROM_CHANGED(signed=signed_from, now=sender or "unreadable")
    return None
