"""What the pipeline knows about one message: who sent it, how, and its bytes."""

from __future__ import annotations

import email
import time
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from mailbase import FromVerdict, HeaderBlock
from milter.config import Direction, Role

UNAVAILABLE = "[UNAVAILABLE]"


@dataclass(frozen=True, slots=True)
class Xforward:
    """Postfix's XFORWARD attributes: the original client, as Postfix saw it.

    Values Postfix reports as ``[UNAVAILABLE]`` or ``[TEMPUNAVAIL]`` are kept as None.
    """

    name: str | None = None
    addr: str | None = None
    port: str | None = None
    proto: str | None = None
    helo: str | None = None
    ident: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope exactly as the client gave it."""

    mail_from: str
    mail_options: tuple[str, ...]
    recipients: tuple[str, ...]


@dataclass(slots=True)
class MessageContext:
    """One message in the pipeline.

    ``original_content`` is the message as received and never changes; stages that
    change the message set ``content`` (new bytes) or add to ``prepend`` (header lines
    added in front, so DKIM-relevant bytes are not re-serialized).
    """

    listener: str
    role: Role
    direction: Direction
    peer: tuple[str, int]
    helo: str
    xforward: Xforward
    envelope: Envelope
    original_content: bytes
    received_at: float = field(default_factory=time.time)
    #: the header block and the one reading of its From (mailbase.read_from), made at
    #: the door: every stage, the signers and the record use these, never a re-reading
    header: HeaderBlock = field(default_factory=lambda: HeaderBlock(()))
    sender: FromVerdict = field(default_factory=lambda: FromVerdict(None, "not read"))
    #: the unit of the header From: outbound (the trusted path) the unit that sent it,
    #: inbound only the unit it claims; and the units it is "received" by
    sender_unit: str | None = None
    #: the envelope sender's unit when it sent as another unit ([[signer.send_as]])
    submitted_by_unit: str | None = None
    recipient_units: tuple[str, ...] = ()
    recipient_unit_of: dict[str, str] = field(default_factory=dict)
    #: the policy decision (policies.Decision), once the policy stage ran
    decision: Any = None
    #: the original client (XFORWARD ADDR) is in service.trusted_networks
    is_trusted_client: bool = False
    content: bytes | None = None
    prepend: list[bytes] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    _parsed: Message | None = None

    @property
    def current_content(self) -> bytes:
        """The message body as the stages have left it, without prepended headers."""
        return self.original_content if self.content is None else self.content

    @property
    def final_content(self) -> bytes:
        """The bytes that leave: prepended header lines, then the current content."""
        if not self.prepend:
            return self.current_content
        return b"".join(reversed(self.prepend)) + self.current_content

    @property
    def message(self) -> Message:
        """The current content parsed (compat32, lazily, once per content change)."""
        if self._parsed is None:
            self._parsed = email.message_from_bytes(self.current_content)
        return self._parsed

    def replace_content(self, content: bytes) -> None:
        """Give the message new bytes (a stage that strips or wraps)."""
        self.content = content
        self._parsed = None

    def add_header(self, name: str, value: str) -> None:
        """Prepend one header line (latest added comes first, like Received).

        :raises ValueError: a CR or LF in the name or value (header injection).
        """
        if any(ch in name + value for ch in "\r\n") or ":" in name:
            raise ValueError(f"refusing to add a header with a line break: {name!r}")
        self.prepend.append(f"{name}: {value}\r\n".encode())
