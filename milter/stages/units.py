"""Whose message is it: the sender's unit and the recipients' units (directory/).

The header From was read once at the door (``ctx.sender``); this stage binds it to
the unit that really sent the message. Outbound, Postfix binds only the envelope
sender to the login (``smtpd_sender_login_maps``), so the header From must belong to
the envelope sender's unit (or to a unit it may send as, ``[[signer.send_as]]``);
otherwise the message is refused and nothing is signed. A From that is the address of
a unit that has ended (past its ``valid_until``, or inactive with a successor, as after
a merger of provinces) is refused too, with a reply naming the successor's address:
Postfix's sender login maps stop listing such an address only at the next publish,
and not at all on a server that does not check logins. Mail *to* such an address is
not refused: it keeps being delivered, and Postfix forwards it to the successor. Only
mail on the trusted path (outbound) is sent by its sender unit: inbound mail merely
claims one, and the record's reader tells the two apart by the direction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar

import idna

from directory import DirectoryIndex, StoreError, Unit, UnknownUnit
from mailbase import ProvincialDomains, ascii_line, zone
from milter.context import MessageContext
from milter.direction import Direction
from milter.pipeline import CONTINUE, Outcome, StageKind, Verdict, reject
from milter.replies import R550_FROM_REFUSED, R550_SENDER_UNIT_ENDED

log = logging.getLogger("congvu.milter")

# A store change is seen within this many seconds without asking SQLite per message.
_REFRESH_INTERVAL = 1.0

#: The disposition the audit record gives a message refused because it was sent as an
#: ended unit's address (stored: never rename it).
SENDER_UNIT_ENDED = "sender-unit-ended"


def _province_today() -> date:
    return datetime.now(zone()).date()


@dataclass(frozen=True, slots=True)
class EndedUnit:
    """A unit that no longer sends on its own, and the one in service that carries on
    for it (None: none does)."""

    unit: Unit
    successor: Unit | None
    #: its ``valid_until`` when that has passed; None: it was made inactive before
    ended_on: date | None


class UnitLookup:
    """Address → unit id and unit → ancestors, over the directory's index."""

    def __init__(self, index: DirectoryIndex,
                 today: Callable[[], date] = _province_today) -> None:
        self.index = index
        self.today = today
        self._checked = 0.0
        self._provincial = ProvincialDomains()

    def _fresh(self) -> DirectoryIndex:
        now = time.monotonic()
        if now - self._checked > _REFRESH_INTERVAL:
            self._checked = now
            try:
                self.index.refresh()
            except StoreError as exc:
                # The snapshot in memory was the directory a moment ago; a store that
                # restarts or fails over must not turn every message into a 451. The
                # next interval tries again.
                log.warning("directory-refresh-failed revision=%d error=%s",
                            self.index.revision, exc)
        return self.index

    def unit_of(self, address: str | None) -> str | None:
        """The unit owning ``address``, or None."""
        return self._fresh().unit_id(address) if address else None

    def is_mailbox(self, address: str) -> bool:
        """Whether ``address`` is an official's own mailbox in the roster (not a unit's
        official address): only its owner may write as it."""
        return self._fresh().mailbox(address) is not None

    def provincial(self) -> ProvincialDomains:
        """The province's own domains as the From reader takes them."""
        domains = self._fresh().domains
        if domains != self._provincial.domains:
            self._provincial = ProvincialDomains(domains)
        return self._provincial

    def ended(self, unit_id: str) -> EndedUnit | None:
        """The unit if it has ended today: past its ``valid_until``, or inactive with a
        successor; None for a unit in service, an unknown one, or one made inactive
        without a successor (the sender login maps alone refuse it)."""
        index = self._fresh()
        today = self.today()
        try:
            unit = index.unit(unit_id)
        except UnknownUnit:
            return None
        if unit.in_service(today):
            return None
        passed = unit.valid_until is not None and unit.valid_until < today
        ended_on = unit.valid_until if passed else None
        if unit.successor is None and ended_on is None:
            return None
        return EndedUnit(unit, index.successor(unit_id, today), ended_on)

    def chain(self, unit_id: str | None) -> Sequence[str]:
        """The unit and its ancestors, or () for no or an unknown unit."""
        if unit_id is None:
            return ()
        try:
            return self._fresh().ancestors(unit_id)
        except UnknownUnit:
            return ()


