"""Inbound verification: DKIM and S/MIME on the bytes as received, then our
Authentication-Results header in place of any forged one (RFC 8601 section 5)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from milter.config import Direction
from milter.context import MessageContext
from milter.pipeline import CONTINUE, StageKind, Verdict
from signer import (
    DkimResult,
    DkimVerifier,
    SmimeResult,
    SmimeVerifier,
    authentication_results,
    remove_authentication_results,
)

# DNS lookups block: they run here, bounded by the resolver's time budget, so a slow
# DNS server delays only the messages that wait for it.
_DNS_THREADS = 16


def _dkim_record(result: DkimResult) -> dict[str, str | None]:
    return {"method": "dkim", "operation": "verify", "result": result.result.value,
            "reason": result.reason, "domain": result.domain, "selector": result.selector}


def _smime_record(result: SmimeResult) -> dict[str, str | None]:
    return {"method": "smime", "operation": "verify", "result": result.status.value,
            "reason": result.reason, "signer": result.signer}


class VerifyStage:
    """DKIM and S/MIME verification of inbound mail, before anything changes it."""

    name = "verify"
    kind: ClassVar[StageKind] = StageKind.VERIFY

    def __init__(self, dkim: DkimVerifier, smime: SmimeVerifier) -> None:
        self.dkim = dkim
        self.smime = smime
        self._executor = ThreadPoolExecutor(_DNS_THREADS, thread_name_prefix="congvu-dns")

    async def run(self, ctx: MessageContext) -> Verdict:
        """Record both verdicts on the context; verification never refuses by itself."""
        if ctx.direction is not Direction.INBOUND:
            return CONTINUE
        raw = ctx.original_content
        loop = asyncio.get_running_loop()
        dkim = await loop.run_in_executor(self._executor, self.dkim.verify, raw)
        smime = self.smime.verify(raw)
        ctx.results["dkim"] = dkim
        ctx.results["smime"] = smime
        auth = ctx.results.setdefault("auth", [])
        auth += [_dkim_record(result) for result in dkim]
        if smime.status.value != "none":
            auth.append(_smime_record(smime))
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
        cleaned = remove_authentication_results(ctx.current_content, self.authserv_id)
        if cleaned is not ctx.current_content and cleaned != ctx.current_content:
            ctx.replace_content(cleaned)
        results: list[DkimResult | SmimeResult] = list(ctx.results.get("dkim", []))
        smime = ctx.results.get("smime")
        if smime is not None and smime.status.value != "none":
            results.append(smime)
        ctx.prepend.append(authentication_results(self.authserv_id, results))
        return CONTINUE
