"""SPF (RFC 7208) against a DNS server on loopback, cross-checked with Mail::SPF."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from signer.dnscache import CachingResolver
from signer.spf import SpfChecker, SpfResult, SpfStatus
from support.dns import DnsServer
from support.spfpeer import HAS_MAIL_SPF, mail_spf_result


def _zone(dns: DnsServer) -> None:
    dns.add_txt("pass.test", "v=spf1 ip4:192.0.2.0/24 -all")
    dns.add_txt("pass.test", "google-site-verification=abc")  # a non-SPF TXT beside it
    dns.add_txt("chain.test", "v=spf1 include:inc.test -all")
    dns.add_txt("inc.test", "v=spf1 a mx:mail.inc.test ~all")
    dns.add_a("inc.test", "198.51.100.7")
    dns.add_mx("mail.inc.test", 10, "mx1.inc.test")
    dns.add_a("mx1.inc.test", "198.51.100.9")
    dns.add_txt("soft.test", "v=spf1 ip4:192.0.2.1 ~all")
    dns.add_txt("neutral.test", "v=spf1 ?all")
    dns.add_txt("other.test", "some other text")
    dns.add_txt("two.test", "v=spf1 ip4:192.0.2.1 -all")
    dns.add_txt("two.test", "v=spf1 -all")
    dns.add_txt("badmech.test", "v=spf1 ip4:192.0.2.0/24 foo:bar -all")
    dns.add_txt("badip.test", "v=spf1 ip4:192.0.2.300 -all")
    dns.add_txt("loop.test", "v=spf1 include:loop2.test -all")
    dns.add_txt("loop2.test", "v=spf1 include:loop.test -all")
    dns.add_txt("self.test", "v=spf1 include:self.test -all")
    for n in range(1, 12):
        dns.add_a(f"h{n}.hosts.test", f"203.0.113.{n}")
    dns.add_txt("ten.test", "v=spf1 " + " ".join(f"a:h{n}.hosts.test" for n in range(1, 11))
                + " -all")
    dns.add_txt("eleven.test", "v=spf1 " + " ".join(f"a:h{n}.hosts.test" for n in range(1, 12))
                + " -all")
    for n in range(12):
        dns.add_txt(f"c{n}.chain.test", f"v=spf1 include:c{n + 1}.chain.test -all")
    dns.add_txt("twovoid.test", "v=spf1 a:n1.void.test a:n2.void.test ip4:192.0.2.0/24 -all")
    dns.add_txt("threevoid.test",
                "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test ip4:192.0.2.0/24 -all")
    dns.add_txt("incnone.test", "v=spf1 include:other.test -all")
    dns.add_txt("redirect.test", "v=spf1 redirect=pass.test")
    dns.add_txt("redirnone.test", "v=spf1 redirect=nothing.test")
    dns.add_txt("macro.test", "v=spf1 exists:%{ir}.allow.macro.test -all")
    dns.add_a("1.2.0.192.allow.macro.test", "127.0.0.2")
    dns.add_txt("six.test", "v=spf1 ip6:2001:db8::/32 -all")
    dns.add_txt("helo.example", "v=spf1 ip4:192.0.2.8 -all")
    dns.add_txt("slowinc.test", "v=spf1 include:slow.test -all")
    dns.set_timeout("slow.test")
    dns.set_servfail("broken.test")


CASES = [
    # (client ip, mail from, helo, expected)
    ("192.0.2.5", "a@pass.test", "h.example", "pass"),
    ("203.0.113.5", "a@pass.test", "h.example", "fail"),
    ("198.51.100.7", "a@chain.test", "h.example", "pass"),
    ("198.51.100.9", "a@chain.test", "h.example", "pass"),
    ("203.0.113.99", "a@chain.test", "h.example", "fail"),  # include's ~all does not match
    ("203.0.113.9", "a@soft.test", "h.example", "softfail"),
    ("203.0.113.9", "a@neutral.test", "h.example", "neutral"),
    ("203.0.113.9", "a@other.test", "h.example", "none"),
    ("203.0.113.9", "a@nothing.test", "h.example", "none"),
    ("192.0.2.1", "a@two.test", "h.example", "permerror"),
    ("192.0.2.1", "a@badmech.test", "h.example", "permerror"),
    ("192.0.2.1", "a@badip.test", "h.example", "permerror"),
    ("192.0.2.1", "a@loop.test", "h.example", "permerror"),
    ("192.0.2.1", "a@self.test", "h.example", "permerror"),
    ("203.0.113.10", "a@ten.test", "h.example", "pass"),
    ("192.0.2.1", "a@ten.test", "h.example", "fail"),  # exactly 10 lookups is allowed
    ("192.0.2.1", "a@eleven.test", "h.example", "permerror"),
    ("192.0.2.1", "a@c0.chain.test", "h.example", "permerror"),
    ("192.0.2.1", "a@twovoid.test", "h.example", "pass"),
    ("192.0.2.1", "a@threevoid.test", "h.example", "permerror"),
    ("192.0.2.1", "a@incnone.test", "h.example", "permerror"),
    ("192.0.2.1", "a@redirect.test", "h.example", "pass"),
    ("192.0.2.1", "a@redirnone.test", "h.example", "permerror"),
    ("192.0.2.1", "a@macro.test", "h.example", "pass"),
    ("192.0.2.2", "a@macro.test", "h.example", "fail"),
    ("2001:db8::25", "a@six.test", "h.example", "pass"),
    ("2001:db9::25", "a@six.test", "h.example", "fail"),
    ("192.0.2.8", "", "helo.example", "pass"),  # null sender: the HELO identity
    ("192.0.2.9", "", "helo.example", "fail"),
    ("192.0.2.1", "a@broken.test", "h.example", "temperror"),
    ("192.0.2.1", "a@slow.test", "h.example", "temperror"),
    ("192.0.2.1", "a@slowinc.test", "h.example", "temperror"),
]


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        _zone(server)
        yield server


#: How long a lookup waits for the loopback server. Only the names made to time out
#: reach it; a loaded 2-core machine answered a live name late at 0.3 s.
ANSWER_WAIT = 1.0


@pytest.fixture
def resolver(dns: DnsServer) -> CachingResolver:
    return CachingResolver("127.0.0.1", port=dns.port, timeout=ANSWER_WAIT)


@pytest.mark.parametrize(("ip", "mail_from", "helo", "expected"), CASES)
def test_corpus(resolver: CachingResolver, ip: str, mail_from: str, helo: str,
                expected: str) -> None:
    result = SpfChecker(resolver).check(client_ip=ip, helo=helo, mail_from=mail_from)
    assert result.result.value == expected, result.reason
    assert result.reason


@pytest.mark.skipif(not HAS_MAIL_SPF, reason="Debian libmail-spf-perl is not installed")
@pytest.mark.parametrize(("ip", "mail_from", "helo", "expected"), CASES)
def test_mail_spf_agrees(dns: DnsServer, ip: str, mail_from: str, helo: str,
                         expected: str) -> None:
    assert mail_spf_result(dns.port, ip, mail_from, helo) == expected


def test_reasons_and_properties(resolver: CachingResolver) -> None:
    checker = SpfChecker(resolver)
    result = checker.check(client_ip="192.0.2.5", helo="h.example", mail_from="<a@pass.test>")
    assert result == SpfResult(SpfStatus.PASS,
                               "192.0.2.5 is authorized by pass.test, matched ip4:192.0.2.0/24",
                               "mailfrom", "pass.test", "a@pass.test", "192.0.2.5")
    assert result.properties() == [("smtp.mailfrom", "a@pass.test")]
    assert result.audit() == {"method": "spf", "result": "pass", "domain": "pass.test",
                              "reason": result.reason, "code": "spf.authorized",
                              "params": {"client": "192.0.2.5", "domain": "pass.test",
                                         "matched": {"code": "spf.matched", "params": {
                                             "mechanism": "ip4:192.0.2.0/24"}}}}
    helo = checker.check(client_ip="192.0.2.8", helo="helo.example", mail_from="")
    assert helo.properties() == [("smtp.helo", "helo.example")]
    loop = checker.check(client_ip="192.0.2.1", helo="h", mail_from="a@eleven.test")
    assert "Too many DNS lookups" in loop.reason
    void = checker.check(client_ip="192.0.2.1", helo="h", mail_from="a@threevoid.test")
    assert "void lookup limit" in void.reason
    slow = checker.check(client_ip="192.0.2.1", helo="h", mail_from="a@slow.test")
    assert slow.reason == "Temporary Error: TXT lookup of slow.test: timed out"


@pytest.mark.parametrize(("ip", "mail_from", "helo", "reason"), [
    ("not-an-ip", "a@pass.test", "h", "the client address 'not-an-ip' is not an IP address"),
    ("", "a@pass.test", "h", "the original client is unknown (no XFORWARD ADDR)"),
    ("192.0.2.1", "a@bad..domain", "h", "no valid domain to check in 'a@bad..domain'"),
    ("192.0.2.1", "a@localhost", "h", "no valid domain to check in 'a@localhost'"),
    ("192.0.2.1", "", "", "no valid domain to check in ''"),
    ("192.0.2.1", "a@" + "x" * 64 + ".test", "h", None),
])
def test_unusable_input_is_none(resolver: CachingResolver, ip: str, mail_from: str,
                                helo: str, reason: str | None) -> None:
    result = SpfChecker(resolver).check(client_ip=ip, helo=helo, mail_from=mail_from)
    assert result.result is SpfStatus.NONE
    if reason is not None:
        assert result.reason == reason


def test_bracketed_ip_is_accepted(resolver: CachingResolver) -> None:
    result = SpfChecker(resolver).check(client_ip="[192.0.2.5]", helo="h",
                                        mail_from="a@pass.test")
    assert result.result is SpfStatus.PASS


def test_budget_bounds_a_chain_of_slow_lookups(dns: DnsServer) -> None:
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=0.2)
    dns.add_txt("manyslow.test", "v=spf1 a:s1.slow.test a:s2.slow.test a:s3.slow.test -all")
    for n in (1, 2, 3):
        dns.set_timeout(f"s{n}.slow.test")
    result = SpfChecker(resolver, budget=0.1).check(client_ip="192.0.2.1", helo="h",
                                                     mail_from="a@manyslow.test")
    assert result.result is SpfStatus.TEMPERROR


def test_invalid_budget() -> None:
    with pytest.raises(ValueError, match="budget must be positive"):
        SpfChecker(CachingResolver("127.0.0.1"), budget=0)


# -- RFC 7208 5.5: DNS errors inside ptr; 6.2: exp=

def _ptr_zone(dns: DnsServer) -> None:
    dns.add_txt("ptr.test", "v=spf1 ptr -all")
    dns.add_txt("pmacro.test", "v=spf1 exists:%{p}.names.test -all")
    dns.add_a("unknown.names.test", "127.0.0.2")
    # 192.0.2.20: one name's A lookup fails, one times out, the third validates
    dns.add("20.2.0.192.in-addr.arpa", "PTR", "broken.ptr.test.")
    dns.add("20.2.0.192.in-addr.arpa", "PTR", "silent.ptr.test.")
    dns.add("20.2.0.192.in-addr.arpa", "PTR", "good.ptr.test.")
    dns.set_servfail("broken.ptr.test")
    dns.add_a("silent.ptr.test", "192.0.2.99")
    dns.set_timeout("silent.ptr.test", "A")
    dns.add_a("good.ptr.test", "192.0.2.20")
    # 192.0.2.21: the PTR query itself fails
    dns.set_servfail("21.2.0.192.in-addr.arpa")
    # 192.0.2.22: only names whose A lookups fail
    dns.add("22.2.0.192.in-addr.arpa", "PTR", "broken.ptr.test.")
    # 192.0.2.23: two names whose lookups time out
    dns.add_txt("slowptr.test", "v=spf1 ptr -all")
    for name in ("s1.slowptr.test", "s2.slowptr.test"):
        dns.add("23.2.0.192.in-addr.arpa", "PTR", name + ".")
        dns.set_timeout(name)


@pytest.mark.parametrize(("ip", "mail_from", "expected"), [
    ("192.0.2.20", "a@ptr.test", "pass"),   # the failing names are skipped, not temperror
    ("192.0.2.22", "a@ptr.test", "fail"),   # nothing validated: no match
    ("192.0.2.21", "a@ptr.test", "fail"),   # a failed PTR query matches nothing
    ("192.0.2.21", "a@pmacro.test", "pass"),  # and %{p} expands to "unknown" (7.3)
])
def test_dns_errors_inside_ptr(more_dns: DnsServer, ip: str, mail_from: str,
                              expected: str) -> None:
    resolver = CachingResolver("127.0.0.1", port=more_dns.port, timeout=ANSWER_WAIT)
    result = SpfChecker(resolver).check(client_ip=ip, helo="h", mail_from=mail_from)
    assert result.result.value == expected, result.reason


def test_spent_budget_inside_ptr_is_still_temperror(more_dns: DnsServer) -> None:
    """The first name's lookup times out and is skipped; by then the budget is spent,
    and that ends the check rather than skipping the second name too."""
    resolver = CachingResolver("127.0.0.1", port=more_dns.port, timeout=0.2)
    result = SpfChecker(resolver, budget=0.1).check(client_ip="192.0.2.23", helo="h",
                                                     mail_from="a@slowptr.test")
    assert result.result is SpfStatus.TEMPERROR
    assert "time budget was spent" in result.reason


def _exp_zone(dns: DnsServer) -> None:
    dns.add_txt("exp.test", "v=spf1 ip4:192.0.2.0/24 -all exp=why.exp.test")
    dns.add_txt("why.exp.test", "%{i} is not one of %{d}'s designated mail servers.")
    dns.add_txt("softexp.test", "v=spf1 ~all exp=why.exp.test")
    dns.add_txt("noexp.test", "v=spf1 -all exp=nothing.exp.test")
    dns.add_txt("slowexp.test", "v=spf1 -all exp=slow.exp.test")
    dns.set_timeout("slow.exp.test")
    dns.add_txt("twoexp.test", "v=spf1 -all exp=two.exp.test")
    dns.add_txt("two.exp.test", "one")
    dns.add_txt("two.exp.test", "two")
    dns.add_txt("redirexp.test", "v=spf1 redirect=exp.test exp=other.exp.test")
    dns.add_txt("other.exp.test", "not this one")
    dns.add_txt("plain.exp.test", "v=spf1 -all")


@pytest.fixture(scope="module")
def more_dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        _ptr_zone(server)
        _exp_zone(server)
        yield server


@pytest.mark.parametrize(("ip", "mail_from", "expected", "explanation"), [
    ("203.0.113.5", "a@exp.test", "fail",
     "203.0.113.5 is not one of exp.test's designated mail servers."),
    ("192.0.2.5", "a@exp.test", "pass", None),
    ("203.0.113.5", "a@softexp.test", "softfail", None),  # exp= is for fail only (6.2)
    ("203.0.113.5", "a@noexp.test", "fail", None),  # no TXT there: no explanation
    ("203.0.113.5", "a@slowexp.test", "fail", None),  # a DNS error on exp= is ignored
    ("203.0.113.5", "a@twoexp.test", "fail", None),  # more than one record: ignored
    ("203.0.113.5", "a@redirexp.test", "fail",  # redirect= takes the target's exp=
     "203.0.113.5 is not one of exp.test's designated mail servers."),
    ("203.0.113.5", "a@plain.exp.test", "fail", None),  # no exp= at all
])
def test_explanation_on_fail(more_dns: DnsServer, ip: str, mail_from: str, expected: str,
                             explanation: str | None) -> None:
    resolver = CachingResolver("127.0.0.1", port=more_dns.port, timeout=ANSWER_WAIT)
    result = SpfChecker(resolver).check(client_ip=ip, helo="h", mail_from=mail_from)
    assert (result.result.value, result.explanation) == (expected, explanation), result.reason
