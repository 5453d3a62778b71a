"""Releasing and deleting held messages, audited (ARCHITECTURE.md: release re-enters after
the policy stage, so outbound mail is still signed).

The quarantine store lives in policies/; what happens on release needs the
pipeline's signing stages, the next hop and the audit log, which only milter/ composes.

A release or deletion first claims the held message (``Quarantine.claim``), so on a
quarantine several servers share it happens once: a second release of the same message
meanwhile, from this server, another one or a console, is told who is releasing it; a
release that fails gives the message back, held as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from audit import AdminEvent, AdminKind, AuditLog
from milter.act import begin, relay
from milter.context import Envelope, MessageContext
from milter.direction import Direction, Role
from milter.errors import MilterError, NextHopError
from milter.pipeline import Outcome, Pipeline
from milter.runtime import Runtime, build_runtime
from milter.settings import Settings
from milter.stages import ON_RELEASE
from policies import (
    HeldClaim,
    MissingReason,
    PolicyError,
    Quarantine,
    QuarantineEntry,
    act_reason,
    open_quarantine,
)


class ReleaseError(MilterError):
    """A held message could not be released; it stays in quarantine."""


def _claim(store: Quarantine, qid: str, actor: str) -> HeldClaim:
    try:
        return store.claim(qid, by=f"{actor} on {socket.gethostname()}")
    except PolicyError as exc:  # QuarantineNotFound, QuarantineBusy, QuarantineError
        raise ReleaseError(str(exc)) from exc


def _reason(text: str) -> str:
    try:
        return act_reason(text)
    except MissingReason as exc:
        raise ReleaseError(str(exc)) from exc


async def release(config: Settings, qid: str, *, actor: str, reason: str) -> str:
    """Sign (outbound) and relay held message ``qid``, audit it with ``actor`` and
    ``reason``, then drop it from hold.

    :returns: the next hop's reply.
    :raises ReleaseError: no reason, unknown id, being released by someone else, a
        refused recipient, or the next hop failing.
    """
    reason = _reason(reason)
    runtime = build_runtime(config)
    try:
        store = runtime.quarantine
        claim = _claim(store, qid, actor)
        relayed = False
        try:
            ctx = await _relay(runtime, claim)
            relayed = True
            reply = ctx.delivery.next_hop_reply
            await _audit_release(runtime, claim.entry, ctx, actor=actor, reason=reason)
            store.delete(qid, claim=claim.token)
        except PolicyError as exc:
            raise ReleaseError(f"{qid} was relayed but is still held: {exc}") from exc
        finally:
            if not relayed:  # held as before, for the next try
                with contextlib.suppress(PolicyError):
                    store.unclaim(qid, claim.token)
        return reply
    finally:
        await runtime.close()


async def _relay(runtime: Runtime, claim: HeldClaim) -> MessageContext:
    """Sign (outbound) and relay the claimed message; its context, with the next hop's
    reply.

    :raises ReleaseError: the bytes cannot be read, a stage or the next hop refuses.
    """
    entry, qid = claim.entry, claim.entry.id
    try:
        raw = runtime.quarantine.read(qid)
    except PolicyError as exc:  # QuarantineError: said as it is
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
    if not done.reply.is_success:
        raise ReleaseError(f"{qid} stays held: the next hop said "
                           f"{ctx.delivery.next_hop_reply}")
    return ctx


async def _audit_release(runtime: Runtime, entry: QuarantineEntry, ctx: MessageContext, *,
                         actor: str, reason: str) -> None:
    if runtime.audit is None:
        return
    details: dict[str, str | int | float | bool | None] = {
        "reply": ctx.delivery.next_hop_reply, "direction": entry.direction.value,
        "reason": reason}
    if ctx.archived_sha256 is not None:  # the archive stage kept what left
        details["archived_sha256"] = ctx.archived_sha256
    await runtime.audit.admin(AdminEvent(
        kind=AdminKind.QUARANTINE_RELEASE, actor=actor, target=entry.id,
        unit_id=entry.unit_id, details=details,
    ))


def delete(config: Settings, qid: str, *, actor: str, reason: str) -> None:
    """Delete held message ``qid`` for good, audited first with ``actor`` and ``reason``.

    :raises ReleaseError: no reason, unknown id or a store failure.
    """
    reason = _reason(reason)
    try:
        store = open_quarantine(config.policies.quarantine)
    except PolicyError as exc:
        raise ReleaseError(str(exc)) from exc
    try:
        claim = _claim(store, qid, actor)
        entry = claim.entry
        try:
            log = AuditLog.open(config.audit)
            try:
                log.admin(AdminEvent(kind=AdminKind.QUARANTINE_DELETE, actor=actor,
                                     target=qid, unit_id=entry.unit_id,
                                     details={"sha256": entry.sha256, "reason": reason}))
            finally:
                log.close()
        except BaseException:
            with contextlib.suppress(PolicyError):  # not audited: held as before
                store.unclaim(qid, claim.token)
            raise
        try:
            store.delete(qid, claim=claim.token)
        except PolicyError as exc:
            raise ReleaseError(str(exc)) from exc
    finally:
        store.close()


def run_release(config: Settings, qid: str, *, actor: str, reason: str) -> str:
    """``release`` for the command line and the console."""
    return asyncio.run(release(config, qid, actor=actor, reason=reason))


__all__ = ["ReleaseError", "delete", "release", "run_release"]
