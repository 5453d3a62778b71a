"""The service's own settings: ``[service]``, ``[[listeners]]``, ``[next_hop]``,
``[pipeline]``, ``[limits]`` and ``[metrics]`` (``[probe]`` is in probe.py).

congvu/config.py composes them with the capability packages' tables into one file;
milter/ reads that whole through :class:`milter.settings.Settings`.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from milter import stages as stage_table
from milter.direction import Direction as Direction  # also imported from here
from milter.direction import Role as Role
from milter.peeruser import user_ids


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueuePosition(StrEnum):
    """Where a listener sits in Postfix's path: behind its queue (content_filter) or in
    the client's session (smtpd_proxy_filter)."""

    AFTER = "after"
    BEFORE = "before"


class AfterQueueRefusal(StrEnum):
    """What becomes of inbound mail congvu refuses behind Postfix's queue, where a 5xx
    would make Postfix bounce it to a sender that is usually forged."""

    QUARANTINE = "quarantine"
    DISCARD = "discard"


class Protocol(StrEnum):
    """The protocol a listener speaks, or the next hop is spoken to in."""

    SMTP = "smtp"
    LMTP = "lmtp"


class NextHopKind(StrEnum):
    """Where accepted mail goes."""

    SMTP = "smtp"
    LMTP = "lmtp"
    MAILDIR = "maildir"


Port = Annotated[int, Field(ge=0, le=65535)]


class ListenerConfig(_Strict):
    """One listening socket (``[[listeners]]``)."""

    name: str = Field(description="A short name used in logs and the audit record.")
    role: Role = Field(
        default=Role.AUTO,
        description="outbound (authenticated staff, e.g. behind Postfix's submission), "
        "inbound (port 25), or auto (outbound only when the original client is trusted).",
    )
    address: str = Field(default="127.0.0.1", description="Address to listen on.")
    port: Port = Field(default=10025, description="TCP port; 0 picks a free one.")
    protocol: Protocol = Field(default=Protocol.SMTP, description="smtp or lmtp.")
    queue: QueuePosition = Field(
        default=QueuePosition.AFTER,
        description="after: behind Postfix's queue (content_filter); inbound mail congvu "
        "refuses is then held or discarded (service.after_queue_inbound_refusal), never "
        "answered 5xx, which Postfix would turn into a bounce to a forged sender. before: "
        "in the client's session (smtpd_proxy_filter); a refusal reaches the sending "
        "server as it is.")
    clients: list[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = Field(
        default=None,
        description="Peers allowed to connect, e.g. the dedicated loopback address "
        "Postfix's congvu transports bind to (smtp_bind_address = 127.0.0.25). Others are "
        "refused at connect with 554 5.7.1. Unset: any peer that can reach the address, "
        "which on loopback is every process on the host.")

    client_users: list[str] | None = Field(
        default=None,
        description="Local users whose sockets may connect (Linux, loopback): Postfix's "
        "(\"postfix\"). Unlike clients, this cannot be chosen by the client: any user can "
        "bind a loopback address, none can own another's socket. Others are refused at "
        "connect with 554 5.7.1. Unset: any user.")

    @model_validator(mode="after")
    def _users_exist(self) -> ListenerConfig:
        if self.client_users is not None:
            user_ids(self.client_users)  # UnknownUserError is a ValueError: a config error
        return self

    @model_validator(mode="after")
    def _address_is_ip(self) -> ListenerConfig:
        try:
            ipaddress.ip_address(self.address)
        except ValueError as exc:
            raise ValueError(f"address {self.address!r} is not an IP address") from exc
        return self


class NextHopConfig(_Strict):
    """Where accepted mail goes (``[next_hop]``)."""

    kind: NextHopKind = Field(
        default=NextHopKind.MAILDIR,
        description="smtp (Postfix's reinjection listener), lmtp (e.g. Dovecot; only "
        "behind lmtp listeners, which can mirror each recipient's outcome), or maildir (a "
        "directory of delivered files: the embedded default, also useful to archive).",
    )
    host: str = Field(default="127.0.0.1", description="Next hop address (smtp, lmtp).")
    port: Port = Field(default=10026, description="Next hop port (smtp, lmtp).")
    maildir: Path = Field(
        default=Path("maildir"), description="Maildir root (kind = maildir)."
    )
    pool_size: int = Field(
        default=16, ge=1, le=1000, description="Idle connections kept open per worker."
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="Seconds to connect.")
    command_timeout: float = Field(
        default=60.0, gt=0, description="Seconds to wait for any one reply."
    )
    data_timeout: float = Field(
        default=300.0, gt=0, description="Seconds to wait for the reply to the message."
    )


class LimitsConfig(_Strict):
    """What the filter accepts from Postfix (``[limits]``)."""

    max_message_size: int = Field(
        default=52_428_800, ge=1024, description="Bytes; advertised as SIZE and enforced."
    )
    max_recipients: int = Field(default=1000, ge=1, description="Recipients per message.")
    max_connections: int = Field(
        default=200, ge=1, description="Open client connections per worker."
    )
    command_timeout: float = Field(
        default=300.0, gt=0, description="Seconds a client may stay silent (RFC 5321 4.5.3.2)."
    )
    data_timeout: float = Field(
        default=600.0, gt=0, description="Seconds the whole DATA transfer may take."
    )
    max_line_length: int = Field(
        default=998, ge=78, le=65536,
        description="Octets per line without CRLF (RFC 5322 2.1.1 says 998).",
    )
    max_header_size: int = Field(
        default=102_400, ge=1024, description="Bytes of message header (Postfix's default)."
    )


class HeaderConfig(_Strict):
    """One header line to add to every message."""

    name: str = Field(pattern=r"^[!-9;-~]+$", description="Header field name.")
    value: str = Field(pattern=r"^[^\r\n]*$", description="Header value (one line).")


class PipelineConfig(_Strict):
    """The pipeline's own stages (``[pipeline]``); package stages have their tables."""

    stages: list[str] = Field(
        default_factory=lambda: list(stage_table.SWITCHES),
        description=stage_table.describe_switches(),
    )
    audit: bool = Field(
        default=True,
        description="Write the audit record of every message before answering. Turn off "
        "only for a relay-only listener or a measurement: without it nothing is provable.",
    )
    add_headers: list[HeaderConfig] = Field(
        default_factory=list,
        description="Headers prepended to every message, e.g. to trace which node "
        "filtered it.",
    )


    @model_validator(mode="after")
    def _known_stages(self) -> PipelineConfig:
        known = stage_table.SWITCHES
        unknown = [name for name in self.stages if name not in known]
        if unknown:
            raise ValueError(
                f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(known)}"
            )
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("a stage is listed twice")
        return self


