"""Outbound signing: S/MIME with the unit's certificate, then DKIM over the final bytes
(ARCHITECTURE.md, the message's path: DKIM signing is the last stage that changes the bytes)."""

from __future__ import annotations

import logging
from typing import ClassVar

from milter.context import MessageContext
from milter.direction import Direction
from milter.logs import event
from milter.pipeline import CONTINUE, StageKind, Verdict, quarantine, reject
from milter.replies import R550_NO_SMIME_IDENTITY, R550_UNSIGNABLE
from milter.stages.units import UnitLookup
from signer import (
    DkimSigner,
    NoSigningKeyError,
    SmimeSigner,
    UnsignableMessageError,
)

log = logging.getLogger("congvu.milter")


class SmimeSignStage:
    """Sign outbound mail with the sender's identity (address, unit or pattern)."""

    name = "smime-sign"
    kind: ClassVar[StageKind] = StageKind.CHANGE

    def __init__(self, signer: SmimeSigner, on_missing: str) -> None:
        self.signer = signer
        self.on_missing = on_missing

    async def run(self, ctx: MessageContext) -> Verdict:
        """Wrap the message as multipart/signed, or act on a missing identity."""
        if ctx.direction is not Direction.OUTBOUND:
            return CONTINUE
        # The units stage bound the From to the sender; an address that is no unit's
        # (an official's own mailbox) takes only an identity made for that address.
        sender = ctx.sender.addr_spec or ""
        identity = (self.signer.identity_for(sender, unit=ctx.sender_unit)
                    if ctx.sender_unit is not None and not ctx.is_from_mailbox
                    else self.signer.identity_for_address(sender))
        if identity is None:
            reason = f"no S/MIME identity for {sender or 'the null sender'}"
            if self.on_missing == "reject":
                return reject(reason, R550_NO_SMIME_IDENTITY)
            if self.on_missing == "quarantine":
                return quarantine(reason)
            ctx.record_auth({"method": "smime", "operation": "sign", "result": "none",
                             "reason": reason})
            return CONTINUE
        result = self.signer.sign(ctx.current_content, identity,
                                  header=ctx.header if ctx.content is None else None)
        if result.is_signed:
            # signing the bytes as received, not re-encoded: the archive's index reads
            # them as the pipeline walked them, beside the signature's name
            ctx.replace_content(result.message, signature_name=result.signature_name if (
                ctx.content is None and result.is_verbatim) else None)
        ctx.record_auth({"method": "smime", "operation": "sign",
                         "result": "pass" if result.is_signed else "none",
                         "reason": result.reason, "signer": result.identity or None})
        return CONTINUE


class DkimSignStage:
    """Sign outbound mail for its From domain, or the sender's unit's DKIM domain."""

    name = "dkim-sign"
    kind: ClassVar[StageKind] = StageKind.SIGN

    def __init__(self, signer: DkimSigner, units: UnitLookup, *, on_unsignable: str) -> None:
        self.signer = signer
        self.units = units
        self.on_unsignable = on_unsignable

    def _domain(self, ctx: MessageContext) -> str | None:
        domain = ctx.sender.domain
        if domain is None:
            raise UnsignableMessageError(ctx.sender.ambiguity or "the From header is ambiguous")
        if self.signer.signs_for(domain):
            return domain
        if ctx.sender_unit is not None:
            unit_domain = self.units.index.dkim_domain(ctx.sender_unit)
            if unit_domain and self.signer.signs_for(unit_domain):
                return unit_domain
        return None

    async def run(self, ctx: MessageContext) -> Verdict:
        """Prepend the DKIM-Signature header(s) computed over the bytes that leave."""
        if ctx.direction is not Direction.OUTBOUND:
            return CONTINUE
        content = ctx.final_content
        try:
            domain = self._domain(ctx)
            if domain is None:
                ctx.record_auth({"method": "dkim", "operation": "sign", "result": "none",
                                 "reason": "no active key for the sender's domain"})
                return CONTINUE
            # the door's reading when the bytes that leave are the bytes received;
            # bytes of ours (S/MIME, strip, prepended lines) are read by the signer
            header = self.signer.sign(content, domain=domain, header=ctx.header
                                      if content is ctx.original_content else None)
        except (UnsignableMessageError, NoSigningKeyError) as exc:
            if self.on_unsignable == "refuse":
                return reject(str(exc), R550_UNSIGNABLE)
            event(log, "sent unsigned", logging.WARNING, reason=str(exc),
                  id=ctx.correlation_id)
            ctx.record_auth({"method": "dkim", "operation": "sign", "result": "none",
                             "reason": str(exc)})
            return CONTINUE
        ctx.prepend.append(header)
        ctx.record_auth({"method": "dkim", "operation": "sign", "result": "pass",
                         "reason": "signed", "domain": domain})
        return CONTINUE
