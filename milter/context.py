"""What the pipeline knows about one message: who sent it, how, and its bytes."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audit import AuthResult
from mailbase import FromVerdict, HeaderBlock, ProvincialDomains, read_from, read_header
from milter.direction import Direction, Role
from milter.errors import NextHopError
from policies import Decision, SharedParts
from signer import AuthVerdict, DkimResult, SmimeResult


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

    @property
    def client(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The original client's address (ADDR, ``IPV6:`` prefix and all), or None."""
        text = self.addr or ""
        if text.upper().startswith("IPV6:"):
            text = text[5:]
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope exactly as the client gave it."""

    mail_from: str
    mail_options: tuple[str, ...]
    recipients: tuple[str, ...]


#: One document attached to a message and its signatures, as the documents stage found
#: it (signer's DocumentResult.as_dict(), keyed by the attachment's sha256).
DocumentEntry = dict[str, Any]


@dataclass(slots=True)
class Delivery:
    """What happened after the pipeline: the next hop's answer, the record, the hold."""

    #: the next hop's reply (or why there is none), for the log and the completion
    next_hop_reply: str = ""
    #: the next hop's reply code when it refused or failed
    next_hop_error: int | None = None
    #: an LMTP next hop's outcome per recipient (None: delivered)
    per_recipient: list[NextHopError | None] | None = None


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
    #: the MIME parts of the bytes as received, read once on first use and then shared
    #: by the documents stage, the policy stage and the record (policies.SharedParts)
    parts: SharedParts = field(default_factory=SharedParts)
    #: the unit of the header From: outbound (the trusted path) the unit that sent it,
    #: inbound only the unit it claims; and the units it is "received" by
    sender_unit: str | None = None
    #: the envelope sender's unit when it sent as another unit ([[signer.send_as]])
    submitted_by_unit: str | None = None
    #: the From is an official's own mailbox (the roster), not a unit's address: the
    #: unit's S/MIME identity is not theirs to sign with
    is_from_mailbox: bool = False
    recipient_units: tuple[str, ...] = ()
    recipient_unit_of: dict[str, str] = field(default_factory=dict)
    #: the policy decision, once the policy stage (or the DMARC stage, holding) made it
    decision: Decision | None = None
    #: the original client (XFORWARD ADDR) is in service.trusted_networks
    is_trusted_client: bool = False
    content: bytes | None = None
    #: the content is the bytes as received signed whole (smime-sign: their Content
    #: fields and body inside exactly as they came), with a signature part of this file
    #: name: the archive's index reads them as the pipeline walked them
    signature_name: str | None = None
    prepend: list[bytes] = field(default_factory=list)
    #: the id in this message's log lines and in a 451's text
    correlation_id: str = ""
    #: what the verify stage found on the bytes as received (inbound)
    dkim: tuple[DkimResult, ...] = ()
    smime: SmimeResult | None = None
    authn: AuthVerdict | None = None
    #: every verification and signing result, as the audit record lists them
    auth: list[AuthResult] = field(default_factory=list)
    #: the documents attached, with their signatures (the documents stage)
    documents: list[DocumentEntry] = field(default_factory=list)
    #: the SHA-256 under which the archive stage kept the bytes that leave
    archived_sha256: str | None = None
    #: the stage whose verdict ended the pipeline, if one did
    decided_by: str | None = None
    delivery: Delivery = field(default_factory=Delivery)

    @classmethod
    def received(cls, content: bytes, *, listener: str, role: Role, direction: Direction,
                 envelope: Envelope, provincial: ProvincialDomains,
                 peer: tuple[str, int] = ("", 0), helo: str = "",
                 xforward: Xforward | None = None,
                 is_trusted_client: bool = False) -> MessageContext:
        """The context of a message as it comes in (at DATA, or out of quarantine).

        The header block and its From are read here, once (mailbase.read_header and
        read_from): every stage, the signers and the record use these two readings.
        """
        header = read_header(content)
        return cls(listener=listener, role=role, direction=direction, peer=peer, helo=helo,
                   xforward=xforward or Xforward(), envelope=envelope,
                   original_content=content, header=header,
                   sender=read_from(header, provincial), is_trusted_client=is_trusted_client)

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

    def replace_content(self, content: bytes, *, signature_name: str | None = None) -> None:
        """Give the message new bytes (a stage that strips or wraps); ``signature_name``
        when they are the bytes as received signed whole (see :attr:`signature_name`)."""
        self.content = content
        self.signature_name = signature_name

    def record_auth(self, entry: Mapping[str, str | None]) -> None:
        """Add one verification or signing result to what the audit record lists
        (``method``, ``operation``, ``result``, ``reason`` and the like)."""
        self.auth.append(AuthResult.model_validate(entry))

    def add_header(self, name: str, value: str) -> None:
        """Prepend one header line (latest added comes first, like Received).

        :raises ValueError: a CR or LF in the name or value (header injection).
        """
        if any(ch in name + value for ch in "\r\n") or ":" in name:
            raise ValueError(f"refusing to add a header with a line break: {name!r}")
        self.prepend.append(f"{name}: {value}\r\n".encode())
