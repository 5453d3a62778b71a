"""The aiosmtpd hook object: builds the message context, runs the pipeline, replies.

One message: MAIL and RCPT open the next hop's transaction in step with the client's;
at DATA the context is built (milter/context.py), the pipeline decides
(milter/pipeline.py), the record is committed (milter/recording.py), the act carries
the verdict out (milter/act.py) and the completion is committed; only then does the
client get its reply. 250 is earned: given only after the next hop (or the quarantine)
took the message and its record committed. Every fault of ours is a 451 with a
correlation id; the next hop's 5xx is passed back as it came.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from aiosmtpd.smtp import Envelope as SmtpEnvelope

from audit import AuditError, Fate
from mailbase import HeaderBlock
from milter.act import Done, act, plan
from milter.config import ListenerConfig
from milter.context import Envelope, MessageContext, Xforward
from milter.direction import direction_of
from milter.errors import NextHopError
from milter.logs import event
from milter.metrics import Recorder
from milter.outofspace import store_failure_reply
from milter.pipeline import Outcome, Verdict
from milter.recording import build_completion, build_record
from milter.replies import (
    R250_DELIVERED,
    R250_OK,
    R250_RECIPIENT_OK,
    R250_SENDER_OK,
    R421_SHUTTING_DOWN,
    R451_AUDIT,
    R451_TEMPFAIL,
    R452_TOO_MANY_RECIPIENTS,
    Reply,
    for_next_hop,
)
from milter.runtime import Runtime
from milter.smtp import FilterSession, FilterSMTP

log = logging.getLogger("congvu.milter")

_EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES", "DSN")
_XFORWARD_KEYWORD = "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"


class RuntimeSource(Protocol):
    """Where the handler finds the runtime in force (the worker's ``Server``: a reload
    swaps it) and the worker's metrics."""

    runtime: Runtime
    metrics: Recorder


def _runtime(session: FilterSession) -> Runtime:
    """The runtime the session's transaction began with (MAIL sets it; aiosmtpd
    refuses RCPT and DATA before a MAIL that succeeded)."""
    if session.runtime is None:
        raise RuntimeError("a transaction step came before MAIL")
    return session.runtime


