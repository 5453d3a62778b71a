"""The SMTP and LMTP protocol side: what aiosmtpd lacks, in small subclasses.

- XFORWARD (Postfix's XFORWARD_README): the original client, HELO, protocol and
  queue id, accepted only from clients allowed to send it, reset after each
  transaction.
- DATA read in one pass (aiosmtpd reads it line by line) with the message checks a
  content filter must make before anything else sees the bytes: size, NUL, bare CR
  or LF (the "SMTP smuggling" family), line length, header size.
- Connection limits, a 421 on idle timeout, and draining for a graceful stop.
- Every refusal of bad input counted and logged (milter/refusals.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiosmtpd.smtp import SMTP, Session, _AuthMechAttr, login_always_fail, make_loop, syntax

from mailbase.lines import has_line_longer
from milter import dsn
from milter.config import LimitsConfig
from milter.metrics import Recorder
from milter.peeruser import peer_uid
from milter.refusals import RefusalReason, RefusalTrace, classify
from milter.replies import (
    R250_XFORWARD,
    R354_START_DATA,
    R421_SHUTTING_DOWN,
    R421_TIMEOUT,
    R421_TOO_MANY_CONNECTIONS,
    R452_TOO_MANY_RECIPIENTS,
    R500_NOT_LMTP,
    R501_DATA_SYNTAX,
    R501_DSN_SYNTAX,
    R501_XFORWARD_SYNTAX,
    R503_NEED_RCPT,
    R503_XFORWARD_IN_TRANSACTION,
    R550_XFORWARD_REFUSED,
    R552_HEADER_TOO_BIG,
    R552_TOO_BIG,
    R554_BARE_LINE_ENDING,
    R554_CLIENT_REFUSED,
    R554_LINE_TOO_LONG,
    R554_NUL,
    Reply,
)
from milter.stockreplies import in_both_languages

if TYPE_CHECKING:
    from milter.nexthop import Transaction
    from milter.runtime import Runtime

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
XFORWARD_ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
_UNAVAILABLE = {"[UNAVAILABLE]", "[TEMPUNAVAIL]"}
_XTEXT = re.compile(r"\+([0-9A-F]{2})")
_END = b".\r\n"
# RFC 5321 4.1.2 Path with a Dot-string local part (UTF-8 allowed, RFC 6531) and a
# plain domain: the common case, checked without the header parser aiosmtpd uses
# (about 100 us per address). Anything else takes aiosmtpd's full parser.
_SIMPLE_PATH = re.compile(
    r"<((?:[^\x00-\x20<>()\[\]\\,;:@\".]+\.)*[^\x00-\x20<>()\[\]\\,;:@\".]+"
    r"@[A-Za-z0-9\x80-\U0010ffff](?:[A-Za-z0-9\x80-\U0010ffff.-]*[A-Za-z0-9\x80-\U0010ffff])?)>"
    r"(?= |$)"
)


def xtext_decode(value: str) -> str:
    """Decode RFC 3461 xtext ("+2B" is "+"), as XFORWARD values are sent."""
    return _XTEXT.sub(lambda m: chr(int(m.group(1), 16)), value)


class FilterSession(Session):
    """aiosmtpd's session plus what the filter keeps per connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.xforward: dict[str, str | None] = {}
        #: the next hop's side of the current transaction, opened at MAIL
        self.transaction: Transaction | None = None
        #: DSN parameters (RFC 3461) of the current MAIL and the RCPT being handled
        self.mail_dsn: list[str] = []
        self.rcpt_dsn: list[str] = []
        #: the runtime the current transaction began with (a reload does not change it)
        self.runtime: Runtime | None = None


class TransactionHooks(Protocol):
    """What FilterSMTP asks of its handler besides aiosmtpd's hooks."""

    async def abort_transaction(self, session: FilterSession) -> None:
        """Tell the next hop to forget the session's transaction, if any."""


