"""The aiosmtpd hook object: builds the message context, runs the pipeline, replies.

250 is earned: it is given only after the next hop accepted the message (and, once
the audit stage is in, after the record committed). Every fault of ours is a 451 with
a correlation id; the next hop's 5xx is passed back as it came.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import secrets
import time
from collections.abc import Coroutine
from typing import Any

from audit import AuditError
from mailbase import read_from, read_header
from milter.config import AfterQueueRefusal, Direction, ListenerConfig, QueuePosition, Role
from milter.context import Envelope, MessageContext, Xforward
from milter.errors import NextHopError
from milter.housekeeping import send_discard_notice, send_held_notice
from milter.lmtp import PartialDelivery
from milter.logs import event
from milter.pipeline import Outcome, Verdict
from milter.recording import build_completion, build_record
from milter.replies import (
    R250_DISCARDED,
    R250_OK,
    R250_QUARANTINED,
    R250_QUEUED,
    R250_RECIPIENT_OK,
    R250_SENDER_OK,
    R421_SHUTTING_DOWN,
    R451_AUDIT,
    R451_NEXT_HOP,
    R451_TEMPFAIL,
    R452_TOO_MANY_RECIPIENTS,
    Reply,
)
from milter.runtime import Runtime
from milter.smtp import FilterSession
from policies import Action, Decision, QuarantineError

log = logging.getLogger("congvu.milter")

_EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES", "DSN")
_VERDICT_NAMES = {
    Outcome.CONTINUE: "relayed",
    Outcome.REJECT: "reject",
    Outcome.QUARANTINE: "quarantine",
    Outcome.TEMPFAIL: "tempfail",
    Outcome.DISCARD: "reject",  # refused all the same; the completion says discarded
}
_XFORWARD_KEYWORD = "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"


def _nexthop_reply(exc: NextHopError) -> Reply:
    """Pass a 5xx back as it came; anything else becomes our 451 with its reason."""
    if exc.is_permanent:
        return Reply(exc.code, exc.enhanced, exc.text)
    return R451_NEXT_HOP.with_text(f"Next hop unavailable, try again later ({exc})")


def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    if text.upper().startswith("IPV6:"):
        text = text[5:]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class FilterHandler:
    """aiosmtpd's handler for one listener."""

    def __init__(self, listener: ListenerConfig, runtime_source: Any) -> None:
        self.listener = listener
        self._runtime_source = runtime_source  # has .runtime, swapped on reload
        self._background: set[asyncio.Task[None]] = set()

    @property
    def runtime(self) -> Runtime:
        """The configuration in force for new transactions."""
        runtime: Runtime = self._runtime_source.runtime
        return runtime

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Advertise what we speak, XFORWARD only to clients allowed to use it."""
        session.host_name = hostname
        keywords = [line[4:] for line in responses[1:] if line[4:] != "HELP"]
        keywords += _EXTENSIONS
        if server.is_xforward_allowed:
            keywords.append(_XFORWARD_KEYWORD)
        lines = [responses[0]] + [f"250-{keyword}" for keyword in keywords]
        lines[-1] = "250 " + lines[-1][4:]
        return lines

    async def handle_MAIL(
        self, server: Any, session: FilterSession, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Open the next hop's transaction in step with the client's."""
        if server.tracker.is_draining:
            return str(R421_SHUTTING_DOWN)
        runtime = self.runtime
        # aiosmtpd spells the null reverse-path of bounces (RFC 5321 4.5.5) "<>".
        sender = "" if address == "<>" else address
        try:
            session.transaction = await runtime.next_hop.begin(
                sender, [*options, *session.mail_dsn])
        except NextHopError as exc:
            return str(_nexthop_reply(exc))
        session.runtime = runtime
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(R250_SENDER_OK)

    async def handle_RCPT(
        self, server: Any, session: FilterSession, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Mirror the next hop's answer for this recipient."""
        if len(envelope.rcpt_tos) >= session.runtime.config.limits.max_recipients:
            return str(R452_TOO_MANY_RECIPIENTS)
        try:
            await session.transaction.rcpt(address, session.rcpt_dsn)
        except NextHopError as exc:
            # The next hop's own answer for this recipient, 4xx or 5xx, as it came.
            return str(Reply(exc.code, exc.enhanced, exc.text))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return str(R250_RECIPIENT_OK)

    async def handle_RSET(self, server: Any, session: FilterSession, envelope: Any) -> str:
        """Abandon the transaction at the next hop too."""
        await self.abort_transaction(session)
        return str(R250_OK)

    async def abort_transaction(self, session: FilterSession) -> None:
        """Tell the next hop to forget the current transaction, if any."""
        transaction, session.transaction = session.transaction, None
        if transaction is not None:
            await transaction.abort()

    def _context(self, server: Any, session: FilterSession, envelope: Any) -> MessageContext:
        fields = session.xforward
        xforward = Xforward(**{key.lower(): value for key, value in fields.items()})
        role = self.listener.role
        client = _ip(xforward.addr)
        trusted = session.runtime.config.service.trusted_networks
        is_trusted = client is not None and any(client in net for net in trusted)
        if role is Role.OUTBOUND:
            direction = Direction.OUTBOUND
        elif role is Role.INBOUND:
            direction = Direction.INBOUND
        else:
            # ARCHITECTURE.md: outbound only when the original client is trusted, never
            # because of the From domain; no XFORWARD means we do not know: inbound.
            direction = Direction.OUTBOUND if is_trusted else Direction.INBOUND
        peer = session.peer if isinstance(session.peer, tuple) else ("", 0)
        # The header and its From are read here, once, for every stage and the record.
        header = read_header(envelope.original_content)
        return MessageContext(
            listener=self.listener.name,
            role=role,
            direction=direction,
            peer=(str(peer[0]), int(peer[1])),
            helo=session.host_name or "",
            xforward=xforward,
            envelope=Envelope(
                mail_from="" if envelope.mail_from == "<>" else envelope.mail_from,
                mail_options=tuple(envelope.mail_options),
                recipients=tuple(envelope.rcpt_tos),
            ),
            original_content=envelope.original_content,
            header=header,
            sender=read_from(header, session.runtime.units.provincial()),
            is_trusted_client=is_trusted,
        )

    async def handle_DATA(self, server: Any, session: FilterSession, envelope: Any) -> str:
        """Run the pipeline, relay, and earn the 250 (or say why not)."""
        started = time.monotonic()
        correlation = secrets.token_hex(6)
        ctx = self._context(server, session, envelope)
        ctx.correlation_id = correlation
        next_hop_reply = ""
        try:
            reply, verdict_name = await self._process(session, ctx)
            next_hop_reply = ctx.delivery.next_hop_reply
        except Exception:
            log.exception("message failed", extra={"fields": {"id": correlation}})
            await self.abort_transaction(session)
            reply, verdict_name = R451_TEMPFAIL.with_text(
                f"Temporary failure in the filter, try again later (id {correlation})"
            ), "tempfail"
            await self._record_failure(session, ctx, reply)
        elapsed = time.monotonic() - started
        self._runtime_source.metrics.message(
            ctx.role.value, ctx.direction.value, verdict_name, elapsed)
        if ctx.delivery.next_hop_error:
            self._runtime_source.metrics.next_hop_error(ctx.delivery.next_hop_error)
        event(
            log,
            "message",
            id=correlation,
            queue_id=ctx.xforward.ident,
            message_id=_message_id(ctx.original_content),
            mail_from=ctx.envelope.mail_from,
            rcpt=list(ctx.envelope.recipients),
            listener=ctx.listener,
            role=ctx.role.value,
            direction=ctx.direction.value,
            client=ctx.xforward.addr,
            size=len(ctx.original_content),
            verdict=verdict_name,
            stage=ctx.decided_by,
            reply=str(reply),
            next_hop=next_hop_reply,
            ms=round(elapsed * 1000, 2),
        )
        return self._format(reply, ctx)

    def _format(self, reply: Reply, ctx: MessageContext) -> str:
        return str(reply)

    async def _record_failure(self, session: FilterSession, ctx: MessageContext,
                              reply: Reply) -> None:
        """Best effort: a message our fault deferred still gets its record (tempfailed),
        so auditors see what Postfix keeps retrying."""
        audit = session.runtime.audit if session.runtime is not None else None
        if audit is None:
            return
        try:
            record_id = await audit.record(build_record(ctx, "tempfail"))
            await audit.complete(build_completion(record_id, "tempfail", str(reply), 0.0,
                                                  is_stripped=False))
        except Exception:  # the reply is a 451 already; nothing more to lose
            log.exception("could not record the failed message",
                          extra={"fields": {"id": ctx.correlation_id}})
    async def _process(self, session: FilterSession, ctx: MessageContext) -> tuple[Reply, str]:
        """Pipeline, audit record, action, completion: the reply waits for all four."""
        runtime = session.runtime
        verdict = self._without_backscatter(ctx, await runtime.pipeline.run(ctx),
                                            runtime.config.service.after_queue_inbound_refusal)
        if verdict.outcome is Outcome.QUARANTINE:
            ctx.decision = _holding(ctx.decision, verdict.reason)
        if runtime.audit is None:  # [pipeline] audit = false: a relay-only listener
            return await self._act(session, ctx, verdict)
        planned = _VERDICT_NAMES[verdict.outcome]
        committing = time.monotonic()
        try:
            record_id = await runtime.audit.record(build_record(ctx, planned))
        except AuditError as exc:
            await self.abort_transaction(session)
            ctx.delivery.next_hop_reply = f"audit record failed: {exc}"
            return R451_AUDIT, "tempfail"
        self._runtime_source.metrics.audit_commit(time.monotonic() - committing)
        started = time.monotonic()
        reply, name = await self._act(session, ctx, verdict)
        decision = ctx.decision
        try:
            await runtime.audit.complete(build_completion(
                record_id, name, ctx.delivery.next_hop_reply or str(reply),
                (time.monotonic() - started) * 1000,
                is_stripped=decision is not None and decision.action.value == "strip",
            ))
        except AuditError as exc:
            # The next hop may hold the message already; Postfix's retry can
            # duplicate it, but a message never stands without its record.
            ctx.delivery.next_hop_reply = f"audit completion failed: {exc}"
            return R451_AUDIT, "tempfail"
        ctx.delivery.audit_id = record_id
        return reply, name

    def _without_backscatter(self, ctx: MessageContext, verdict: Verdict,
                             instead: AfterQueueRefusal) -> Verdict:
        """Behind Postfix's queue, a 5xx for inbound mail becomes Postfix's bounce to
        its sender, usually forged: the province would send spam, or the forged
        message itself to the unit it impersonates. Hold or drop it instead."""
        if (verdict.outcome is not Outcome.REJECT or ctx.direction is not Direction.INBOUND
                or self.listener.queue is not QueuePosition.AFTER):
            return verdict
        why = verdict.reason or (verdict.reply.text if verdict.reply else "refused")
        if instead is AfterQueueRefusal.QUARANTINE:
            return Verdict(Outcome.QUARANTINE, None,
                           f"refused behind the queue, held instead of bounced: {why}")
        return Verdict(Outcome.DISCARD, verdict.reply, why)

    async def _act(
        self, session: FilterSession, ctx: MessageContext, verdict: Verdict
    ) -> tuple[Reply, str]:
        if verdict.outcome is Outcome.DISCARD:
            await self.abort_transaction(session)
            ctx.delivery.next_hop_reply = f"discarded without a bounce: {verdict.reason}"
            self._background_task(send_discard_notice(
                session.runtime.config, session.runtime.next_hop, ctx, verdict.reason))
            return R250_DISCARDED, "reject"
        if verdict.outcome is Outcome.REJECT:
            await self.abort_transaction(session)
            assert verdict.reply is not None
            return verdict.reply, "reject"
        if verdict.outcome is Outcome.QUARANTINE:
            await self.abort_transaction(session)
            return await self._hold(session.runtime, ctx), "quarantine"
        if verdict.outcome is Outcome.TEMPFAIL:
            await self.abort_transaction(session)
            return verdict.reply or R451_TEMPFAIL, "tempfail"
        transaction, session.transaction = session.transaction, None
        try:
            text = await transaction.data(ctx.final_content)
        except NextHopError as exc:
            ctx.delivery.next_hop_reply = str(exc)
            ctx.delivery.next_hop_error = exc.code
            if isinstance(exc, PartialDelivery):
                ctx.delivery.per_recipient = exc.per_recipient
            return _nexthop_reply(exc), "tempfail" if not exc.is_permanent else "reject"
        ctx.delivery.next_hop_reply = text
        return R250_QUEUED.with_text(f"Message accepted and relayed: {text}"), "relayed"

    async def _hold(self, runtime: Runtime, ctx: MessageContext) -> Reply:
        """Put the message in quarantine durably; 250 only once it is on disk."""
        decision = ctx.decision or Decision(Action.QUARANTINE)
        owner = ctx.sender_unit if ctx.direction is Direction.OUTBOUND else next(
            iter(ctx.recipient_units), None
        )
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
            return R451_TEMPFAIL.with_text("Cannot hold the message now, try again later")
        ctx.delivery.quarantine_id = str(held)
        ctx.delivery.next_hop_reply = f"quarantined as {held}"
        if runtime.config.policies.quarantine.notify:
            entry = runtime.quarantine.get(held)
            self._background_task(send_held_notice(runtime.config, runtime.next_hop, entry))
        return R250_QUARANTINED.with_text(f"Message accepted and held in quarantine as {held}")

    def _background_task(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the reply (notices are best effort and must not delay it)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def handle_exception(self, error: Exception) -> str:
        """Our faults are temporary: 451 with a correlation id, traceback in the log."""
        correlation = secrets.token_hex(6)
        log.error(
            "session failed",
            exc_info=error,
            extra={"fields": {"id": correlation}},
        )
        return str(R451_TEMPFAIL.with_text(f"Temporary failure in the filter (id {correlation})"))


class LmtpFilterHandler(FilterHandler):
    """The same handler for an LMTP listener: one reply per accepted recipient."""

    def _format(self, reply: Reply, ctx: MessageContext) -> str:
        # RFC 2033 4.2: one reply per accepted recipient, in RCPT order; an LMTP next
        # hop's own per-recipient outcome is mirrored recipient by recipient.
        per_recipient = ctx.delivery.per_recipient
        if per_recipient is None:
            return "\r\n".join([str(reply)] * max(len(ctx.envelope.recipients), 1))
        delivered = R250_QUEUED.with_text("Delivered")
        return "\r\n".join(
            str(delivered if error is None else _nexthop_reply(error)) for error in per_recipient
        )


def _holding(decision: Decision | None, reason: str) -> Decision:
    """The decision a held message is recorded and kept with: a stage that holds
    without a policy decision of its own (S/MIME's on_missing_identity, after the
    policy accepted) must not leave "accept" in the record and the quarantine."""
    if decision is None:
        return Decision(Action.QUARANTINE, reply_text=reason)
    if decision.action is Action.QUARANTINE:
        return decision
    return dataclasses.replace(decision, action=Action.QUARANTINE, reply_text=reason)


def _message_id(content: bytes) -> str | None:
    """The Message-ID for the log line, read without parsing the message."""
    header_end = content.find(b"\r\n\r\n")
    head = content[: header_end if header_end >= 0 else len(content)]
    lower = head.lower()
    index = lower.find(b"\r\nmessage-id:") + 2 if not lower.startswith(b"message-id:") else 0
    if index == 1:
        return None
    line_end = head.find(b"\r\n", index)
    value = head[index + 11 : line_end if line_end >= 0 else len(head)]
    return value.strip().decode("utf-8", "replace") or None
