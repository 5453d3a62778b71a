"""Where accepted mail goes: an SMTP next hop (Postfix's reinjection port) or a maildir.

The SMTP next hop runs in step with the client: MAIL and each RCPT are forwarded as
the client gives them, so a recipient the next hop refuses is refused to the client
with the next hop's own reply at RCPT time, never dropped after a 250. The message
itself goes after the pipeline, and the client's 250 waits for the next hop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import aiosmtplib
from aiosmtplib.email import quote_address

from mailbase import write_private_durably
from milter.config import NextHopConfig
from milter.errors import NextHopError

log = logging.getLogger("congvu.milter")

# A Dot-string local part (UTF-8 allowed, RFC 6531) at a plain domain, as milter/smtp.py
# takes it from the client: sent as it is, without the email.utils parse aiosmtplib's
# mail() and rcpt() make of every address (it leaves such an address unchanged).
_PLAIN_ADDRESS = re.compile(
    r"(?:[^\x00-\x20<>()\[\]\\,;:@\".]+\.)*[^\x00-\x20<>()\[\]\\,;:@\".]+"
    r"@[A-Za-z0-9\x80-\U0010ffff](?:[A-Za-z0-9\x80-\U0010ffff.-]*[A-Za-z0-9\x80-\U0010ffff])?"
)
# The decided meaning of a bare CR or LF in bytes we relay (milter/smtp.py refuses them
# from clients, so only our own changes could bring one): a line end, as aiosmtplib had it.
_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")

# Postfix's smtpd refuses ESMTP parameters it did not advertise; keep the ones whose
# meaning must survive the filter (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8).
FORWARDED_MAIL_PARAMS = ("SIZE", "BODY", "SMTPUTF8")
# RFC 3461: passed on only to a next hop that advertises DSN.
_DSN_MAIL_PARAMS = ("RET", "ENVID")


def _enhanced(message: str, code: int) -> tuple[str, str]:
    """Split "4.4.1 text" into its enhanced code and text (RFC 3463 / RFC 2034)."""
    head, _, rest = message.partition(" ")
    parts = head.split(".")
    if len(parts) == 3 and all(part.isdigit() for part in parts) and head[0] == str(code)[0]:
        return head, rest
    return f"{str(code)[0]}.0.0", message


def _path(address: str) -> bytes:
    """The RFC 5321 Path of ``address`` for MAIL or RCPT, UTF-8 (SMTPUTF8)."""
    if not address or _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>".encode()
    return quote_address(address).encode()


def data_lines(content: bytes) -> bytes:
    """``content`` as DATA carries it (RFC 5321 4.5.2): CRLF line ends, a final CRLF,
    a period doubled at the start of every line, then the ending ".CRLF".

    A bare CR or LF becomes CRLF. The common case (CRLF only) stays in C.
    """
    crlf = content.count(b"\r\n")
    if content.count(b"\n") != crlf or content.count(b"\r") != crlf:
        content = _LINE_END.sub(b"\r\n", content)
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    stuffed = content.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"


async def _mail(client: aiosmtplib.SMTP, sender: str, options: Sequence[str]) -> None:
    response = await client.execute_command(
        b"MAIL", b"FROM:" + _path(sender), *(o.encode("ascii") for o in options))
    if response.code != 250:
        raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)


async def _rcpt(client: aiosmtplib.SMTP, recipient: str, options: Sequence[str]) -> None:
    response = await client.execute_command(
        b"RCPT", b"TO:" + _path(recipient), *(o.encode("ascii") for o in options))
    if response.code not in (250, 251):
        raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)


async def _data(client: aiosmtplib.SMTP, content: bytes,
                timeout: float) -> aiosmtplib.SMTPResponse:
    """DATA with our own line preparation (aiosmtplib's data() runs two regular
    expressions over every message); its replies are read as aiosmtplib reads them."""
    protocol = client.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    lines = data_lines(content)
    start = await client.execute_command(b"DATA", timeout=timeout)
    if start.code != 354:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    try:
        # read_response marks the reply as awaited before the loop can deliver it
        protocol.write(lines)
        response = await protocol.read_response(timeout=timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
        client.close()
        raise
    if response.code != 250:
        raise aiosmtplib.SMTPDataError(response.code, response.message)
    return response


def _error(exc: Exception, *, stage: str) -> NextHopError:
    if isinstance(exc, aiosmtplib.SMTPResponseException) and 400 <= exc.code < 600:
        enhanced, text = _enhanced(exc.message.replace("\n", " "), exc.code)
        return NextHopError(exc.code, enhanced, text)
    reasons: dict[type[Exception], str] = {
        aiosmtplib.SMTPConnectTimeoutError: "connection timed out",
        aiosmtplib.SMTPReadTimeoutError: "timed out waiting for a reply",
        aiosmtplib.SMTPServerDisconnected: "connection lost",
        aiosmtplib.SMTPConnectError: "cannot connect",
    }
    reason = reasons.get(type(exc), type(exc).__name__)
    return NextHopError(451, "4.4.1", f"next hop {reason} during {stage}")


class Transaction(Protocol):
    """One message's transaction at the next hop."""

    async def rcpt(self, recipient: str, options: Sequence[str] = ()) -> None:
        """Add a recipient (with its DSN options); raises NextHopError with the next
        hop's refusal."""
        ...

    async def data(self, content: bytes) -> str:
        """Send the message; return the next hop's reply text, or raise NextHopError."""
        ...

    async def abort(self) -> None:
        """Give up on this transaction; the next hop keeps nothing."""
        ...


