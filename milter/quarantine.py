"""Releasing and deleting held messages, audited (ARCHITECTURE.md: release re-enters after
the policy stage, so outbound mail is still signed).

The quarantine store lives in policies/; what happens on release needs the
pipeline's signing stages, the next hop and the audit log, which only milter/ composes.
"""

from __future__ import annotations

import asyncio

from audit import AdminEvent, AdminKind, AuditLog
from milter.act import begin, relay
from milter.context import Envelope, MessageContext
from milter.direction import Direction, Role
from milter.errors import MilterError, NextHopError
from milter.pipeline import Outcome, Pipeline
from milter.runtime import build_runtime
from milter.settings import Settings
from milter.stages import ON_RELEASE
from policies import MissingReason, PolicyError, Quarantine, act_reason


class ReleaseError(MilterError):
    """A held message could not be released; it stays in quarantine."""


def _reason(text: str) -> str:
    try:
        return act_reason(text)
    except MissingReason as exc:
        raise ReleaseError(str(exc)) from exc


async def release(config: Settings, qid: str, *, actor: str, reason: str) -> str:
    """Sign (outbound) and relay held message ``qid``, audit it with ``actor`` and
    ``reason``, then drop it from hold.

    :returns: the next hop's reply.
    :raises ReleaseError: no reason, unknown id, a refused recipient, or the next hop
        failing.
    """
    reason = _reason(reason)
    runtime = build_runtime(config)
    try:
        store = runtime.quarantine
        try:
            entry = store.get(qid)
            raw = store.read(qid)
        except PolicyError as exc:  # QuarantineNotFound, QuarantineError: said as they are
            raise ReleaseError(str(exc)) from exc
        direction = Direction(entry.direction.value)
        ctx = MessageContext.received(
            raw,
            listener="quarantine-release",
            role=Role.OUTBOUND if direction is Direction.OUTBOUND else Role.INBOUND,
            direction=direction,
            envelope=Envelope(entry.envelope_from, (), tuple(entry.recipients)),
            provincial=runtime.units.provincial(),
        )
        # who sent it, then signing: the stages the table marks to run on release
        pipeline = Pipeline([s for s in runtime.pipeline.stages if s.name in ON_RELEASE])
        verdict = await pipeline.run(ctx)
        if verdict.outcome is not Outcome.CONTINUE:
            raise ReleaseError(f"{qid} cannot be released: {verdict.reason or verdict.reply}")
        try:
            transaction = await begin(runtime.next_hop, ctx.envelope)
        except NextHopError as exc:
            raise ReleaseError(f"{qid} stays held: the next hop said {exc}") from exc
        done = await relay(transaction, ctx)
        reply = ctx.delivery.next_hop_reply
        if not done.reply.is_success:
            raise ReleaseError(f"{qid} stays held: the next hop said {reply}")
        if runtime.audit is not None:
            details: dict[str, str | int | float | bool | None] = {
                "reply": reply, "direction": direction.value, "reason": reason}
            if ctx.archived_sha256 is not None:  # the archive stage kept what left
                details["archived_sha256"] = ctx.archived_sha256
            await runtime.audit.admin(AdminEvent(
                kind=AdminKind.QUARANTINE_RELEASE, actor=actor, target=qid,
                unit_id=entry.unit_id, details=details,
            ))
        store.delete(qid)
        return reply
    finally:
        await runtime.close()


def delete(config: Settings, qid: str, *, actor: str, reason: str) -> None:
    """Delete held message ``qid`` for good, audited first with ``actor`` and ``reason``.

    :raises ReleaseError: no reason, unknown id or a store failure.
    """
    reason = _reason(reason)
    store = Quarantine(config.policies.quarantine.path,
                       retention_days=config.policies.quarantine.retention_days)
    try:
        try:
            entry = store.get(qid)
        except PolicyError as exc:
            raise ReleaseError(str(exc)) from exc
        log = AuditLog.open(config.audit)
        try:
            log.admin(AdminEvent(kind=AdminKind.QUARANTINE_DELETE, actor=actor, target=qid,
                                 unit_id=entry.unit_id,
                                 details={"sha256": entry.sha256, "reason": reason}))
        finally:
            log.close()
        store.delete(qid)
    finally:
        store.close()


def run_release(config: Settings, qid: str, *, actor: str, reason: str) -> str:
    """``release`` for the command line and the console."""
    return asyncio.run(release(config, qid, actor=actor, reason=reason))


__all__ = ["ReleaseError", "delete", "release", "run_release"]
