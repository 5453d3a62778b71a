"""A real SMTP next hop for tests: aiosmtpd on 127.0.0.1, recording what it accepts.

Replies can be queued per command (like Mailman's testing/mta.py error queue), DATA
can be made to hang, and the sink can be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from support.loopthread import LoopThread


@dataclass
class Received:
    """One message the sink accepted."""

    mail_from: str
    mail_options: list[str]
    recipients: list[str]
    content: bytes


@dataclass
class _Behaviour:
    replies: dict[str, list[str]] = field(default_factory=dict)
    hang_data: threading.Event | None = None
    #: (seen, release): MAIL sets seen, then waits for release before it replies
    hang_mail: tuple[threading.Event, threading.Event] | None = None


class _Handler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def _queued(self, command: str) -> str | None:
        pending = self.sink.behaviour.replies.get(command)
        return pending.pop(0) if pending else None

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        hang = self.sink.behaviour.hang_mail
        if hang is not None:
            seen, release = hang
            seen.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait)
        reply = self._queued("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        reply = self._queued(f"RCPT:{address}") or self._queued("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        hang = self.sink.behaviour.hang_data
        if hang is not None:
            await asyncio.get_running_loop().run_in_executor(None, hang.wait)
        reply = self._queued("DATA")
        if reply:
            return reply
        if self.sink.is_lmtp:
            # RFC 2033: one reply per recipient; queue "DATA:addr" to refuse one.
            replies = [self._queued(f"DATA:{rcpt}") or "250 2.0.0 delivered"
                       for rcpt in envelope.rcpt_tos]
            delivered = [r for r, line in zip(envelope.rcpt_tos, replies, strict=True)
                         if line.startswith("250")]
            if delivered:
                self.sink.messages.put(Received(envelope.mail_from, list(envelope.mail_options),
                                                delivered, envelope.original_content))
            return "\r\n".join(replies)
        self.sink.messages.put(
            Received(envelope.mail_from, list(envelope.mail_options), list(envelope.rcpt_tos),
                     envelope.original_content)
        )
        return "250 2.0.0 Ok: queued as SINK"


class Sink:
    """The next hop: start(), stop(), messages (a queue.Queue of Received)."""

    def __init__(self, runner: LoopThread, *, is_lmtp: bool = False) -> None:
        self._runner = runner
        self.is_lmtp = is_lmtp
        self.messages: queue.Queue[Received] = queue.Queue()
        self.behaviour = _Behaviour()
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[SMTP] = set()

    def _protocol(self) -> SMTP:
        kind = LMTP if self.is_lmtp else SMTP
        protocol = kind(_Handler(self), enable_SMTPUTF8=True, hostname="sink",
                        data_size_limit=None)
        self._connections.add(protocol)
        return protocol

    def start(self) -> None:
        """Listen (on the same port as before, if it ran before)."""
        async def serve() -> asyncio.AbstractServer:
            loop = asyncio.get_running_loop()
            sock = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
            return await loop.create_server(self._protocol, sock=sock)

        self._server = self._runner.run(serve())
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop listening and drop open connections."""
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for protocol in self._connections:
                if protocol.transport is not None:
                    protocol.transport.close()
            self._connections.clear()

        self._runner.run(close())
        self._server = None

    def queue_reply(self, command: str, reply: str) -> None:
        """Answer the next ``command`` (MAIL, RCPT, RCPT:addr, DATA) with ``reply``."""
        self.behaviour.replies.setdefault(command, []).append(reply)

    def get(self, timeout: float = 10) -> Received:
        """The next accepted message (waits for it)."""
        return self.messages.get(timeout=timeout)

    def assert_empty(self) -> None:
        """Nothing was accepted."""
        assert self.messages.empty(), f"unexpected message: {self.messages.queue[0]!r}"
