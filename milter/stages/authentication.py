"""Inbound authentication: DKIM, S/MIME, SPF, DMARC and ARC on the bytes as received;
what follows from them (own-domain spoofing, DMARC dispositions); then our
Authentication-Results header in place of any forged one (RFC 8601 section 5)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from mailbase import ascii_line
from milter.context import MessageContext
from milter.direction import Direction
from milter.pipeline import CONTINUE, Outcome, StageKind, Verdict, quarantine, reject
from milter.replies import R451_SENDER_DNS, R550_FORGED_SENDER, R550_SENDER_REFUSED, Reply
from policies import Action, PoliciesConfig
from signer import (
    AuthChecker,
    Disposition,
    DkimResult,
    DkimVerifier,
    DmarcActions,
    MethodResult,
    SmimeResult,
    SmimeVerifier,
    authentication_results,
    remove_authentication_results,
)

# DNS lookups block: they run here, bounded by the resolver's time budget, so a slow
# DNS server delays only the messages that wait for it.
_DNS_THREADS = 16


def _dkim_record(result: DkimResult) -> dict[str, Any]:
    return {"method": "dkim", "operation": "verify", "result": result.result.value,
            "reason": result.reason, "domain": result.domain, "selector": result.selector,
            **(result.why.as_json() if result.why else {})}


def _smime_record(result: SmimeResult) -> dict[str, Any]:
    return {"method": "smime", "operation": "verify", "result": result.status.value,
            "reason": result.reason, "signer": result.signer,
            **(result.why.as_json() if result.why else {})}


class VerifyStage:
    """DKIM and S/MIME verification of inbound mail, before anything changes it."""

    name = "verify"
    kind: ClassVar[StageKind] = StageKind.VERIFY

    def __init__(self, dkim: DkimVerifier, smime: SmimeVerifier,
                 auth: AuthChecker | None = None) -> None:
        self.dkim = dkim
        self.smime = smime
        self.auth = auth
        self._executor = ThreadPoolExecutor(_DNS_THREADS, thread_name_prefix="congvu-dns")

    async def run(self, ctx: MessageContext) -> Verdict:
        """Record both verdicts on the context; verification never refuses by itself."""
        if ctx.direction is not Direction.INBOUND:
            return CONTINUE
        raw = ctx.original_content
        loop = asyncio.get_running_loop()
        dkim = await loop.run_in_executor(self._executor, functools.partial(
            self.dkim.verify, raw, header=ctx.header))
        smime = self.smime.verify(raw, header=ctx.header, sender=ctx.sender)
        ctx.dkim = tuple(dkim)
        ctx.smime = smime
        for result in dkim:
            ctx.record_auth(_dkim_record(result))
        if smime.status.value != "none":
            ctx.record_auth(_smime_record(smime))
        if self.auth is not None:
            # SPF against the original client only: without XFORWARD it is unknown
            # (""), never Postfix's own address.
            verdict = await loop.run_in_executor(self._executor, functools.partial(
                self.auth.check, client_ip=ctx.xforward.addr or "",
                helo=ctx.xforward.helo or "", mail_from=ctx.envelope.mail_from, raw=raw,
                sender=ctx.sender, dkim_results=dkim, header=ctx.header))
            ctx.authn = verdict
            for entry in verdict.audit():
                ctx.record_auth(entry)
        return CONTINUE

    def close(self) -> None:
        """Stop the DNS threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)


class AuthResultsStage:
    """Remove Authentication-Results claiming our authserv-id, then add ours."""

    name = "authentication-results"
    kind: ClassVar[StageKind] = StageKind.CHANGE

    def __init__(self, authserv_id: str) -> None:
        self.authserv_id = authserv_id

    async def run(self, ctx: MessageContext) -> Verdict:
        """Inbound only: outbound mail is ours and carries no results yet."""
        if ctx.direction is not Direction.INBOUND:
            return CONTINUE
        cleaned = remove_authentication_results(
            ctx.current_content, self.authserv_id,
            header=ctx.header if ctx.content is None else None)
        if cleaned is not ctx.current_content and cleaned != ctx.current_content:
            ctx.replace_content(cleaned)
        verdict = ctx.authn
        results: list[MethodResult] = (
            verdict.methods() if verdict is not None else list(ctx.dkim)
        )
        smime = ctx.smime
        if smime is not None and smime.status.value != "none":
            results.append(smime)
        ctx.prepend.append(authentication_results(self.authserv_id, results))
        return CONTINUE