class NextHop(Protocol):
    """A place that takes messages."""

    async def begin(self, mail_from: str, mail_options: Sequence[str]) -> Transaction:
        """Open a transaction for one message."""
        ...

    async def close(self) -> None:
        """Close idle connections."""
        ...


class SmtpTransaction:
    """A transaction on one pooled connection."""

    def __init__(self, pool: SmtpNextHop, client: aiosmtplib.SMTP) -> None:
        self._pool = pool
        self._client: aiosmtplib.SMTP | None = client
        self._recipients = 0

    def _require(self) -> aiosmtplib.SMTP:
        if self._client is None:
            raise NextHopError(451, "4.4.1", "connection to the next hop was lost")
        return self._client

    async def rcpt(self, recipient: str, options: Sequence[str] = ()) -> None:
        """Forward one RCPT; the next hop's refusal is raised as NextHopError."""
        client = self._require()
        forwarded = list(options) if client.supports_extension("dsn") else []
        try:
            await _rcpt(client, recipient, forwarded)
        except aiosmtplib.SMTPRecipientRefused as exc:
            raise _error(exc, stage="RCPT") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._discard()
            raise _error(exc, stage="RCPT") from exc
        self._recipients += 1

    async def data(self, content: bytes) -> str:
        """Send the message; the reply text on success."""
        client = self._require()
        try:
            response = await _data(client, content, self._pool.config.data_timeout)
        except aiosmtplib.SMTPDataError as exc:
            # The transaction is over at the next hop either way; the connection is fine.
            self._release()
            raise _error(exc, stage="DATA") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._discard()
            raise _error(exc, stage="DATA") from exc
        self._release()
        return f"{response.code} {response.message}".replace("\n", " ")

    async def abort(self) -> None:
        """RSET the connection and give it back, or drop it if RSET fails."""
        if self._client is None:
            return
        client = self._client
        try:
            await client.rset(timeout=self._pool.config.command_timeout)
        except (aiosmtplib.SMTPException, OSError):
            self._discard()
            return
        self._release()

    def _release(self) -> None:
        if self._client is not None:
            self._pool.release(self._client)
            self._client = None

    def _discard(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class SmtpNextHop:
    """An SMTP next hop with a pool of open connections (one per transaction)."""

    def __init__(self, config: NextHopConfig, *, local_hostname: str) -> None:
        self.config = config
        self._local_hostname = local_hostname
        self._idle: list[tuple[float, aiosmtplib.SMTP]] = []
        self._closed = False

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.config.host,
            port=self.config.port,
            local_hostname=self._local_hostname,
            timeout=self.config.command_timeout,
            use_tls=False,
            start_tls=False,
        )
        await client.connect(timeout=self.config.connect_timeout)
        return client

    async def _acquire(self) -> aiosmtplib.SMTP:
        while self._idle:
            _, client = self._idle.pop()
            if client.is_connected:
                return client
        return await self._connect()

    def release(self, client: aiosmtplib.SMTP) -> None:
        """Return a connection to the pool (closed if the pool is full or closing)."""
        if self._closed or len(self._idle) >= self.config.pool_size or not client.is_connected:
            client.close()
            return
        self._idle.append((time.monotonic(), client))

    async def begin(self, mail_from: str, mail_options: Sequence[str]) -> SmtpTransaction:
        """MAIL FROM on a pooled connection (one retry on a fresh one if it went stale)."""
        for attempt in (1, 2):
            try:
                client = await self._acquire()
                if client.is_ehlo_or_helo_needed:
                    await client.ehlo()
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _error(exc, stage="connect") from exc
            kept = FORWARDED_MAIL_PARAMS + (
                _DSN_MAIL_PARAMS if client.supports_extension("dsn") else ())
            options = [opt for opt in mail_options if opt.split("=", 1)[0].upper() in kept]
            try:
                await _mail(client, mail_from, options)
            except aiosmtplib.SMTPSenderRefused as exc:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.rset()
                self.release(client)
                raise _error(exc, stage="MAIL") from exc
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                client.close()
                if attempt == 2:
                    raise _error(exc, stage="MAIL") from exc
                continue  # an idle connection the next hop had closed
            except (aiosmtplib.SMTPException, OSError) as exc:
                client.close()
                raise _error(exc, stage="MAIL") from exc
            return SmtpTransaction(self, client)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """QUIT every idle connection."""
        self._closed = True
        idle, self._idle = self._idle, []
        for _, client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await asyncio.wait_for(client.quit(), timeout=2)
            client.close()


