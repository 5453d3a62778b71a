"""SPF's explanation (RFC 7208 6.2, 8.4): the exp= text of a failing domain, made fit
for an SMTP reply, and quoted in the refusal of a message whose sender failed SPF.

The explanations are served by the DNS fixture on loopback, with the octets an attacker
would put there (CR LF to start a reply line of its own, 8-bit text, a flood)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from signer.dnscache import CachingResolver
from signer.spf import MAX_EXPLANATION, SpfChecker, SpfResult, SpfStatus, reply_text
from support.dns import DnsServer
from support.rawsmtp import Raw

CLIENT = "203.0.113.5"


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        for name, exp in [
            ("plain.test", b"%{i} may not send mail for %{d}; see https://plain.test/spf"),
            ("crlf.test", b"denied\r\n250 2.0.0 Ok: queued\r\nmore"),
            ("control.test", b"tab\there nul\x00there del\x7fthere"),
            ("utf8.test", "Máy chủ %{i} không được phép".encode()),
            ("long.test", b"why " * 200),
            ("macro.test", b"sender was %{s}"),
            ("blank.test", b"   \t  "),
        ]:
            server.add_txt(name, f"v=spf1 ip4:192.0.2.0/24 -all exp=why.{name}")
            server.add_txt(f"why.{name}", exp)
            server.add_txt(f"_dmarc.{name}", "v=DMARC1; p=reject")
        yield server


def check(dns: DnsServer, mail_from: str) -> SpfResult:
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1.0)
    return SpfChecker(resolver).check(client_ip=CLIENT, helo="mx.attacker.test",
                                      mail_from=mail_from)


@pytest.mark.parametrize(("mail_from", "explanation"), [
    ("a@plain.test", f"{CLIENT} may not send mail for plain.test; see https://plain.test/spf"),
    ("a@crlf.test", "denied  250 2.0.0 Ok: queued  more"),  # one line, nothing injected
    ("a@control.test", "tab here nul there del there"),
    ("a@utf8.test", None),  # not US-ASCII: no explanation (6.2)
    ("a@long.test", ("why " * 50)[: MAX_EXPLANATION - 3].rstrip() + "..."),
    ("a@blank.test", None),
])
def test_the_explanation_is_one_printable_ascii_line(dns: DnsServer, mail_from: str,
                                                      explanation: str | None) -> None:
    result = check(dns, mail_from)
    assert result.result is SpfStatus.FAIL
    assert result.explanation == explanation
    if explanation is not None:
        assert len(explanation) <= MAX_EXPLANATION
        assert result.reply_note() == f"SPF: {result.domain} explains: {explanation}"
    else:
        assert result.reply_note() is None


def test_a_macro_cannot_carry_a_line_break_from_the_envelope(dns: DnsServer) -> None:
    result = check(dns, "a\r\n550-x@macro.test")
    assert result.explanation is None or ("\r" not in result.explanation
                                          and "\n" not in result.explanation)


def test_only_a_fail_has_a_reply_note() -> None:
    passed = SpfResult(SpfStatus.PASS, "ok", domain="d.test", explanation="ignored")
    assert passed.reply_note() is None


@pytest.mark.parametrize(("text", "expected"), [
    (None, None), ("", None), ("a\r\nb", "a  b"), ("  a   b  ", "a   b"), ("é", None),
    (" \t\r\n", None),
    ("x" * 500, "x" * (MAX_EXPLANATION - 3) + "..."),
])
def test_reply_text(text: str | None, expected: str | None) -> None:
    assert reply_text(text) == expected


# -- through the service: the refusal of a message whose sender failed SPF


@pytest.fixture
def inbound(filter_server: Callable[..., Any], dns: DnsServer) -> Any:
    return filter_server(
        listeners=[{"name": "in", "role": "inbound", "queue": "before", "port": 0}],
        signer={"dkim": {"authserv_id": "mx.binhthuan.gov.vn",
                         "resolver_nameserver": "127.0.0.1", "resolver_port": dns.port,
                         "resolver_timeout": 2}},
    )


def refusal(running: Any, sender: str) -> bytes:
    raw = Raw(running.port)
    raw.command(b"EHLO postfix")
    assert raw.command(f"XFORWARD ADDR={CLIENT} HELO=mx.attacker.test".encode()
                       ).startswith(b"250")
    assert raw.command(f"MAIL FROM:<{sender}>".encode()).startswith(b"250")
    assert raw.command(b"RCPT TO:<sotc@binhthuan.gov.vn>").startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(f"From: {sender}\r\nTo: sotc@binhthuan.gov.vn\r\nSubject: x\r\n"
             f"Message-ID: <spf@x.test>\r\n\r\nbody\r\n.\r\n".encode())
    return raw.reply()


def test_the_refusal_quotes_the_domains_explanation(inbound: Any, next_hop: Any) -> None:
    reply = refusal(inbound, "ceo@plain.test")
    # both languages, then why, then the domain's own explanation (RFC 7208 8.4)
    assert reply.startswith(b"550 5.7.1 Thu bi tu choi: nguoi gui khong duoc xac thuc / "
                            b"Message refused: the sender is not authenticated (dmarc=fail "
                            b"(p=reject) for plain.test")
    assert reply.endswith(f"; SPF: plain.test explains: {CLIENT} may not send mail for "
                          "plain.test; see https://plain.test/spf)".encode())
    next_hop.assert_empty()


def test_an_explanation_cannot_add_a_reply_line(inbound: Any, next_hop: Any) -> None:
    reply = refusal(inbound, "ceo@crlf.test")
    # one whole reply of one line: no continuation line, no second reply
    assert b"\r" not in reply and b"\n" not in reply
    assert reply.startswith(b"550 5.7.1 ")
    assert reply.endswith(b"; SPF: crlf.test explains: denied  250 2.0.0 Ok: queued  more)")
    next_hop.assert_empty()


def test_without_an_explanation_the_refusal_says_only_why(inbound: Any, next_hop: Any) -> None:
    reply = refusal(inbound, "ceo@utf8.test")
    assert reply.startswith(b"550 5.7.1 Thu bi tu choi: nguoi gui khong duoc xac thuc / "
                            b"Message refused: the sender is not authenticated (dmarc=fail "
                            b"(p=reject) for utf8.test")
    assert b"explains" not in reply
