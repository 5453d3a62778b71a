"""An LMTP next hop behind an LMTP listener: every recipient's outcome mirrored."""

from __future__ import annotations

import pytest

from congvu.config import parse_config
from milter.errors import ConfigError
from support.rawsmtp import Raw
from support.sink import Sink

MESSAGE = b"Subject: lmtp\r\nMessage-ID: <l@test>\r\n\r\nbody\r\n"


@pytest.fixture
def lmtp_sink(loop_thread):
    sink = Sink(loop_thread, is_lmtp=True)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def lmtp_filter(filter_server, lmtp_sink):
    return filter_server(
        listeners=[{"name": "lmtp", "role": "inbound", "protocol": "lmtp", "port": 0}],
        next_hop={"kind": "lmtp", "port": lmtp_sink.port},
        pipeline={"stages": ["units", "policy"]},
    )


def _send(running, recipients: list[bytes]) -> list[bytes]:
    client = Raw(running.port)
    client.command(b"LHLO c")
    assert client.command(b"MAIL FROM:<a@b.vn>").startswith(b"250")
    accepted = [r for r in recipients if client.command(b"RCPT TO:<" + r + b">").startswith(b"250")]
    assert client.command(b"DATA").startswith(b"354")
    client.send(MESSAGE + b".\r\n")
    return [client.reply() for _ in accepted]


def test_every_recipient_delivered(lmtp_filter, lmtp_sink) -> None:
    replies = _send(lmtp_filter, [b"x@d.vn", b"y@d.vn"])
    assert all(reply.startswith(b"250 2.0.0") for reply in replies)
    received = lmtp_sink.get()
    assert received.recipients == ["x@d.vn", "y@d.vn"]
    assert received.content == MESSAGE


def test_one_recipient_refused_after_data_is_mirrored(lmtp_filter, lmtp_sink) -> None:
    lmtp_sink.queue_reply("DATA:full@d.vn", "452 4.2.2 Mailbox full")
    lmtp_sink.queue_reply("DATA:gone@d.vn", "550 5.1.1 No such user")
    replies = _send(lmtp_filter, [b"x@d.vn", b"full@d.vn", b"gone@d.vn"])
    assert replies[0].startswith(b"250 2.0.0")
    assert replies[1].startswith(b"451 ") and b"Mailbox full" in replies[1]
    assert replies[2] == b"550 5.1.1 No such user"
    assert lmtp_sink.get().recipients == ["x@d.vn"]


def test_refused_at_rcpt_is_mirrored(lmtp_filter, lmtp_sink) -> None:
    lmtp_sink.queue_reply("RCPT:nobody@d.vn", "550 5.1.1 Unknown user")
    client = Raw(lmtp_filter.port)
    client.command(b"LHLO c")
    client.command(b"MAIL FROM:<a@b.vn>")
    assert client.command(b"RCPT TO:<nobody@d.vn>") == b"550 5.1.1 Unknown user"


def test_lmtp_next_hop_down_gives_451(filter_server) -> None:
    running = filter_server(
        listeners=[{"name": "lmtp", "protocol": "lmtp", "port": 0}],
        next_hop={"kind": "lmtp", "port": 1},
    )
    client = Raw(running.port)
    client.command(b"LHLO c")
    assert client.command(b"MAIL FROM:<a@b.vn>").startswith(b"451 4.4.1")


def test_lmtp_next_hop_needs_lmtp_listeners() -> None:
    with pytest.raises(ConfigError, match="needs every listener to speak lmtp"):
        parse_config({"next_hop": {"kind": "lmtp"}})