class MaildirTransaction:
    """A message on its way into a maildir: nothing touches disk before ``data``."""

    def __init__(self, root: Path, mail_from: str) -> None:
        self._root = root
        self._mail_from = mail_from
        self._recipients: list[str] = []

    async def rcpt(self, recipient: str, options: Sequence[str] = ()) -> None:
        """Every recipient is accepted: the maildir is one mailbox for all."""
        self._recipients.append(recipient)

    async def data(self, content: bytes) -> str:
        """Write the message durably (tmp/, fsync, rename into new/, fsync the dir)."""
        header = f"Return-Path: <{self._mail_from}>\r\n".encode()
        header += b"".join(
            f"X-Envelope-To: <{rcpt}>\r\n".encode() for rcpt in self._recipients
        )
        try:
            name = await asyncio.to_thread(_deliver, self._root, header + content)
        except OSError as exc:
            raise NextHopError(451, "4.3.0", f"maildir delivery failed: {exc.strerror}") from exc
        return f"250 2.0.0 delivered to maildir as {name}"

    async def abort(self) -> None:
        """Nothing was written; nothing to undo."""


_counter = 0


def _deliver(root: Path, content: bytes) -> str:
    global _counter
    _counter += 1
    name = f"{time.time():.6f}.P{os.getpid()}Q{_counter}.{socket.gethostname()}"
    write_private_durably(root / "new" / name, content, tmp=root / "tmp" / name)
    return name


class MaildirNextHop:
    """Delivery into a maildir (the embedded default; also an archive)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("tmp", "new", "cur"):
            (root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    async def begin(self, mail_from: str, mail_options: Sequence[str]) -> MaildirTransaction:
        """A transaction that writes only when the message is complete."""
        return MaildirTransaction(self.root, mail_from)

    async def close(self) -> None:
        """Nothing stays open."""
