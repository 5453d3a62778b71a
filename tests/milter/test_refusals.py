"""Protocol-level refusals leave a trace: one JSON log line per reason per connection, with
the reply and enhanced code, and ``congvu_smtp_refusals_total{reason}`` counting every one."""

from __future__ import annotations

import json
import logging
import re
import smtplib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from milter import replies
from milter.logs import JsonFormatter
from milter.replies import Reply
from support.postfix import free_port
from support.process import ServeProcess, serve_with_metrics
from support.rawsmtp import Raw
from support.sink import Sink

# From is the envelope sender: outbound, the two must agree
MESSAGE = b"From: a@b.vn\r\nSubject: test\r\nMessage-ID: <p@test>\r\n\r\nbody\r\n"


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The refusal lines as the service writes them: JSON through our formatter."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records
            if record.getMessage() == "smtp refusal"]


def data(content: bytes) -> Callable[[Raw], bytes]:
    return lambda client: client.transaction(content)


def command(*lines: bytes) -> Callable[[Raw], bytes]:
    def send(client: Raw) -> bytes:
        for line in lines[:-1]:
            assert client.command(line).startswith(b"250")
        return client.command(lines[-1])
    return send


def xforward_in_transaction(client: Raw) -> bytes:
    assert client.command(b"MAIL FROM:<a@b.vn>").startswith(b"250")
    reply = client.command(b"XFORWARD ADDR=10.1.1.1")
    assert client.command(b"RSET").startswith(b"250")
    return reply


def too_many_recipients(client: Raw) -> bytes:
    assert client.command(b"MAIL FROM:<a@b.vn>").startswith(b"250")
    for number in range(3):
        assert client.command(b"RCPT TO:<r%d@d.vn>" % number).startswith(b"250")
    reply = client.command(b"RCPT TO:<r9@d.vn>")
    assert client.command(b"RSET").startswith(b"250")
    return reply


@dataclass(frozen=True)
class Case:
    reason: str
    reply: Reply
    provoke: Callable[[Raw], bytes]
    #: aiosmtpd's own reply, which carries no enhanced code: only its class is checked
    is_prefix: bool = False


BARE_LF = b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n"
SMUGGLED = (b"Subject: x\r\n\r\nhello\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<v@d.vn>\r\n"
            b"DATA\r\nSubject: forged\r\n\r\nforged\r\n.\r\n")
CASES = {
    "bare-lf": Case("bare-line-ending", replies.R554_BARE_LINE_ENDING, data(BARE_LF)),
    "bare-cr": Case("bare-line-ending", replies.R554_BARE_LINE_ENDING,
                    data(b"Subject: x\r\n\r\nbare\rcr\r\n.\r\n")),
    "smuggled-end-of-data": Case("bare-line-ending", replies.R554_BARE_LINE_ENDING,
                                 data(SMUGGLED)),
    "nul": Case("nul", replies.R554_NUL, data(b"Subject: x\r\n\r\nnul\x00byte\r\n.\r\n")),
    "long-line": Case("line-too-long", replies.R554_LINE_TOO_LONG,
                      data(b"Subject: x\r\n\r\n" + b"x" * 999 + b"\r\n.\r\n")),
    "header-too-big": Case("header-too-big", replies.R552_HEADER_TOO_BIG, data(
        b"Subject: " + b"y" * 900 + b"\r\n" + b"X-A: b\r\n" * 200 + b"\r\nbody\r\n.\r\n")),
    "message-too-big": Case("message-too-big", replies.R552_TOO_BIG, data(
        b"Subject: big\r\n\r\n" + (b"z" * 100 + b"\r\n") * 100 + b".\r\n")),
    "declared-size": Case("message-too-big", replies.R552_TOO_BIG,
                          command(b"MAIL FROM:<a@b.vn> SIZE=999999")),
    "xforward-attribute": Case("xforward-syntax",
                               replies.R501_XFORWARD_SYNTAX.detailed("FOO"),
                               command(b"XFORWARD FOO=bar")),
    "xforward-in-transaction": Case("xforward-in-transaction",
                                    replies.R503_XFORWARD_IN_TRANSACTION,
                                    xforward_in_transaction),
    "too-many-recipients": Case("too-many-recipients", replies.R452_TOO_MANY_RECIPIENTS,
                                too_many_recipients),
    "command-line-too-long": Case("command-too-long", replies.R500_LINE_TOO_LONG,
                                  command(b"MAIL FROM:<a@b.vn> " + b"X" * 2000)),
    "dsn-syntax": Case("dsn-syntax", Reply(501, "5.5.4", ""),
                       command(b"MAIL FROM:<a@b.vn> RET=MAYBE"), is_prefix=True),
    "unknown-command": Case("bad-command", Reply(500, "5.5.2", ""), command(b"BOGUS command"),
                            is_prefix=True),
    "malformed-address": Case("bad-command", Reply(553, "5.1.3", ""),
                              command(b"MAIL FROM:<<<>"), is_prefix=True),
}


@pytest.fixture
def limited(filter_server):
    """A filter with small limits, so each one is easy to cross."""
    return filter_server(limits={"max_message_size": 4096, "max_header_size": 2048,
                                 "max_recipients": 3},
                         service={"xforward_hosts": ["127.0.0.0/8"]})


