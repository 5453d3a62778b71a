"""Bad input on the SMTP side: each gets the right reply, the service keeps serving."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import types
import weakref
from functools import partial

import pytest
from aiosmtpd.smtp import SMTP

from milter import replies, smtp
from milter.refusals import RefusalTrace
from milter.replies import Reply
from support.rawsmtp import Raw

# From is the envelope sender of Raw.transaction: outbound, the two must agree.
MESSAGE = b"From: a@b.vn\r\nSubject: test\r\nMessage-ID: <p@test>\r\n\r\nbody\r\n"


def reply_bytes(reply: Reply) -> bytes:
    return str(reply).encode()


@pytest.fixture
def raw(filter_server):
    running = filter_server()

    def connect() -> Raw:
        client = Raw(running.port)
        assert client.command(b"EHLO client.test").startswith(b"250")
        return client

    connect.running = running  # type: ignore[attr-defined]
    return connect


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n", replies.R554_BARE_LINE_ENDING),
        (b"Subject: x\r\n\r\nbare\rcr\r\n.\r\n", replies.R554_BARE_LINE_ENDING),
        (b"Subject: x\r\n\r\nnul\x00byte\r\n.\r\n", replies.R554_NUL),
        (b"Subject: x\r\n\r\n" + b"x" * 999 + b"\r\n.\r\n", replies.R554_LINE_TOO_LONG),
        (b"X-Long: " + b"y" * 991 + b"\r\n\r\nbody\r\n.\r\n", replies.R554_LINE_TOO_LONG),
        (b"Subject: " + b"y" * 900 + b"\r\n" + b"X-A: b\r\n" * 20000 + b"\r\nbody\r\n.\r\n",
         replies.R552_HEADER_TOO_BIG),
    ],
    ids=["bare-lf", "bare-cr", "nul", "long-line", "long-first-line", "header-too-big"],
)
def test_malformed_message_is_refused_and_not_relayed(raw, next_hop, content, expected) -> None:
    client = raw()
    assert client.transaction(content) == reply_bytes(expected)
    # The session goes on: a clean message on the same connection is relayed.
    assert client.transaction(MESSAGE + b".\r\n").startswith(b"250 2.0.0")
    assert next_hop.get().content == MESSAGE
    next_hop.assert_empty()


def test_lines_of_the_longest_length_are_relayed(raw, next_hop) -> None:
    # RFC 5321 4.5.3.1.6: 998 characters before the CRLF, first line and last line too
    line = b"x" * 998 + b"\r\n"
    longest = (b"X-Long: " + b"y" * 990 + b"\r\n"
               + MESSAGE.replace(b"\r\n\r\n", b"\r\n\r\n" + line) + line)
    assert raw().transaction(longest + b".\r\n").startswith(b"250 2.0.0")
    assert next_hop.get().content == longest


def test_smuggled_end_of_data_does_not_split_the_message(raw, next_hop) -> None:
    # "\n.\r\n" is not the end of data (RFC 5321 4.1.1.4): the whole thing is one
    # message with a bare LF, refused; no second message appears at the next hop.
    smuggled = (b"Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@d.vn>\r\n"
                b"DATA\r\nSubject: forged\r\n\r\nforged\r\n.\r\n")
    client = raw()
    assert client.transaction(smuggled) == reply_bytes(replies.R554_BARE_LINE_ENDING)
    assert client.command(b"NOOP").startswith(b"250")
    next_hop.assert_empty()


def test_message_over_the_size_limit(filter_server, next_hop) -> None:
    running = filter_server(limits={"max_message_size": 4096})
    client = Raw(running.port)
    client.command(b"EHLO c")
    big = b"Subject: big\r\n\r\n" + (b"z" * 100 + b"\r\n") * 100 + b".\r\n"
    assert client.transaction(big) == reply_bytes(replies.R552_TOO_BIG)
    assert client.command(b"MAIL FROM:<a@b.vn> SIZE=5000").startswith(b"552")
    assert client.command(b"NOOP").startswith(b"250")
    next_hop.assert_empty()


def test_message_far_over_the_buffer_limit(filter_server, next_hop) -> None:
    running = filter_server(limits={"max_message_size": 1024})
    client = Raw(running.port)
    client.command(b"EHLO c")
    huge = b"Subject: big\r\n\r\n" + (b"z" * 990 + b"\r\n") * 200 + b".\r\n"
    assert client.transaction(huge) == reply_bytes(replies.R552_TOO_BIG)
    assert client.transaction(b"From: a@b.vn\r\n\r\nok\r\n.\r\n").startswith(b"250")
    assert next_hop.get().content == b"From: a@b.vn\r\n\r\nok\r\n"


def test_empty_message_and_dot_stuffing(filter_server, next_hop) -> None:
    # SMTP framing only: no stage judges the (missing) From here.
    client = Raw(filter_server(pipeline={"stages": []}).port)
    client.command(b"EHLO client.test")
    assert client.transaction(b".\r\n").startswith(b"250")
    # SMTP cannot carry a message without a final line end; it leaves with one.
    assert next_hop.get().content == b"\r\n"
    assert client.transaction(b"Subject: s\r\n\r\n..\r\n...x\r\n.y\r\n.\r\n").startswith(b"250")
    assert next_hop.get().content == b"Subject: s\r\n\r\n.\r\n..x\r\ny\r\n"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"MAIL FROM:<<<>", b"553"),
        (b"MAIL TO:<a@b.vn>", b"501"),
        (b"RCPT TO:<c@d.vn>", b"503"),
        (b"DATA", b"503"),
        (b"BOGUS command", b"500"),
        (b"\xff\xfe", b"500"),
        (b"MAIL FROM:<a@b.vn> " + b"X" * 2000, b"500"),
        (b"XFORWARD", b"501"),
        (b"XFORWARD FOO=bar", b"501"),
        (b"XFORWARD ADDR", b"501"),
    ],
)
def test_malformed_commands(raw, line, code) -> None:
    client = raw()
    assert client.command(line)[:3] == code
    assert client.command(b"NOOP").startswith(b"250")


def test_xforward_inside_a_transaction_is_refused(raw) -> None:
    client = raw()
    client.command(b"MAIL FROM:<a@b.vn>")
    assert client.command(b"XFORWARD ADDR=10.1.1.1") == reply_bytes(
        replies.R503_XFORWARD_IN_TRANSACTION
    )


def test_xforward_refused_from_a_peer_not_allowed(filter_server) -> None:
    running = filter_server(service={"xforward_hosts": ["192.0.2.0/24"]})
    client = Raw(running.port)
    ehlo = client.command(b"EHLO c")
    assert b"XFORWARD" not in ehlo
    assert client.command(b"XFORWARD ADDR=10.1.1.1") == reply_bytes(
        replies.R550_XFORWARD_REFUSED
    )


def test_client_disconnecting_mid_data_delivers_nothing(raw, next_hop) -> None:
    client = raw()
    client.command(b"MAIL FROM:<a@b.vn>")
    client.command(b"RCPT TO:<c@d.vn>")
    client.command(b"DATA")
    client.send(b"Subject: cut\r\n\r\nhalf a mess")
    client.sock.close()
    # The service keeps serving, and the next message is the only one delivered.
    second = raw()
    assert second.transaction(MESSAGE + b".\r\n").startswith(b"250")
    assert next_hop.get().content == MESSAGE
    next_hop.assert_empty()


def test_connection_limit(filter_server) -> None:
    running = filter_server(limits={"max_connections": 1})
    first = Raw(running.port)
    second_sock = socket.create_connection(("127.0.0.1", running.port), timeout=10)
    data = second_sock.recv(1024)
    assert data == reply_bytes(replies.R421_TOO_MANY_CONNECTIONS) + b"\r\n"
    assert first.command(b"NOOP").startswith(b"250")


def test_idle_client_gets_421_on_timeout(filter_server) -> None:
    running = filter_server(limits={"command_timeout": 0.3})
    client = Raw(running.port)
    assert client.reply() == reply_bytes(replies.R421_TIMEOUT)
    assert client.is_closed()


def test_pipelined_commands_after_data_are_answered(raw, next_hop) -> None:
    client = raw()
    client.send(b"MAIL FROM:<a@b.vn>\r\nRCPT TO:<c@d.vn>\r\nDATA\r\n")
    assert client.reply().startswith(b"250")
    assert client.reply().startswith(b"250")
    assert client.reply().startswith(b"354")
    client.send(MESSAGE + b".\r\nMAIL FROM:<e@b.vn>\r\nRCPT TO:<f@d.vn>\r\nDATA\r\n")
    assert client.reply().startswith(b"250 2.0.0")
    assert client.reply().startswith(b"250")
    assert client.reply().startswith(b"250")
    assert client.reply().startswith(b"354")
    client.send(MESSAGE.replace(b"a@b.vn", b"e@b.vn") + b".\r\nQUIT\r\n")
    assert client.reply().startswith(b"250 2.0.0")
    assert client.reply().startswith(b"221")
    assert [next_hop.get().mail_from for _ in range(2)] == ["a@b.vn", "e@b.vn"]


def _direction_of_next_message(running, caplog, xforward: bytes | None) -> str:
    client = Raw(running.port)
    client.command(b"EHLO postfix.test")
    if xforward is not None:
        assert client.command(b"XFORWARD " + xforward).startswith(b"250")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="congvu.milter"):
        assert client.transaction(MESSAGE + b".\r\n").startswith(b"250")
    [record] = [r for r in caplog.records if r.getMessage() == "message"]
    fields = record.fields  # type: ignore[attr-defined]
    json.dumps(fields)  # the log line must serialize
    return str(fields["direction"])


def test_auto_role_classifies_by_original_client_never_by_from(filter_server, caplog) -> None:
    running = filter_server(service={"trusted_networks": ["10.0.0.0/8"]},
                            listeners=[{"name": "auto", "role": "auto", "port": 0}])
    assert _direction_of_next_message(running, caplog, b"ADDR=10.1.2.3 HELO=pc1") == "outbound"
    assert _direction_of_next_message(running, caplog, b"ADDR=203.0.113.9") == "inbound"
    assert _direction_of_next_message(running, caplog, b"ADDR=[UNAVAILABLE]") == "inbound"
    # No XFORWARD: the original client is unknown, so the mail is not trusted.
    assert _direction_of_next_message(running, caplog, None) == "inbound"


def test_xforward_values_are_kept_for_the_pipeline(filter_server, caplog) -> None:
    running = filter_server()
    client = Raw(running.port)
    client.command(b"EHLO postfix.test")
    client.command(b"XFORWARD NAME=mx.example.org ADDR=IPV6:2001:db8::1 PROTO=ESMTP")
    client.command(b"XFORWARD HELO=mx+2Eexample.org IDENT=4XyZ12")
    with caplog.at_level(logging.INFO, logger="congvu.milter"):
        assert client.transaction(MESSAGE + b".\r\n").startswith(b"250")
    [record] = [r for r in caplog.records if r.getMessage() == "message"]
    assert record.fields["client"] == "IPV6:2001:db8::1"  # type: ignore[attr-defined]
    assert record.fields["queue_id"] == "4XyZ12"  # type: ignore[attr-defined]
    assert record.fields["message_id"] == "<p@test>"  # type: ignore[attr-defined]


def test_outbound_and_inbound_roles_ignore_xforward(filter_server, caplog) -> None:
    running = filter_server(listeners=[{"name": "out", "role": "outbound", "port": 0}])
    assert _direction_of_next_message(running, caplog, b"ADDR=203.0.113.9") == "outbound"
    running = filter_server(listeners=[{"name": "in", "role": "inbound", "port": 0}])
    assert _direction_of_next_message(running, caplog, b"ADDR=127.0.0.1") == "inbound"


def test_lmtp_listener_replies_per_recipient(filter_server, next_hop) -> None:
    running = filter_server(listeners=[{"name": "lmtp", "protocol": "lmtp", "port": 0}])
    client = Raw(running.port)
    assert client.command(b"EHLO c").startswith(b"500")
    assert client.command(b"LHLO c").startswith(b"250")
    client.command(b"MAIL FROM:<a@b.vn>")
    client.command(b"RCPT TO:<x@d.vn>")
    client.command(b"RCPT TO:<y@d.vn>")
    client.command(b"DATA")
    client.send(MESSAGE + b".\r\n")
    assert client.reply().startswith(b"250 2.0.0")
    assert client.reply().startswith(b"250 2.0.0")
    assert next_hop.get().recipients == ["x@d.vn", "y@d.vn"]


@pytest.mark.parametrize(
    "line",
    [
        b"MAIL FROM:<a@b.vn> RET=MAYBE",
        b"MAIL FROM:<a@b.vn> ENVID=has=equals",
        b"MAIL FROM:<a@b.vn> RET=FULL RET=HDRS",
    ],
)
def test_malformed_dsn_mail_parameters(raw, line) -> None:
    client = raw()
    assert client.command(line).startswith(b"501 5.5.4 ")
    assert client.command(b"NOOP").startswith(b"250")


def test_dsn_parameters_are_accepted_and_kept_from_a_next_hop_without_dsn(raw, next_hop) -> None:
    client = raw()
    assert b"DSN" in client.command(b"EHLO again")
    assert client.command(b"MAIL FROM:<a@b.vn> RET=HDRS ENVID=q+2B1").startswith(b"250")
    assert client.command(b"RCPT TO:<c@d.vn> NOTIFY=NEVER,SUCCESS").startswith(b"501 5.5.4")
    # The sink does not advertise DSN (and refuses unknown parameters with 555): the
    # parameters are checked here and not passed on.
    assert client.command(b"RCPT TO:<c@d.vn> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d.vn"
                          ).startswith(b"250")
    assert client.command(b"DATA").startswith(b"354")
    client.send(MESSAGE + b".\r\n")
    assert client.reply().startswith(b"250 2.0.0")
    assert next_hop.get().recipients == ["c@d.vn"]


def test_a_from_header_the_stdlib_parser_chokes_on_is_decided_not_deferred(raw, next_hop) -> None:
    # "From: a@" made email's header parser raise IndexError; it must be a From the
    # stages read as "no valid sender" (outbound: refused as ambiguous), never a 451
    # that Postfix retries forever.
    client = raw()
    reply = client.transaction(b"From: a@\r\nSubject: x\r\n\r\nbody\r\n.\r\n")
    assert reply.startswith(b"550 5.7.1 Thu bi tu choi: nguoi gui khong duoc dung dia chi From "
                            b"nay / Message refused: the sender may not use this From address "
                            b"(the From header is ambiguous")


def _state(protocol: SMTP) -> dict[str, object]:
    """A protocol's attributes, with what is made anew per connection (the handler,
    futures, readers, bound methods) named by kind and owner instead of identity."""
    def plain(value: object) -> object:
        if isinstance(value, types.MethodType):
            owner = ("protocol" if value.__self__ is protocol else
                     "handler" if value.__self__ is protocol.event_handler else value.__self__)
            return ("method", value.__func__, owner)
        if isinstance(value, tuple) and type(value) is not tuple:  # aiosmtpd's NamedTuple
            return (type(value), *map(plain, value))
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, asyncio.StreamReader):
            return (asyncio.StreamReader, value._limit)  # type: ignore[attr-defined]
        if value is protocol.event_handler:
            return "handler"
        if isinstance(value, asyncio.Future | weakref.ref | RefusalTrace):
            return type(value)
        return value

    return {name: plain(value) for name, value in vars(protocol).items()}


def test_a_connection_is_set_up_as_aiosmtpd_sets_it_up(filter_server) -> None:
    # The filter binds aiosmtpd's lookups from names found once per class instead of
    # introspecting every connection: the protocol must come out the same.
    running = filter_server()
    listener = running.server.config.listeners[0]
    make = partial(running.server._protocol, listener)
    smtp._introspected.clear()
    by_aiosmtpd = make()  # the first of its classes: aiosmtpd's own __init__
    assert smtp._introspected
    by_names = make()
    assert _state(by_names) == _state(by_aiosmtpd)
    assert set(by_names._smtp_methods) >= {"EHLO", "MAIL", "RCPT", "DATA", "XFORWARD"}
    assert set(by_names._handle_hooks) >= {"MAIL", "RCPT", "DATA"}


def test_replies_to_pipelined_commands_go_out_together(raw, next_hop) -> None:
    # RFC 2920: RSET's reply waits while MAIL, read in with it, waits for the next hop;
    # all four go in one write once DATA has been answered.
    seen, release = threading.Event(), threading.Event()
    next_hop.behaviour.hang_mail = (seen, release)
    client = raw()
    client.send(b"RSET\r\nMAIL FROM:<a@b.vn>\r\nRCPT TO:<c@d.vn>\r\nDATA\r\n")
    assert seen.wait(10)  # the filter has read MAIL and waits for the next hop's reply
    client.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.sock.recv(1)  # nothing written yet: RSET's reply is held
    client.sock.settimeout(10)
    release.set()
    assert [client.reply()[:3] for _ in range(4)] == [b"250", b"250", b"250", b"354"]
    client.send(MESSAGE + b".\r\n")
    assert client.reply().startswith(b"250 2.0.0")
    assert next_hop.get().content == MESSAGE


def test_a_reply_is_not_held_for_a_command_not_yet_whole(raw) -> None:
    client = raw()
    client.send(b"RSET\r\nMAIL FROM:<a@b")  # the next line has no end yet
    assert client.reply().startswith(b"250")
    client.send(b".vn>\r\n")
    assert client.reply().startswith(b"250")


def test_the_closing_reply_is_not_held_for_commands_after_it(raw) -> None:
    client = raw()
    client.send(b"QUIT\r\nNOOP\r\n")
    assert client.reply().startswith(b"221")
    assert client.is_closed()