class ServiceConfig(_Strict):
    """The service itself (``[service]``)."""

    data_dir: Path | None = Field(
        default=None,
        description="Where state lives; relative paths elsewhere are relative to it. "
        "Default: $CONGVU_VAR, else ./var.",
    )
    hostname: str = Field(
        default="localhost", description="The name the filter gives in its greeting."
    )
    workers: int | None = Field(
        default=None, ge=1, le=256, description="Worker processes; default: the cores."
    )
    trusted_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        ],
        description="Original clients (XFORWARD ADDR) whose mail an auto listener "
        "calls outbound.",
    )
    xforward_hosts: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        ],
        description="Peers allowed to send XFORWARD (Postfix's smtpd_authorized_xforward_hosts "
        "on the other side): anyone else could claim to be a trusted client.",
    )
    after_queue_inbound_refusal: AfterQueueRefusal = Field(
        default=AfterQueueRefusal.QUARANTINE,
        description="On a listener behind the queue, inbound mail congvu refuses is "
        "quarantine: held (administrators review it; [policies.quarantine] notify tells "
        "the recipients), or discard: dropped with a notice to postmaster@hostname. "
        "Either way the sending server got 250 from Postfix already, and no bounce leaves.")
    shutdown_grace: float = Field(
        default=30.0, gt=0, description="Seconds SIGTERM waits for messages in flight."
    )


class MetricsConfig(_Strict):
    """Prometheus metrics (``[metrics]``)."""

    listen: str | None = Field(
        default=None, pattern=r"^(\[[0-9a-fA-F:]+\]|[0-9.]+):[0-9]{1,5}$",
        description="HOST:PORT to serve /metrics on (e.g. 127.0.0.1:9400); unset: off.",
    )


#: how the probe reaches a server: STARTTLS, TLS from the first byte, or plain text
Tls = Literal["starttls", "implicit", "none"]


class ProbeConfig(BaseModel):
    """The ``[probe]`` table: the canary's mailboxes and what must hold when it arrives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submission_host: str = Field(default="127.0.0.1",
                                 description="Postfix's submission service: host.")
    submission_port: int = Field(default=587, ge=1, le=65535,
                                 description="Postfix's submission service: port.")
    submission_tls: Tls = Field(
        default="starttls", description="starttls (port 587), implicit (port 465) or none "
        "(a loopback-only submission listener).")
    login: str = Field(default="", description="SASL login of the test mailbox that sends.")
    password_file: Path | None = Field(
        default=None, description="File holding that login's password (mode 0600 or 0400); "
        "the password itself never goes in this file.")
    from_address: str = Field(default="", description="From and envelope sender of the "
                              "canary: an address of a unit with an S/MIME identity.")
    to_address: str = Field(default="", description="Recipient of the canary: the mailbox "
                            "read back over IMAP.")
    imap_host: str = Field(default="127.0.0.1", description="IMAP server of the recipient.")
    imap_port: int = Field(default=993, ge=1, le=65535, description="IMAP port.")
    imap_tls: Tls = Field(default="implicit", description="implicit (993), starttls or none.")
    imap_login: str = Field(default="", description="IMAP login; empty: to_address.")
    imap_password_file: Path | None = Field(
        default=None, description="File holding the IMAP password (mode 0600 or 0400); "
        "unset: password_file.")
    tls_ca_file: Path | None = Field(
        default=None, description="CA certificates to verify the servers' TLS with; unset: "
        "the system's.")
    timeout: float = Field(default=60.0, gt=0, le=3600,
                           description="Seconds the canary may take to arrive: then CRITICAL.")
    warning_seconds: float = Field(default=20.0, gt=0,
                                   description="A slower round trip is a WARNING.")
    require_dkim: bool = Field(default=True, description="A DKIM signature of the From "
                               "domain must verify (else CRITICAL; WARNING when false).")
    require_smime: bool = Field(default=True, description="An S/MIME signature must verify "
                                "(else CRITICAL; WARNING when false).")
    require_audit: bool = Field(default=True, description="The audit record must be found "
                                "(the probe runs where it can read the audit store).")
