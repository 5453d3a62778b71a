"""The message context as it comes in: direction, the original client, header and From."""

from __future__ import annotations

import ipaddress

import pytest

from mailbase import ProvincialDomains
from milter.context import Envelope, MessageContext, Xforward
from milter.direction import Direction, Role, direction_of


@pytest.mark.parametrize(("role", "trusted", "expected"), [
    (Role.OUTBOUND, False, Direction.OUTBOUND),
    (Role.INBOUND, True, Direction.INBOUND),
    (Role.AUTO, True, Direction.OUTBOUND),
    (Role.AUTO, False, Direction.INBOUND),  # no XFORWARD, or a client from outside
])
def test_direction_follows_the_role_and_under_auto_the_client(
        role: Role, trusted: bool, expected: Direction) -> None:
    assert direction_of(role, is_trusted_client=trusted) is expected


@pytest.mark.parametrize(("addr", "expected"), [
    ("192.0.2.7", ipaddress.ip_address("192.0.2.7")),
    ("IPV6:2001:db8::1", ipaddress.ip_address("2001:db8::1")),  # Postfix's spelling
    ("ipv6:2001:db8::1", ipaddress.ip_address("2001:db8::1")),
    (None, None),  # [UNAVAILABLE]
    ("not an address", None),
])
def test_the_original_client_is_read_from_xforward(addr: str | None, expected: object) -> None:
    assert Xforward(addr=addr).client == expected


def test_the_header_and_from_are_read_once_as_the_message_comes_in() -> None:
    raw = (b"From: =?utf-8?q?S=E1=BB=9F?= <sotc@binhthuan.gov.vn>\r\n"
           b"Subject: x\r\n\r\nbody\r\n")
    ctx = MessageContext.received(
        raw, listener="out", role=Role.OUTBOUND, direction=Direction.OUTBOUND,
        envelope=Envelope("sotc@binhthuan.gov.vn", (), ("a@b.vn",)),
        provincial=ProvincialDomains(frozenset({"binhthuan.gov.vn"})))
    assert ctx.original_content is raw and ctx.final_content is raw
    assert [field.name for field in ctx.header.fields] == [b"From", b"Subject"]
    assert ctx.sender.addr_spec == "sotc@binhthuan.gov.vn"
    assert ctx.xforward == Xforward() and ctx.peer == ("", 0)


def test_new_content_is_signed_whole_only_when_its_stage_says_so() -> None:
    ctx = MessageContext.received(
        b"Subject: x\r\n\r\nbody\r\n", listener="out", role=Role.OUTBOUND,
        direction=Direction.OUTBOUND, envelope=Envelope("a@b.vn", (), ("c@d.vn",)),
        provincial=ProvincialDomains(frozenset()))
    assert ctx.signature_name is None
    ctx.replace_content(b"signed", signature_name="smime.p7s")
    assert (ctx.current_content, ctx.signature_name) == (b"signed", "smime.p7s")
    ctx.replace_content(b"stripped")  # whatever changes it next, it is not that any more
    assert ctx.signature_name is None