class FilterHandler:
    """aiosmtpd's handler for one listener."""

    def __init__(self, listener: ListenerConfig, source: RuntimeSource) -> None:
        self.listener = listener
        self._source = source
        self._background: set[asyncio.Task[None]] = set()

    async def handle_EHLO(self, server: FilterSMTP, session: FilterSession,
                          envelope: SmtpEnvelope, hostname: str,
                          responses: list[str]) -> list[str]:
        """Advertise what we speak, XFORWARD only to clients allowed to use it."""
        session.host_name = hostname
        keywords = [line[4:] for line in responses[1:] if line[4:] != "HELP"]
        keywords += _EXTENSIONS
        if server.is_xforward_allowed:
            keywords.append(_XFORWARD_KEYWORD)
        lines = [responses[0]] + [f"250-{keyword}" for keyword in keywords]
        lines[-1] = "250 " + lines[-1][4:]
        return lines

    async def handle_MAIL(self, server: FilterSMTP, session: FilterSession,
                          envelope: SmtpEnvelope, address: str, options: list[str]) -> str:
        """Open the next hop's transaction in step with the client's."""
        if server.tracker.is_draining:
            return str(R421_SHUTTING_DOWN)
        runtime = self._source.runtime  # kept for the whole transaction, reload or not
        # aiosmtpd spells the null reverse-path of bounces (RFC 5321 4.5.5) "<>".
        sender = "" if address == "<>" else address
        try:
            session.transaction = await runtime.next_hop.begin(
                sender, [*options, *session.mail_dsn])
        except NextHopError as exc:
            return str(for_next_hop(exc))
        session.runtime = runtime
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return str(R250_SENDER_OK)

    async def handle_RCPT(self, server: FilterSMTP, session: FilterSession,
                          envelope: SmtpEnvelope, address: str, options: list[str]) -> str:
        """Mirror the next hop's answer for this recipient."""
        if len(envelope.rcpt_tos) >= _runtime(session).config.limits.max_recipients:
            return str(R452_TOO_MANY_RECIPIENTS)
        if session.transaction is None:
            raise RuntimeError("RCPT without the next hop's transaction")
        try:
            await session.transaction.rcpt(address, session.rcpt_dsn)
        except NextHopError as exc:
            # The next hop's own answer for this recipient, 4xx or 5xx, as it came.
            return str(Reply(exc.code, exc.enhanced, exc.text))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return str(R250_RECIPIENT_OK)

    async def handle_RSET(self, server: FilterSMTP, session: FilterSession,
                          envelope: SmtpEnvelope) -> str:
        """Abandon the transaction at the next hop too."""
        await self.abort_transaction(session)
        return str(R250_OK)

    async def abort_transaction(self, session: FilterSession) -> None:
        """Tell the next hop to forget the current transaction, if any."""
        transaction, session.transaction = session.transaction, None
        if transaction is not None:
            await transaction.abort()

    def _context(self, session: FilterSession, envelope: SmtpEnvelope) -> MessageContext:
        """The message as it came in: listener, client, envelope and bytes."""
        xforward = Xforward(**{key.lower(): value for key, value in session.xforward.items()})
        client = xforward.client
        runtime = _runtime(session)
        trusted = runtime.config.service.trusted_networks
        is_trusted = client is not None and any(client in net for net in trusted)
        peer = session.peer if isinstance(session.peer, tuple) else ("", 0)
        return MessageContext.received(
            envelope.original_content or b"",
            listener=self.listener.name,
            role=self.listener.role,
            direction=direction_of(self.listener.role, is_trusted_client=is_trusted),
            envelope=Envelope(
                mail_from="" if envelope.mail_from == "<>" else envelope.mail_from or "",
                mail_options=tuple(envelope.mail_options),
                recipients=tuple(envelope.rcpt_tos),
            ),
            provincial=runtime.units.provincial(),
            peer=(str(peer[0]), int(peer[1])),
            helo=session.host_name or "",
            xforward=xforward,
            is_trusted_client=is_trusted,
        )

    async def handle_DATA(self, server: FilterSMTP, session: FilterSession,
                          envelope: SmtpEnvelope) -> str:
        """Run the pipeline, record, act, and earn the 250 (or say why not)."""
        started = time.monotonic()
        ctx = self._context(session, envelope)
        ctx.correlation_id = secrets.token_hex(6)
        try:
            done = await self._process(session, ctx)
        except Exception:
            log.exception("message failed", extra={"fields": {"id": ctx.correlation_id}})
            await self.abort_transaction(session)
            done = Done(Fate.TEMPFAILED,
                        R451_TEMPFAIL.detailed(f"id {ctx.correlation_id}"))
            await self._record_failure(session, ctx, done.reply)
        self._account(ctx, done, time.monotonic() - started)
        return self._format(done.reply, ctx)

    async def _process(self, session: FilterSession, ctx: MessageContext) -> Done:
        """Pipeline, audit record, act, completion: the reply waits for all four."""
        runtime = _runtime(session)
        verdict = plan(await runtime.pipeline.run(ctx), ctx, queue=self.listener.queue,
                       instead=runtime.config.service.after_queue_inbound_refusal)
        if runtime.audit is None:  # [pipeline] audit = false: a relay-only listener
            return await self._act(session, ctx, verdict)
        committing = time.monotonic()
        try:
            record_id = await runtime.audit.record(build_record(ctx, verdict.outcome))
        except AuditError as exc:
            await self.abort_transaction(session)
            ctx.delivery.next_hop_reply = f"audit record failed: {exc}"
            return Done(Fate.TEMPFAILED, store_failure_reply(exc, R451_AUDIT))
        self._source.metrics.audit_commit(time.monotonic() - committing)
        acting = time.monotonic()
        done = await self._act(session, ctx, verdict)
        try:
            await runtime.audit.complete(build_completion(
                record_id, done.fate, ctx.delivery.next_hop_reply or str(done.reply),
                (time.monotonic() - acting) * 1000))
        except AuditError as exc:
            # The next hop may hold the message already; Postfix's retry can
            # duplicate it, but a message never stands without its record.
            ctx.delivery.next_hop_reply = f"audit completion failed: {exc}"
            return Done(Fate.TEMPFAILED, store_failure_reply(exc, R451_AUDIT))
        return done

    async def _act(self, session: FilterSession, ctx: MessageContext,
                   verdict: Verdict) -> Done:
        transaction, session.transaction = session.transaction, None
        return await act(verdict, ctx, transaction, _runtime(session), self._later)

    async def _record_failure(self, session: FilterSession, ctx: MessageContext,
                              reply: Reply) -> None:
        """Best effort: a message our fault deferred still gets its record (tempfailed),
        so auditors see what Postfix keeps retrying."""
        audit = session.runtime.audit if session.runtime is not None else None
        if audit is None:
            return
        try:
            record_id = await audit.record(build_record(ctx, Outcome.TEMPFAIL))
            await audit.complete(build_completion(record_id, Fate.TEMPFAILED, str(reply), 0.0))
        except Exception:  # the reply is a 451 already; nothing more to lose
            log.exception("could not record the failed message",
                          extra={"fields": {"id": ctx.correlation_id}})

    def _account(self, ctx: MessageContext, done: Done, seconds: float) -> None:
        """The message's one log line and its metrics."""
        metrics = self._source.metrics
        metrics.message(ctx.role.value, ctx.direction.value, done.fate, seconds)
        if ctx.delivery.next_hop_error:
            metrics.next_hop_error(ctx.delivery.next_hop_error)
        event(
            log,
            "message",
            id=ctx.correlation_id,
            queue_id=ctx.xforward.ident,
            message_id=_message_id(ctx.header),
            mail_from=ctx.envelope.mail_from,
            rcpt=list(ctx.envelope.recipients),
            listener=ctx.listener,
            role=ctx.role.value,
            direction=ctx.direction.value,
            client=ctx.xforward.addr,
            size=len(ctx.original_content),
            fate=done.fate.value,
            stage=ctx.decided_by,
            reply=str(done.reply),
            next_hop=ctx.delivery.next_hop_reply,
            ms=round(seconds * 1000, 2),
        )

    def _format(self, reply: Reply, ctx: MessageContext) -> str:
        return str(reply)

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
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
        return str(R451_TEMPFAIL.detailed(f"id {correlation}"))


class LmtpFilterHandler(FilterHandler):
    """The same handler for an LMTP listener: one reply per accepted recipient."""

    def _format(self, reply: Reply, ctx: MessageContext) -> str:
        # RFC 2033 4.2: one reply per accepted recipient, in RCPT order; an LMTP next
        # hop's own per-recipient outcome is mirrored recipient by recipient.
        per_recipient = ctx.delivery.per_recipient
        if per_recipient is None:
            return "\r\n".join([str(reply)] * max(len(ctx.envelope.recipients), 1))
        delivered = R250_DELIVERED
        return "\r\n".join(
            str(delivered if error is None else for_next_hop(error)) for error in per_recipient
        )


def _message_id(header: HeaderBlock) -> str | None:
    """The Message-ID for the log line, from the header read at the door."""
    values = header.values(b"message-id")
    text = values[0].replace(b"\r\n", b"").strip().decode("utf-8", "replace") if values else ""
    return text or None
