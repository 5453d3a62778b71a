"""Which way a message travels, and how a listener tells (ARCHITECTURE.md, the
message's path): the two words every stage, the context and the configuration share.

A module of its own so that the configuration can describe the stages (the table in
milter/stages/) while the stages read the message's direction, without a cycle.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """How a listener classifies what arrives on it (ARCHITECTURE.md, the message's path)."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"
    AUTO = "auto"


class Direction(StrEnum):
    """Which way one message travels."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


def direction_of(role: Role, *, is_trusted_client: bool) -> Direction:
    """Which way a message on a listener of ``role`` travels.

    Under ``auto``: outbound only when the original client is trusted
    (``service.trusted_networks``), never because of the From domain; without XFORWARD
    the client is unknown, so the message is inbound.
    """
    if role is Role.AUTO:
        return Direction.OUTBOUND if is_trusted_client else Direction.INBOUND
    return Direction(role.value)