class ConnectionTracker:
    """The live connections of one listener set, for limits and draining."""

    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self.live: set[FilterSMTP] = set()
        self.is_draining = False
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, protocol: FilterSMTP) -> None:
        """Count a new connection."""
        self.live.add(protocol)
        self._empty.clear()

    def discard(self, protocol: FilterSMTP) -> None:
        """Forget a closed connection."""
        self.live.discard(protocol)
        if not self.live:
            self._empty.set()

    async def wait_empty(self) -> None:
        """Return when no connection is left."""
        await self._empty.wait()


@dataclass(frozen=True, slots=True)
class _Introspection:
    """What aiosmtpd's SMTP.__init__ finds by introspection, by attribute name: the
    same for every connection of one protocol class and one handler class."""

    #: (mechanism, attribute, whether it is the protocol's own)
    auth: tuple[tuple[str, str, bool], ...]
    #: (command, handler attribute)
    hooks: tuple[tuple[str, str], ...]
    ehlo_hook_ver: str | None
    #: (command, protocol attribute)
    commands: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, protocol: SMTP) -> _Introspection:
        """The names behind the lookups aiosmtpd built for ``protocol``."""
        return cls(
            auth=tuple((mechanism, impl.method.__name__, impl.is_builtin)
                       for mechanism, impl in protocol._auth_methods.items()),
            hooks=tuple((command, hook.__name__)
                        for command, hook in protocol._handle_hooks.items()),
            ehlo_hook_ver=protocol._ehlo_hook_ver,
            commands=tuple((command, method.__name__)
                           for command, method in protocol._smtp_methods.items()),
        )


_IDENT = "congvu"
_introspected: dict[tuple[type, type], _Introspection] = {}


#: replies after which the server closes the connection: never held
_CLOSING = (b"221", b"421")


