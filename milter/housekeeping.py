"""Work the service does besides messages: quarantine expiry, held-message notices and
the postmaster's notice of a message discarded without a bounce."""

from __future__ import annotations

import contextlib
import logging
import socket
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from audit import AdminEvent, AdminKind, AuditLog
from milter.context import MessageContext
from milter.errors import NextHopError
from milter.logs import event
from milter.nexthop import NextHop
from milter.settings import Settings
from policies import (
    PolicyError,
    QuarantineBusy,
    QuarantineEntry,
    QuarantineNotFound,
    held_notice,
    open_quarantine,
)

log = logging.getLogger("congvu.milter")

#: seconds between two expiry runs
EXPIRY_INTERVAL = 3600.0
_HOST = socket.gethostname()


def expire_quarantine(config: Settings, now: datetime | None = None) -> list[str]:
    """Delete held messages past their retention, each deletion audited; their ids.

    Each is claimed first, as a release claims it: on a quarantine several servers
    share, each expired message is audited and deleted by one of them, and never while
    an administrator is releasing it.
    """
    now = now or datetime.now(UTC)
    store = open_quarantine(config.policies.quarantine)
    try:
        claims = []
        for entry in store.list():
            if entry.expires <= now:
                with contextlib.suppress(QuarantineBusy, QuarantineNotFound):
                    claims.append(store.claim(entry.id, by=f"retention on {_HOST}", now=now))
        if not claims:
            return []
        if config.pipeline.audit:
            try:
                _audit_expiry(config, [claim.entry for claim in claims])
            except BaseException:
                for claim in claims:  # not audited: still held, for the next run
                    with contextlib.suppress(PolicyError):
                        store.unclaim(claim.entry.id, claim.token)
                raise
        for claim in claims:
            store.delete(claim.entry.id, claim=claim.token, now=now)
    finally:
        store.close()
    event(log, "quarantine expired", count=len(claims))
    return [str(claim.entry.id) for claim in claims]


def _audit_expiry(config: Settings, entries: list[QuarantineEntry]) -> None:
    audit = AuditLog.open(config.audit)
    try:
        for entry in entries:  # written first: a deletion is never unaudited
            audit.admin(AdminEvent(
                kind=AdminKind.QUARANTINE_DELETE, actor="system (retention)",
                target=str(entry.id), unit_id=entry.unit_id,
                details={"sha256": entry.sha256, "expired": entry.expires.isoformat()}))
    finally:
        audit.close()


def run_expiry(config: Settings) -> None:
    """One expiry run for the scheduler: failures are logged, never raised."""
    try:
        expire_quarantine(config)
    except (PolicyError, Exception) as exc:  # housekeeping must never stop the service
        event(log, "quarantine expiry failed", logging.ERROR, error=str(exc))


async def send_held_notice(config: Settings, next_hop: NextHop,
                           entry: QuarantineEntry) -> None:
    """Tell the sender (outbound) or recipients (inbound) that a message is held.

    Sent with the null reverse-path (RFC 5321 4.5.5) so it can never bounce back into
    a loop; best effort: a failure is logged and the held message stays held.
    """
    sender = f"postmaster@{config.service.hostname}"
    recipients, notice = held_notice(entry, from_address=sender)
    if not recipients:
        return
    try:
        transaction = await next_hop.begin("", [])
        for recipient in recipients:
            await transaction.rcpt(recipient)
        await transaction.data(notice)
    except NextHopError as exc:
        event(log, "held notice not sent", logging.WARNING, id=str(entry.id), error=str(exc))
        return
    event(log, "held notice sent", id=str(entry.id), to=recipients)


async def send_discard_notice(config: Settings, next_hop: NextHop, ctx: MessageContext,
                              reason: str) -> None:
    """Tell postmaster@hostname that an inbound message refused behind the queue was
    dropped (``service.after_queue_inbound_refusal = "discard"``): nobody else learns it.

    Null reverse-path, best effort, like the held notice.
    """
    postmaster = f"postmaster@{config.service.hostname}"
    msg = EmailMessage(policy=SMTP)
    msg["From"] = postmaster
    msg["To"] = postmaster
    msg["Subject"] = "Thư bị hủy, không gửi thư báo lỗi / Message discarded without a bounce"
    msg["Message-ID"] = make_msgid(domain=config.service.hostname)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no replies, no loops
    facts = (f"envelope sender: {ctx.envelope.mail_from or '<>'}\n"
             f"recipients: {', '.join(ctx.envelope.recipients)}\n"
             f"client: {ctx.xforward.addr or 'unknown'}  queue id: {ctx.xforward.ident or '-'}\n"
             f"log id: {ctx.correlation_id}\nreason: {reason}\n")
    msg.set_content("congvu đã từ chối một thư gửi đến sau hàng đợi của Postfix và hủy thư "
                    "thay vì để Postfix gửi thư báo lỗi cho người gửi (thường là giả mạo).\n"
                    f"{facts}\ncongvu refused an inbound message behind Postfix's queue and "
                    "dropped it instead of letting Postfix bounce it to its (usually forged) "
                    f"sender.\n{facts}")
    try:
        transaction = await next_hop.begin("", [])
        await transaction.rcpt(postmaster)
        await transaction.data(msg.as_bytes())
    except NextHopError as exc:
        event(log, "discard notice not sent", logging.WARNING, id=ctx.correlation_id,
              error=str(exc))
        return
    event(log, "discard notice sent", id=ctx.correlation_id, to=[postmaster])