class UnitsStage:
    """Bind the sender to its unit (outbound) and find the recipients' units."""

    name = "units"
    kind: ClassVar[StageKind] = StageKind.VERIFY

    def __init__(self, lookup: UnitLookup,
                 may_send_as: Callable[[str, str], bool] = str.__eq__) -> None:
        self.lookup = lookup
        self.may_send_as = may_send_as

    async def run(self, ctx: MessageContext) -> Verdict:
        """Set the recipient units; outbound, the sender unit, or refuse a From that the
        envelope sender may not use."""
        for rcpt in ctx.envelope.recipients:
            unit = self.lookup.unit_of(rcpt)
            if unit is not None:
                ctx.recipient_unit_of[rcpt] = unit
        ctx.recipient_units = tuple(dict.fromkeys(ctx.recipient_unit_of.values()))
        if ctx.direction is not Direction.OUTBOUND:
            ctx.sender_unit = self._claimed(ctx)
            return CONTINUE
        return self._bind(ctx)

    def _claimed(self, ctx: MessageContext) -> str | None:
        """The unit an inbound From claims (the record shows it as claimed, never as
        sent): its address's, or for an ambiguous From the first provincial address
        some reading of it names that is a unit's."""
        sender = ctx.sender
        if sender.address is not None:
            return self.lookup.unit_of(sender.address.addr_spec)
        for address in sender.claimed_addresses:
            unit = self.lookup.unit_of(address)
            if unit is not None:
                return unit
        return None

    def _bind(self, ctx: MessageContext) -> Verdict:
        envelope = ctx.envelope.mail_from
        envelope_unit = self.lookup.unit_of(envelope)
        # The refused message is still the envelope unit's own (its login sent it).
        ctx.sender_unit = envelope_unit
        sender = ctx.sender
        if sender.address is None:
            return self._refuse(ctx, f"the From header is ambiguous ({sender.ambiguity}); "
                                     "send with one plain From address")
        from_unit = self.lookup.unit_of(sender.address.addr_spec)
        if from_unit is None:
            # An official's own mailbox, or the null sender of a bounce, a delivery
            # notice or an auto-reply: accepted without a unit. Any other From must be
            # the login-bound envelope sender itself.
            if envelope and not _same_address(sender.address.addr_spec, envelope):
                return self._refuse(
                    ctx, f"the From address {sender.address.addr_spec} is not the sender's "
                         f"own address {envelope}")
            return CONTINUE
        ctx.is_from_mailbox = self.lookup.is_mailbox(sender.address.addr_spec)
        if ctx.is_from_mailbox and not (
                envelope and _same_address(sender.address.addr_spec, envelope)):
            # an official's own mailbox is its owner's: a colleague of the same unit
            # (or the unit's login) may not write as them
            return self._refuse(
                ctx, f"the From address {sender.address.addr_spec} is an official's own "
                     f"mailbox; only its owner may send as it, not {envelope or '<>'}")
        # an official's own mailbox is the person's, whose unit may have ended: only a
        # unit's own addresses end with it
        ended = None if ctx.is_from_mailbox else self.lookup.ended(from_unit)
        if ended is not None:
            return self._refuse_ended(ctx, sender.address.addr_spec, ended)
        if envelope_unit is not None and self.may_send_as(envelope_unit, from_unit):
            ctx.sender_unit = from_unit
            if envelope_unit != from_unit:
                ctx.submitted_by_unit = envelope_unit
            return CONTINUE
        owner = f"unit {envelope_unit}" if envelope_unit else "no unit"
        return self._refuse(
            ctx, f"the From address {sender.address.addr_spec} belongs to unit {from_unit}, "
                 f"but the sender {envelope or '<>'} belongs to {owner}")

    def _refuse_ended(self, ctx: MessageContext, address: str, ended: EndedUnit) -> Verdict:
        """Refuse mail sent as an ended unit's address, naming the address to use."""
        unit, successor = ended.unit, ended.successor
        when = (f"ended on {ended.ended_on.isoformat()}" if ended.ended_on is not None
                else "is no longer active")
        if successor is not None:
            use = _ascii_address(successor)
            instead = f"address {use}" if use else f"addresses (unit {successor.id})"
            why = (f"the From address {address} is of unit {unit.id}, which {when}; "
                   f"send as its successor's {instead}")
            vi_use = f"dia chi {use}" if use else f"dia chi cua don vi {successor.id}"
            vi = (f"dia chi {address} da ngung su dung (don vi da hop nhat vao "
                  f"{successor.id}), hay gui bang {vi_use}")
            # in each language shorter and shorter, each still naming what to send as:
            # the full text can pass RFC 5321's 512 octets when the addresses are long
            vi_texts = [f"Thu bi tu choi: {vi}", f"Thu bi tu choi: hay gui bang {vi_use}"]
            short = f"Message refused: unit {unit.id} has ended; send as its successor's {instead}"
            en_texts = [f"Message refused: {why}", short,
                        f"Message refused: send as {use or f'unit {successor.id}'}"]
        else:
            why = f"the From address {address} is of unit {unit.id}, which {when}"
            vi_texts = [f"Thu bi tu choi: dia chi {address} da ngung su dung (don vi da ngung "
                        "hoat dong)", "Thu bi tu choi: don vi da ngung hoat dong"]
            en_texts = [f"Message refused: {why}", f"Message refused: unit {unit.id} {when}"]
        ctx.record_auth({"method": "sender", "operation": "verify", "result": "fail",
                         "reason": why, "domain": ctx.sender.domain,
                         "disposition": SENDER_UNIT_ENDED})
        room = R550_SENDER_UNIT_ENDED.room
        vi_text, en_text = (next((t for t in map(ascii_line, texts) if len(t) <= room),
                                 ascii_line(texts[-1])) for texts in (vi_texts, en_texts))
        # one line when both fit on it, else the Vietnamese line, then the English
        return Verdict(Outcome.REJECT, R550_SENDER_UNIT_ENDED.saying(vi_text, en_text), en_text)

    @staticmethod
    def _refuse(ctx: MessageContext, why: str) -> Verdict:
        ctx.record_auth({"method": "sender", "operation": "verify", "result": "fail",
                         "reason": why, "domain": ctx.sender.domain})
        return reject(ascii_line(why), R550_FROM_REFUSED)


def _ascii_address(unit: Unit) -> str | None:
    """The unit's first address an SMTP reply can carry (ASCII: a reply is read by
    clients that did not ask for SMTPUTF8), or None when every one is internationalised."""
    return next((a.addr_spec for a in unit.addresses if a.addr_spec.isascii()), None)


def _same_address(header: str, envelope: str) -> bool:
    """Whether two spellings name one mailbox: domains compared as DNS does, local
    parts without case (Postfix's sender login maps ignore it too)."""
    local_h, _, domain_h = header.rpartition("@")
    local_e, _, domain_e = envelope.rpartition("@")
    if not domain_e.isascii():
        try:  # IDNA 2008 without mapping: a fullwidth spelling is another address
            domain_e = idna.encode(domain_e).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            return False
    return local_h.casefold() == local_e.casefold() and \
        domain_h.lower() == domain_e.lower().rstrip(".")