class FilterSMTP(SMTP):
    """aiosmtpd's SMTP server with XFORWARD, strict DATA checks, limits and draining."""

    def __init__(
        self,
        handler: TransactionHooks,
        *,
        limits: LimitsConfig,
        tracker: ConnectionTracker,
        xforward_hosts: Sequence[IPNetwork],
        hostname: str,
        clients: Sequence[IPNetwork] | None = None,
        client_uids: frozenset[int] | None = None,
        metrics: Recorder | None = None,
        listener: str = "",
    ) -> None:
        found = _introspected.get((type(self), type(handler)))
        if found is None:
            super().__init__(
                handler,
                data_size_limit=limits.max_message_size,
                enable_SMTPUTF8=True,
                decode_data=False,
                hostname=hostname,
                ident=_IDENT,
                timeout=limits.command_timeout,
            )
            _introspected[(type(self), type(handler))] = _Introspection.of(self)
        else:
            self._init_as_aiosmtpd(handler, found, data_size_limit=limits.max_message_size,
                                   hostname=hostname, timeout=limits.command_timeout)
        self.hooks = handler
        self.limits = limits
        self.tracker = tracker
        self._xforward_hosts = xforward_hosts
        self._clients = clients
        self._client_uids = client_uids
        self.is_xforward_allowed = False
        self._is_refused = False
        self._in_transaction_step = False
        self.refusals = RefusalTrace(metrics, listener=listener)
        #: the status the handler last returned: pushed as it is, never classified
        self._handler_status: object = None
        #: replies held while the client's next command is already here (RFC 2920)
        self._held = b""

    def _init_as_aiosmtpd(self, handler: TransactionHooks, found: _Introspection, *,
                          data_size_limit: int, hostname: str, timeout: float) -> None:
        """What aiosmtpd's SMTP.__init__ sets for the arguments above, its lookups of
        commands, hooks and AUTH mechanisms bound from names found once per class.

        aiosmtpd introspects the protocol and its handler (inspect.getmembers, dir)
        for every connection: most of a connection's setup, a fresh connection per
        message before the queue. tests/milter/test_protocol.py holds this to it.
        """
        self.__ident__ = _IDENT
        self.loop = make_loop()
        asyncio.StreamReaderProtocol.__init__(
            self, asyncio.StreamReader(loop=self.loop, limit=self.line_length_limit),
            client_connected_cb=self._cb_client_connected, loop=self.loop)
        self.event_handler = handler
        self.data_size_limit = data_size_limit
        self.enable_SMTPUTF8 = True
        self._decode_data = False
        self.command_size_limits.clear()  # aiosmtpd's class-wide table, as its __init__
        self.hostname = hostname or socket.getfqdn()
        self.tls_context = None
        self.require_starttls = None
        self._timeout_duration = timeout
        self._timeout_handle = None
        self._tls_handshake_okay = True
        self._tls_protocol = None
        self._original_transport = None
        self.session = None
        self.envelope = None
        self.transport = None
        self._handler_coroutine = None
        self._auth_require_tls = True
        self._proxy_timeout = None
        self._authenticator = None
        self._auth_callback = login_always_fail
        self._auth_required = False
        self._auth_methods = {
            mechanism: _AuthMechAttr(getattr(self if is_builtin else handler, name), is_builtin)
            for mechanism, name, is_builtin in found.auth}
        self._handle_hooks = {command: getattr(handler, name) for command, name in found.hooks}
        self._ehlo_hook_ver = found.ehlo_hook_ver
        self._smtp_methods = {command: getattr(self, name) for command, name in found.commands}
        self._enforce_call_limit = False

    def _create_session(self) -> FilterSession:
        return FilterSession(self.loop)

    # Connection lifecycle ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        try:
            address = ipaddress.ip_address(peer[0])
        except (TypeError, ValueError, IndexError):
            address = None
        if self._clients is not None and (
                address is None or not any(address in net for net in self._clients)):
            # Who reaches a listener decides who may send as the province: a process
            # on the host that is not Postfix gets no say.
            self._refuse_connection(transport, R554_CLIENT_REFUSED,
                                    RefusalReason.CLIENT_REFUSED)
            return
        if self._client_uids is not None and peer_uid(
                peer, transport.get_extra_info("sockname")) not in self._client_uids:
            # any user can bind a loopback source address; none can own another's socket
            self._refuse_connection(transport, R554_CLIENT_REFUSED,
                                    RefusalReason.CLIENT_REFUSED)
            return
        if self.tracker.is_draining or len(self.tracker.live) >= self.tracker.max_connections:
            reply = R421_SHUTTING_DOWN if self.tracker.is_draining else R421_TOO_MANY_CONNECTIONS
            self._refuse_connection(
                transport, reply,
                RefusalReason.TOO_MANY_CONNECTIONS if reply is R421_TOO_MANY_CONNECTIONS
                else None)
            return
        self.tracker.add(self)
        self.is_xforward_allowed = address is not None and any(
            address in network for network in self._xforward_hosts
        )
        super().connection_made(transport)

    def _refuse_connection(self, transport: asyncio.BaseTransport, reply: Reply,
                           reason: RefusalReason | None) -> None:
        self._is_refused = True
        if reason is not None:
            self._trace(reason, reply, peer=transport.get_extra_info("peername"))
        transport.write(f"{reply}\r\n".encode())  # type: ignore[attr-defined]
        transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        if self._is_refused:
            return
        self.tracker.discard(self)
        session = self.session
        if isinstance(session, FilterSession) and session.transaction is not None:
            # The client went away mid-transaction: the next hop must keep nothing.
            transaction, session.transaction = session.transaction, None
            self.loop.create_task(transaction.abort())
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._trace(RefusalReason.TIMEOUT, R421_TIMEOUT)
            held, self._held = self._held, b""
            self.transport.write(  # type: ignore[attr-defined]
                held + f"{R421_TIMEOUT}\r\n".encode())
        super()._timeout_cb()  # type: ignore[no-untyped-call]

    def begin_drain(self) -> None:
        """Close now if idle; otherwise close after the current transaction."""
        envelope = self.envelope
        if not self._in_transaction_step and (envelope is None or not envelope.mail_from):
            self._close_with(R421_SHUTTING_DOWN)

    def _close_with(self, reply: Reply) -> None:
        if self.transport is not None and not self.transport.is_closing():
            held, self._held = self._held, b""
            self.transport.write(held + f"{reply}\r\n".encode())  # type: ignore[attr-defined]
            self.transport.close()

    # Refusals ------------------------------------------------------------------

    def _trace(self, reason: RefusalReason, reply: Reply, *, peer: Any = None) -> None:
        session = self.session
        if peer is None and session is not None:
            peer = session.peer
        xforward = session.xforward if isinstance(session, FilterSession) else {}
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer or "")
        self.refusals.record(reason, reply, peer=where, client=xforward.get("ADDR"),
                             queue_id=xforward.get("IDENT"))

    async def _refuse(self, reason: RefusalReason, reply: Reply) -> None:
        """Answer bad input with ``reply``, counted and logged."""
        self._trace(reason, reply)
        await self._send(str(reply))

    async def push(self, status: Any) -> None:
        """Send a reply. One that aiosmtpd gives by itself is said in both languages
        (milter/stockreplies.py), and traced when it refuses bad input; the handler's
        (ours, or the next hop's mirrored) goes as it is."""
        if status is not self._handler_status and isinstance(status, str):
            refusal = classify(status)
            if refusal is not None:
                reason, reply, status = refusal
            said = in_both_languages(status, self.hostname, self.__ident__)
            if said is not None:
                reply, status = said, str(said)
            if refusal is not None:
                self._trace(reason, reply)
        self._handler_status = None
        await self._send(status)

    async def _send(self, status: str | bytes) -> None:
        """Write one reply line, or hold it for the next write (RFC 2920 section 3.2:
        the replies to a group of pipelined commands may go in one write). A line is
        held while it is a multi-line reply's non-final line, or while the client's
        next command is already read in, so answering it will follow at once; it goes
        with the first reply after which the server would wait for the client. A
        client that pipelines XFORWARD, MAIL, RCPT and DATA, as Postfix does, gets
        their replies in one write, not four: each write on a socket costs the
        filter about as much processor time as a stage of its own."""
        line = (status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
                if isinstance(status, str) else status)
        self._held += line + b"\r\n"
        last = line[line.rfind(b"\n") + 1:]  # a reply may come as several lines at once
        if last[3:4] == b"-" or (self._has_next_command() and not line.startswith(_CLOSING)):
            return
        held, self._held = self._held, b""
        assert self._writer is not None
        self._writer.write(held)
        await self._writer.drain()

    def _has_next_command(self) -> bool:
        """Whether a whole command line of the client's is read in and waiting (the
        reader's buffer: aiosmtpd itself reaches into it, and asyncio has no public
        way to look without reading)."""
        return b"\n" in self._reader._buffer  # type: ignore[attr-defined]

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        status = await super()._call_handler_hook(command, *args)
        self._handler_status = status
        return status

    def _set_post_data_state(self) -> None:
        super()._set_post_data_state()  # type: ignore[no-untyped-call]
        if isinstance(self.session, FilterSession):
            self.session.xforward = {}

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        match = _SIMPLE_PATH.match(arg.lstrip())
        if match and ".." not in match.group(1):
            return match.group(1), arg.lstrip()[match.end():].lstrip()
        result: tuple[str | None, str | None] = super()._getaddr(arg)
        return result

    # DSN (RFC 3461): aiosmtpd refuses parameters it does not know, so they are taken
    # off the line here, checked, and kept on the session for the handler.

    async def smtp_MAIL(self, arg: str | None) -> None:
        """MAIL with RET and ENVID taken aside."""
        await self._with_dsn(arg, dsn.MAIL_PARAMETERS, "mail_dsn", super().smtp_MAIL)

    async def smtp_RCPT(self, arg: str | None) -> None:
        """RCPT with NOTIFY and ORCPT taken aside, and the recipient limit."""
        session, envelope = self.session, self.envelope
        if (isinstance(session, FilterSession) and session.runtime is not None
                and envelope is not None and envelope.mail_from
                and len(envelope.rcpt_tos) >= session.runtime.config.limits.max_recipients):
            # Checked here rather than left to the handler so the refusal is traced;
            # the limit is the transaction's configuration, as the handler reads it.
            await self._refuse(RefusalReason.TOO_MANY_RECIPIENTS, R452_TOO_MANY_RECIPIENTS)
            return
        await self._with_dsn(arg, dsn.RCPT_PARAMETERS, "rcpt_dsn", super().smtp_RCPT)

    async def _with_dsn(self, arg: str | None, allowed: frozenset[str], slot: str,
                        command: Any) -> None:
        session = self.session
        assert isinstance(session, FilterSession)
        found: list[str] = []
        if arg and session.extended_smtp:
            try:
                arg, found = dsn.split(arg, allowed)
            except dsn.DsnSyntaxError as exc:
                await self._refuse(RefusalReason.DSN_SYNTAX, R501_DSN_SYNTAX.detailed(str(exc)))
                return
        setattr(session, slot, found)
        await command(arg)

    # XFORWARD -------------------------------------------------------------------

    @syntax("XFORWARD attribute=value ...")
    async def smtp_XFORWARD(self, arg: str | None) -> None:
        """Record Postfix's original client attributes for the next transaction."""
        if await self.check_helo_needed("EHLO"):
            return
        session = self.session
        assert isinstance(session, FilterSession) and self.envelope is not None
        if not self.is_xforward_allowed:
            await self._refuse(RefusalReason.XFORWARD_REFUSED, R550_XFORWARD_REFUSED)
            return
        if self.envelope.mail_from:
            await self._refuse(RefusalReason.XFORWARD_IN_TRANSACTION,
                               R503_XFORWARD_IN_TRANSACTION)
            return
        attributes: dict[str, str | None] = {}
        for item in (arg or "").split():
            name, equals, value = item.partition("=")
            name = name.upper()
            if not equals or name not in XFORWARD_ATTRIBUTES:
                reply = R501_XFORWARD_SYNTAX.detailed(name)
                await self._refuse(RefusalReason.XFORWARD_SYNTAX, reply)
                return
            decoded = xtext_decode(value)
            attributes[name] = None if decoded.upper() in _UNAVAILABLE else decoded
        if not attributes:
            await self._refuse(RefusalReason.XFORWARD_SYNTAX, R501_XFORWARD_SYNTAX)
            return
        session.xforward.update(attributes)
        await self.push(str(R250_XFORWARD))

    # DATA -----------------------------------------------------------------------

    @syntax("DATA")
    async def smtp_DATA(self, arg: str | None) -> None:
        """Read the message in one pass, check it, then hand it to the handler."""
        if await self.check_helo_needed():
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push(str(R503_NEED_RCPT))
            return
        if arg:
            await self.push(str(R501_DATA_SYNTAX))
            return
        await self.push(str(R354_START_DATA))
        self._in_transaction_step = True
        try:
            self._reset_timeout(self.limits.data_timeout)
            content, problem = await self._read_message()
            if problem is None:
                problem = self._check_message(content)
            if problem is not None:
                assert isinstance(self.session, FilterSession)
                await self.hooks.abort_transaction(self.session)
                reason, reply = problem
                self._trace(reason, reply)  # before the XFORWARD values are reset
                self._set_post_data_state()
                await super().push(str(reply))
                return
            self.envelope.original_content = content
            self.envelope.content = content
            # Our own processing must not trip the client's idle timer.
            self._reset_timeout(self.limits.data_timeout + self.limits.command_timeout)
            status = await self._call_handler_hook("DATA")
            self._set_post_data_state()
            await self.push(status)
        finally:
            self._in_transaction_step = False
            self._reset_timeout()
        if self.tracker.is_draining:
            self._close_with(R421_SHUTTING_DOWN)

    async def _read_message(self) -> tuple[bytes, tuple[RefusalReason, Reply] | None]:
        """Read up to CRLF.CRLF (RFC 5321 4.1.1.4); only that sequence ends the data.

        Reading by ".\\r\\n" chunks keeps the scanning in C. A bare LF before the dot
        does not end the message, so "\\n.\\r\\n" smuggling cannot split it.
        """
        reader = self._reader
        limit = self.limits.max_message_size
        # StreamReader has no public way to change its line limit; DATA needs the
        # whole message's worth, commands keep aiosmtpd's.
        saved_limit = reader._limit  # type: ignore[attr-defined]
        reader._limit = limit + 4096  # type: ignore[attr-defined]
        chunks: list[bytes] = []
        total = 0
        is_too_big = False
        previous_end = b"\r\n"  # the data starts as if after a line end
        try:
            while True:
                try:
                    chunk = await reader.readuntil(_END)
                except asyncio.LimitOverrunError as exc:
                    is_too_big = True
                    chunks.clear()
                    # Keep the last bytes, which may be the start of the terminator.
                    await reader.readexactly(max(exc.consumed - 4, 1))
                    continue
                is_end = chunk.endswith(b"\r\n.\r\n") or (
                    chunk == _END and previous_end == b"\r\n"
                )
                total += len(chunk)
                if not is_too_big:
                    if total > limit + 3:
                        is_too_big = True
                        chunks.clear()
                    else:
                        chunks.append(chunk)
                previous_end = chunk[-2:] if len(chunk) >= 2 else previous_end
                if is_end:
                    break
        finally:
            reader._limit = saved_limit  # type: ignore[attr-defined]
        if is_too_big:
            return b"", (RefusalReason.MESSAGE_TOO_BIG, R552_TOO_BIG)
        data = b"".join(chunks)[:-3]
        # RFC 5321 4.5.2: drop the first period of every line that starts with one.
        if data.startswith(b"."):
            data = data[1:]
        return data.replace(b"\r\n.", b"\r\n"), None

    def _check_message(self, content: bytes) -> tuple[RefusalReason, Reply] | None:
        if b"\x00" in content:
            return RefusalReason.NUL, R554_NUL
        crlf = content.count(b"\r\n")
        if content.count(b"\n") != crlf or content.count(b"\r") != crlf:
            return RefusalReason.BARE_LINE_ENDING, R554_BARE_LINE_ENDING
        if has_line_longer(content, self.limits.max_line_length, end=b"\r\n"):
            return RefusalReason.LINE_TOO_LONG, R554_LINE_TOO_LONG
        header_end = content.find(b"\r\n\r\n")
        if (header_end if header_end >= 0 else len(content)) > self.limits.max_header_size:
            return RefusalReason.HEADER_TOO_BIG, R552_HEADER_TOO_BIG
        return None


class FilterLMTP(FilterSMTP):
    """The same filter spoken as LMTP (RFC 2033): LHLO, one reply per recipient."""

    @syntax("LHLO hostname")
    async def smtp_LHLO(self, arg: str) -> None:
        """The LMTP greeting, in place of EHLO."""
        await super().smtp_EHLO(arg)

    async def smtp_HELO(self, arg: str) -> None:
        """HELO is not LMTP."""
        await self.push(str(R500_NOT_LMTP.detailed("HELO")))

    async def smtp_EHLO(self, arg: str) -> None:
        """EHLO is not LMTP."""
        await self.push(str(R500_NOT_LMTP.detailed("EHLO")))

    async def check_helo_needed(self, helo: str = "HELO") -> bool:
        return await super().check_helo_needed("LHLO")


__all__ = ["ConnectionTracker", "FilterLMTP", "FilterSMTP", "FilterSession"]