# Most lenient first: with several recipient units, the strictest action wins.
_SEVERITY = [Disposition.ACCEPT, Disposition.TAG, Disposition.QUARANTINE, Disposition.REJECT,
             Disposition.TEMPFAIL]


def unit_dmarc_actions(
    policies: PoliciesConfig, chain: Callable[[str | None], Sequence[str]],
    base: DmarcActions,
) -> Callable[[MessageContext], DmarcActions]:
    """The DMARC actions for an inbound message: each recipient unit's resolved policy
    (``on_dmarc_*`` in ``[policies]`` and its overrides), ``base`` ([signer.auth]) for
    what no layer sets; with several recipient units, the strictest action wins, as
    for attachments, so no unit's policy is talked around."""

    def actions_for(ctx: MessageContext) -> DmarcActions:
        found = []
        owners: list[str | None] = [*ctx.recipient_units] or [None]
        for owner in owners:
            policy = policies.resolve(chain(owner), Direction.INBOUND.value)
            found.append(DmarcActions(
                on_reject=_or(policy.on_dmarc_reject, base.on_reject),
                on_quarantine=_or(policy.on_dmarc_quarantine, base.on_quarantine),
                on_fail=_or(policy.on_dmarc_fail, base.on_fail),
                on_temperror=base.on_temperror))
        return DmarcActions(*(max(values, key=_SEVERITY.index)
                              for values in zip(*(_fields(a) for a in found), strict=True)))

    return actions_for


def _or(action: Action | None, inherited: Disposition) -> Disposition:
    return inherited if action is None else Disposition(action.value)


def _fields(actions: DmarcActions) -> tuple[Disposition, ...]:
    return (actions.on_reject, actions.on_quarantine, actions.on_fail, actions.on_temperror)


class DmarcStage:
    """Inbound from untrusted clients: refuse mail that passes itself off as one of the
    province's domains, and act on DMARC failures as the recipient unit's policy says
    (``actions_for``), else as [signer.auth] says."""

    name = "dmarc"
    kind: ClassVar[StageKind] = StageKind.DECIDE

    def __init__(self, checker: AuthChecker, *, on_spoof: str,
                 actions_for: Callable[[MessageContext], DmarcActions] | None = None) -> None:
        self.checker = checker
        self.on_spoof = on_spoof
        self.actions_for = actions_for

    async def run(self, ctx: MessageContext) -> Verdict:
        """Reject, quarantine, tag or tempfail as the authentication results require."""
        verdict = ctx.authn
        if verdict is None or ctx.direction is not Direction.INBOUND or ctx.is_trusted_client:
            return CONTINUE
        spoof = verdict.own_domain_spoof()
        if spoof is not None:
            reason = f"Message refused as a forged provincial sender: {spoof}"
            action = Disposition(self.on_spoof)
            # the record of a forgery attempt: the report counts what was refused as
            # spoofing, under the domain the From claimed
            claimed = ctx.sender.domain or (ctx.sender.claims or (None,))[0]
            ctx.record_auth({
                "method": "dmarc", "operation": "verify", "result": "fail", "reason": spoof,
                "domain": claimed,
                "disposition": "spoof-refused" if action is Disposition.REJECT
                else f"spoof-{action.value}"})
            return self._act(ctx, action, reason, refusal=R550_FORGED_SENDER, detail=spoof)
        actions = self.checker.actions if self.actions_for is None else self.actions_for(ctx)
        decision = verdict.disposition(actions)
        return self._act(ctx, decision.disposition, decision.reason)

    def _act(self, ctx: MessageContext, disposition: Disposition, reason: str, *,
             refusal: Reply = R550_SENDER_REFUSED, detail: str | None = None) -> Verdict:
        ascii_reason = reason.encode("ascii", "replace").decode().replace("\n", " ")
        if disposition is Disposition.REJECT:
            # RFC 7208 8.4: a refused sender whose SPF failed reads its domain's exp= text
            # (made one printable ASCII line by signer/spf.py)
            note = ctx.authn.spf.reply_note() if ctx.authn is not None else None
            said = ascii_line(reason if detail is None else detail)
            return reject(ascii_reason if note is None else f"{ascii_reason}; {note}",
                          refusal, detail=said if note is None else f"{said}; {note}")
        if disposition is Disposition.QUARANTINE:  # held with a quarantine decision (act.plan)
            return quarantine(ascii_reason)
        if disposition is Disposition.TEMPFAIL:
            return Verdict(Outcome.TEMPFAIL, R451_SENDER_DNS, reason)
        if disposition is Disposition.TAG:
            ctx.add_header("X-Congvu-Authentication", ascii_reason)
        return CONTINUE
