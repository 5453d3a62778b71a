"""The SMTP next hop writes MAIL, RCPT and DATA itself: what arrives at a real SMTP
server on loopback is the message, the sender and the recipients, whatever the dots,
the line ends or the address form."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from milter.config import NextHopConfig, NextHopKind
from milter.errors import NextHopError
from milter.nexthop import SmtpNextHop, data_lines
from support.sink import Sink

# (sent, what the next hop must receive): RFC 5321 4.5.2 transparency, and the decided
# meaning of a bare CR or LF (a line end) and of a missing final CRLF (added).
CASES = [
    (b"Subject: a\r\n\r\n.starts with a dot\r\n", b"Subject: a\r\n\r\n.starts with a dot\r\n"),
    (b".first line is a dot line\r\n", b".first line is a dot line\r\n"),
    (b"a\r\n.\r\nb\r\n", b"a\r\n.\r\nb\r\n"),
    (b"a\r\n..\r\n...x\r\n", b"a\r\n..\r\n...x\r\n"),
    (b"a\r\n.", b"a\r\n.\r\n"),
    (b"no final line end", b"no final line end\r\n"),
    (b"bare\nLF\n.dot after bare LF\n", b"bare\r\nLF\r\n.dot after bare LF\r\n"),
    (b"bare\rCR\r.dot\r\n", b"bare\r\nCR\r\n.dot\r\n"),
    (b"CR CR LF\r\r\n.x\r\n", b"CR CR LF\r\n\r\n.x\r\n"),
    (b"", b"\r\n"),
]


async def _relay(port: int, content: bytes, sender: str = "a@b.vn",
                 recipients: tuple[str, ...] = ("c@d.vn",)) -> str:
    hop = SmtpNextHop(NextHopConfig(kind=NextHopKind.SMTP, port=port), local_hostname="filter.test")
    try:
        transaction = await hop.begin(sender, [])
        for recipient in recipients:
            await transaction.rcpt(recipient)
        return await transaction.data(content)
    finally:
        await hop.close()


@pytest.mark.parametrize(("sent", "arrives"), CASES)
def test_the_next_hop_receives_the_message_lines(next_hop: Sink, sent: bytes,
                                                 arrives: bytes) -> None:
    reply = asyncio.run(_relay(next_hop.port, sent))
    assert reply.startswith("250")
    assert next_hop.get().content == arrives


@pytest.mark.parametrize(("sent", "arrives"), CASES)
def test_the_lines_are_aiosmtplibs(sent: bytes, arrives: bytes) -> None:
    # what aiosmtplib's data() wrote before the filter wrote DATA itself
    expected = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(sent)) + b".\r\n"
    assert data_lines(sent) == expected


@pytest.mark.parametrize("sender", ["", "thư@binhthuan.gov.vn", '"odd local"@b.vn',
                                    "x@[192.0.2.1]", "a.b-c+d@e.vn"])
def test_the_next_hop_receives_the_envelope(next_hop: Sink, sender: str) -> None:
    recipients = ("nhận@binhthuan.gov.vn", "a..b@d.vn", "x@[192.0.2.1]")
    asyncio.run(_relay(next_hop.port, b"x\r\n", sender, recipients))
    received = next_hop.get()
    assert received.mail_from == (sender or "<>")  # aiosmtpd's name for the null sender
    assert received.recipients == list(recipients)


def test_refusals_keep_the_next_hops_reply(next_hop: Sink) -> None:
    next_hop.queue_reply("RCPT", "550 5.1.1 no such user")
    with pytest.raises(NextHopError) as refused:
        asyncio.run(_relay(next_hop.port, b"x\r\n"))
    assert (refused.value.code, refused.value.enhanced) == (550, "5.1.1")
    next_hop.queue_reply("DATA", "554 5.7.1 content refused")
    with pytest.raises(NextHopError) as refused:
        asyncio.run(_relay(next_hop.port, b"x\r\n"))
    assert (refused.value.code, refused.value.enhanced) == (554, "5.7.1")
    next_hop.assert_empty()
