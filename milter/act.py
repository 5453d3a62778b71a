"""The one way out of the pipeline: relay through the next hop, hold, refuse or discard.

The handler acts on every message's verdict here, and quarantine release relays a held
message through the same :func:`relay`. Each act gives the message's fate (audit's
:class:`~audit.Fate`, the one name its completion, log line and metrics use) and the
reply the client gets; what the next hop or the quarantine said goes on
``ctx.delivery``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from audit import Fate
from milter.config import AfterQueueRefusal, QueuePosition
from milter.context import Envelope, MessageContext
from milter.direction import Direction
from milter.errors import NextHopError
from milter.housekeeping import send_discard_notice, send_held_notice
from milter.lmtp import PartialDelivery
from milter.nexthop import NextHop, Transaction
from milter.pipeline import Outcome, Verdict
from milter.replies import (
    R250_DISCARDED,
    R250_QUARANTINED,
    R250_QUEUED,
    R451_CANNOT_HOLD,
    R451_TEMPFAIL,
    R550_POLICY,
    Reply,
    for_next_hop,
)
from milter.runtime import Runtime
from policies import Action, Decision, QuarantineError

#: Runs a notice after the reply: notices are best effort and must not delay it.
Later = Callable[[Coroutine[Any, Any, None]], None]


@dataclass(frozen=True, slots=True)
class Done:
    """What the act did: the message's fate and the reply the client gets."""

    fate: Fate
    reply: Reply


def plan(verdict: Verdict, ctx: MessageContext, *, queue: QueuePosition,
         instead: AfterQueueRefusal) -> Verdict:
    """The verdict the act will carry out, known before the record is written.

    Behind Postfix's queue a 5xx for inbound mail becomes Postfix's bounce to its
    sender, usually forged: the province would send spam, or the forged message itself
    to the unit it impersonates. It is held or dropped instead
    (``service.after_queue_inbound_refusal``). A held message keeps a quarantine
    decision, whichever stage held it.
    """
    if (verdict.outcome is Outcome.REJECT and ctx.direction is Direction.INBOUND
            and queue is QueuePosition.AFTER):
        why = verdict.reason or (verdict.reply.text if verdict.reply else "refused")
        if instead is AfterQueueRefusal.QUARANTINE:
            verdict = Verdict(Outcome.QUARANTINE, None,
                              f"refused behind the queue, held instead of bounced: {why}")
        else:
            verdict = Verdict(Outcome.DISCARD, verdict.reply, why)
    if verdict.outcome is Outcome.QUARANTINE:
        ctx.decision = _holding(ctx.decision, verdict.reason)
    return verdict


async def act(verdict: Verdict, ctx: MessageContext, transaction: Transaction | None,
              runtime: Runtime, later: Later) -> Done:
    """Carry out ``verdict``: relay through ``transaction``, or abort it and hold,
    refuse or discard the message."""
    if verdict.outcome is Outcome.CONTINUE and transaction is not None:
        return await relay(transaction, ctx)
    if transaction is not None:
        await transaction.abort()
    if verdict.outcome is Outcome.QUARANTINE:
        return await hold(runtime, ctx, later)
    if verdict.outcome is Outcome.DISCARD:
        ctx.delivery.next_hop_reply = f"discarded without a bounce: {verdict.reason}"
        later(send_discard_notice(runtime.config, runtime.next_hop, ctx, verdict.reason))
        return Done(Fate.REJECTED, R250_DISCARDED)
    if verdict.outcome is Outcome.REJECT:
        return Done(Fate.REJECTED, verdict.reply or R550_POLICY)
    # TEMPFAIL, or CONTINUE with no transaction open (the client's went away)
    return Done(Fate.TEMPFAILED, verdict.reply or R451_TEMPFAIL)


async def begin(next_hop: NextHop, envelope: Envelope) -> Transaction:
    """Open a transaction for the whole envelope at once (quarantine release: there is
    no client to keep in step with).

    :raises NextHopError: the next hop refused the sender or a recipient.
    """
    transaction = await next_hop.begin(envelope.mail_from, list(envelope.mail_options))
    try:
        for recipient in envelope.recipients:
            await transaction.rcpt(recipient)
    except NextHopError:
        await transaction.abort()
        raise
    return transaction


async def relay(transaction: Transaction, ctx: MessageContext) -> Done:
    """Send the bytes that leave; the 250 waits for the next hop's, and its 5xx is
    passed back as it came."""
    try:
        text = await transaction.data(ctx.final_content)
    except NextHopError as exc:
        ctx.delivery.next_hop_reply = str(exc)
        ctx.delivery.next_hop_error = exc.code
        if isinstance(exc, PartialDelivery):
            ctx.delivery.per_recipient = exc.per_recipient
        return Done(Fate.REJECTED if exc.is_permanent else Fate.TEMPFAILED, for_next_hop(exc))
    ctx.delivery.next_hop_reply = text
    is_stripped = ctx.decision is not None and ctx.decision.action is Action.STRIP
    return Done(Fate.STRIPPED if is_stripped else Fate.RELAYED,
                R250_QUEUED.detailed(text))


#: Rules whose quarantine of outbound mail tells the envelope sender even where
#: ``[policies.quarantine] notify`` is off.
TELL_SENDER = frozenset({"classified-marking"})


async def hold(runtime: Runtime, ctx: MessageContext, later: Later) -> Done:
    """Put the message in quarantine durably; 250 only once it is on disk."""
    decision = ctx.decision or Decision(Action.QUARANTINE)
    owner = ctx.sender_unit if ctx.direction is Direction.OUTBOUND else next(
        iter(ctx.recipient_units), None)
    try:
        held = await asyncio.to_thread(
            runtime.quarantine.put,
            ctx.final_content,
            envelope_from=ctx.envelope.mail_from,
            recipients=ctx.envelope.recipients,
            direction=ctx.direction.value,
            unit_id=owner,
            decision=decision,
        )
    except QuarantineError as exc:
        ctx.delivery.next_hop_reply = f"quarantine failed: {exc}"
        return Done(Fate.TEMPFAILED, R451_CANNOT_HOLD)
    ctx.delivery.next_hop_reply = f"quarantined as {held}"
    # a classified document held on its way out: its sender is always told
    tells_sender = ctx.direction is Direction.OUTBOUND and any(
        v.rule in TELL_SENDER for v in decision.violations)
    if runtime.config.policies.quarantine.notify or tells_sender:
        entry = runtime.quarantine.get(held)
        later(send_held_notice(runtime.config, runtime.next_hop, entry))
    return Done(Fate.QUARANTINED, R250_QUARANTINED.detailed(held))


def _holding(decision: Decision | None, reason: str) -> Decision:
    """The decision a held message is recorded and kept with: a stage that holds
    without a policy decision of its own (S/MIME's on_missing_identity, after the
    policy accepted) must not leave "accept" in the record and the quarantine."""
    if decision is None:
        return Decision(Action.QUARANTINE, reply_text=reason)
    if decision.action is Action.QUARANTINE:
        return decision
    return dataclasses.replace(decision, action=Action.QUARANTINE, reply_text=reason)