@pytest.mark.parametrize("name", list(CASES))
def test_each_refusal_logs_one_line_with_its_reply(limited, next_hop, caplog, name) -> None:
    case = CASES[name]
    client = Raw(limited.port)
    assert client.command(b"EHLO client.test").startswith(b"250")
    client.command(b"XFORWARD ADDR=203.0.113.7 IDENT=4Qx1")
    with caplog.at_level(logging.INFO, logger="congvu.milter"):
        reply = case.provoke(client)
        if case.is_prefix:
            assert reply.startswith(f"{case.reply.code} {case.reply.enhanced}".encode())
        else:
            assert reply == str(case.reply).encode()
        # the same refusal again on this connection is answered the same, not logged again
        assert case.provoke(client) == reply
    [line] = refusal_lines(caplog)
    assert line["event"] == "smtp refusal" and line["level"] == "warning"
    assert line["reason"] == case.reason
    assert (line["code"], line["enhanced"]) == (case.reply.code, case.reply.enhanced)
    assert reply.decode().endswith(line["reply"])
    assert line["listener"] == "filter"
    assert line["peer"].startswith("127.0.0.1:")
    # Postfix's client and queue id, to match the line with Postfix's own log
    assert (line["client"], line["queue_id"]) == ("203.0.113.7", "4Qx1")
    # the connection goes on, and a clean message is the only one relayed
    assert client.transaction(MESSAGE + b".\r\n").startswith(b"250 2.0.0")
    assert next_hop.get().content == MESSAGE
    next_hop.assert_empty()


def test_a_new_connection_logs_again_and_distinct_reasons_each_log(limited, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="congvu.milter"):
        first = Raw(limited.port)
        first.command(b"EHLO a")
        assert first.transaction(BARE_LF) == str(replies.R554_BARE_LINE_ENDING).encode()
        assert first.command(b"XFORWARD FOO=1").startswith(b"501 5.5.4")
        assert first.transaction(BARE_LF) == str(replies.R554_BARE_LINE_ENDING).encode()
        second = Raw(limited.port)
        second.command(b"EHLO b")
        assert second.transaction(BARE_LF) == str(replies.R554_BARE_LINE_ENDING).encode()
    reasons = [line["reason"] for line in refusal_lines(caplog)]
    assert reasons == ["bare-line-ending", "xforward-syntax", "bare-line-ending"]


def test_xforward_from_a_peer_not_allowed_is_traced(filter_server, caplog) -> None:
    running = filter_server(service={"xforward_hosts": ["192.0.2.0/24"]})
    client = Raw(running.port)
    client.command(b"EHLO c")
    with caplog.at_level(logging.INFO, logger="congvu.milter"):
        assert client.command(b"XFORWARD ADDR=10.1.1.1") == str(
            replies.R550_XFORWARD_REFUSED).encode()
    [line] = refusal_lines(caplog)
    assert (line["reason"], line["code"], line["enhanced"]) == ("xforward-refused", 550, "5.7.0")


def test_too_many_connections_and_idle_timeout_are_traced(filter_server, caplog) -> None:
    running = filter_server(limits={"max_connections": 1, "command_timeout": 0.5})
    with caplog.at_level(logging.INFO, logger="congvu.milter"):
        first = Raw(running.port)
        second = Raw(running.port)
        assert second.greeting == str(replies.R421_TOO_MANY_CONNECTIONS).encode()
        assert first.reply() == str(replies.R421_TIMEOUT).encode()
        assert first.is_closed()
    lines = refusal_lines(caplog)
    assert [(line["reason"], line["code"], line["enhanced"]) for line in lines] == [
        ("too-many-connections", 421, "4.7.0"), ("timeout", 421, "4.4.2")]


def test_the_next_hops_own_refusals_are_not_ours(filter_server, next_hop: Sink, caplog) -> None:
    """A 553 the next hop gives a recipient is mirrored as it came, not traced as bad input."""
    running = filter_server()
    next_hop.queue_reply("RCPT", "553 5.1.3 Bad recipient address syntax")
    client = Raw(running.port)
    client.command(b"EHLO c")
    with caplog.at_level(logging.INFO, logger="congvu.milter"):
        assert client.command(b"MAIL FROM:<a@b.vn>").startswith(b"250")
        assert client.command(b"RCPT TO:<c@d.vn>") == b"553 5.1.3 Bad recipient address syntax"
    assert refusal_lines(caplog) == []


@pytest.mark.slow
def test_refusals_are_counted_over_the_workers_and_logged_once_per_connection(
        tmp_path: Path, next_hop: Sink) -> None:
    port = free_port()
    config = serve_with_metrics(tmp_path, next_hop.port, port, name="in",
                                role="inbound")
    process = ServeProcess(config, workers=2)
    try:
        process.wait_for("worker ready")
        process.wait_for("worker ready")
        for _ in range(3):  # new connections: the kernel spreads them over the workers
            client = Raw(process.port)
            client.command(b"EHLO c")
            for _ in range(2):
                assert client.transaction(BARE_LF) == str(
                    replies.R554_BARE_LINE_ENDING).encode()
            assert client.command(b"NOOP\x00").startswith(b"500 ")
            client.command(b"QUIT")
        with smtplib.SMTP("127.0.0.1", process.port) as smtp:
            smtp.sendmail("a@b.vn", ["c@d.vn"], MESSAGE)
        process.wait_for("message")  # every earlier line was written before its reply
        next_hop.get()
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
    finally:
        assert process.stop() == 0
    page = text.decode()
    counted = dict(re.findall(r'congvu_smtp_refusals_total\{reason="([a-z-]+)"\} (\S+)', page))
    assert counted == {"bare-line-ending": "6.0", "bad-command": "3.0"}, page[:3000]
    logged = [line for line in process.seen if line.get("event") == "smtp refusal"]
    assert sorted(line["reason"] for line in logged) == ["bad-command"] * 3 + [
        "bare-line-ending"] * 3
    bare = next(line for line in logged if line["reason"] == "bare-line-ending")
    assert (bare["code"], bare["enhanced"], bare["listener"]) == (554, "5.6.0", "in")
