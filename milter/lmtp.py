"""An LMTP next hop (RFC 2033), e.g. Dovecot's LMTP service.

aiosmtplib speaks SMTP only: LMTP's LHLO and its one reply per recipient after DATA
need a client of their own. This one keeps to what a next hop needs: LHLO, MAIL, RCPT,
DATA with per-recipient replies, RSET and QUIT, one connection per transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from milter.config import NextHopConfig
from milter.errors import NextHopError
from milter.nexthop import FORWARDED_MAIL_PARAMS

_LEADING_DOT = re.compile(rb"(?m)^\.")
_MAX_REPLY_LINES = 100
T = TypeVar("T")


class LmtpReply:
    """One LMTP reply: code and text (lines joined with a space)."""

    def __init__(self, code: int, text: str) -> None:
        self.code = code
        self.text = text

    def error(self) -> NextHopError:
        """This reply as a NextHopError, enhanced status code split off when present."""
        head, _, rest = self.text.partition(" ")
        parts = head.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return NextHopError(self.code, head, rest)
        return NextHopError(self.code, f"{str(self.code)[0]}.0.0", self.text)


class LmtpConnection:
    """One LMTP session."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 config: NextHopConfig) -> None:
        self._reader = reader
        self._writer = writer
        self._config = config

    async def reply(self, timeout: float | None = None) -> LmtpReply:
        """Read one (possibly multi-line) reply."""
        lines: list[str] = []
        for _ in range(_MAX_REPLY_LINES):
            raw = await asyncio.wait_for(self._reader.readline(),
                                         timeout or self._config.command_timeout)
            if not raw.endswith(b"\n"):
                raise ConnectionError("the LMTP server closed the connection")
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(line) < 3 or not line[:3].isdigit():
                raise ConnectionError(f"malformed LMTP reply {line[:80]!r}")
            lines.append(line[4:])
            if line[3:4] != "-":
                return LmtpReply(int(line[:3]), " ".join(lines))
        raise ConnectionError("LMTP reply too long")

    async def command(self, line: str) -> LmtpReply:
        """Send one command line, return its reply."""
        if "\r" in line or "\n" in line:
            raise ValueError("line break in an LMTP command")
        self._writer.write(line.encode("utf-8") + b"\r\n")
        await self._writer.drain()
        return await self.reply()

    async def send_data(self, content: bytes) -> None:
        """Send the dot-stuffed message and the terminating dot."""
        if content and not content.endswith(b"\r\n"):
            content += b"\r\n"
        self._writer.write(_LEADING_DOT.sub(b"..", content) + b".\r\n")
        await self._writer.drain()

    @property
    def data_timeout(self) -> float:
        """Seconds to wait for each per-recipient reply after the data."""
        return self._config.data_timeout

    def close(self) -> None:
        """Drop the connection."""
        self._writer.close()


async def _step(awaitable: Awaitable[T], stage: str) -> T:
    try:
        return await awaitable
    except (OSError, ConnectionError, TimeoutError) as exc:
        raise NextHopError(451, "4.4.1", f"LMTP next hop failed during {stage}: {exc}") from exc


class PartialDelivery(NextHopError):
    """Some recipients were refused after DATA: ``per_recipient`` holds each outcome
    (None for delivered), in RCPT order, for the LMTP listener to mirror."""

    def __init__(self, worst: NextHopError, per_recipient: list[NextHopError | None]) -> None:
        super().__init__(worst.code, worst.enhanced, worst.text)
        self.per_recipient = per_recipient


class LmtpTransaction:
    """One message to the LMTP next hop; ``data`` needs every recipient to succeed."""

    def __init__(self, connection: LmtpConnection) -> None:
        self._connection: LmtpConnection | None = connection
        self.recipients: list[str] = []

    def _live(self) -> LmtpConnection:
        if self._connection is None:
            raise NextHopError(451, "4.4.1", "connection to the next hop was lost")
        return self._connection

    async def rcpt(self, recipient: str, options: Sequence[str] = ()) -> None:
        """Forward one RCPT (DSN options are not passed to LMTP); a refusal is raised
        with the next hop's reply."""
        reply = await _step(self._live().command(f"RCPT TO:<{recipient}>"), "RCPT")
        if reply.code != 250:
            raise reply.error()
        self.recipients.append(recipient)

    async def data(self, content: bytes) -> str:
        """Deliver; the replies when every recipient got 250.

        :raises PartialDelivery: some recipient was refused; the LMTP listener mirrors
            each recipient's outcome (an LMTP next hop is allowed only behind LMTP
            listeners, which can say per recipient what happened).
        """
        connection = self._live()
        try:
            start = await _step(connection.command("DATA"), "DATA")
            if start.code != 354:
                raise start.error()
            await _step(connection.send_data(content), "DATA")
            replies = [await _step(connection.reply(connection.data_timeout), "DATA")
                       for _ in self.recipients]
        finally:
            await self.abort()
        if all(reply.code == 250 for reply in replies):
            return "; ".join(f"{rcpt}: {reply.code} {reply.text}"
                             for rcpt, reply in zip(self.recipients, replies, strict=True))
        errors = [reply.error() if reply.code != 250 else None for reply in replies]
        worst = max((e for e in errors if e is not None), key=lambda e: e.code)
        raise PartialDelivery(worst, errors)

    async def abort(self) -> None:
        """QUIT and close (one connection per transaction keeps LMTP state simple)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError, ConnectionError, TimeoutError, ValueError):
                await asyncio.wait_for(connection.command("QUIT"), 2)
            connection.close()


class LmtpNextHop:
    """Delivery over LMTP, a connection per transaction."""

    def __init__(self, config: NextHopConfig, *, local_hostname: str) -> None:
        self.config = config
        self._local_hostname = local_hostname

    async def begin(self, mail_from: str, mail_options: Sequence[str]) -> LmtpTransaction:
        """Connect, LHLO, MAIL FROM."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.config.host, self.config.port),
                self.config.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise NextHopError(451, "4.4.1", f"cannot connect to the LMTP next hop: {exc}") from exc
        connection = LmtpConnection(reader, writer, self.config)
        transaction = LmtpTransaction(connection)
        try:
            for line, stage in ((None, "greeting"), (f"LHLO {self._local_hostname}", "LHLO")):
                reply = await _step(connection.reply() if line is None
                                    else connection.command(line), stage)
                if reply.code not in (220, 250):
                    raise reply.error()
            options = [o for o in mail_options if o.split("=", 1)[0].upper()
                       in FORWARDED_MAIL_PARAMS]
            reply = await _step(connection.command(
                " ".join([f"MAIL FROM:<{mail_from}>", *options])), "MAIL")
            if reply.code != 250:
                raise reply.error()
        except BaseException:
            await transaction.abort()
            raise
        return transaction

    async def close(self) -> None:
        """Nothing is pooled."""
