"""published_problems: what doctor says about a sending domain's SPF and DMARC."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from signer.dnscache import CachingResolver
from signer.dnscheck import published_problems
from support.dns import DnsServer


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    with DnsServer() as srv:
        srv.add_txt("good.test", "v=spf1 ip4:192.0.2.25 -all")
        srv.add_txt("_dmarc.good.test", "v=DMARC1; p=quarantine; rua=mailto:r@good.test")
        srv.add_txt("mail.good.test", "v=spf1 ip4:192.0.2.25 -all")
        srv.add_txt("sub.good.test", "v=spf1 redirect=good.test")
        srv.add_txt("weak.test", "v=spf1 ip4:198.51.100.0/24 ~all")
        srv.add_txt("_dmarc.weak.test", "v=DMARC1; p=none")
        srv.add_txt("two.test", "v=spf1 ip4:192.0.2.25 -all")
        srv.add_txt("_dmarc.two.test", "v=DMARC1; p=reject")
        srv.add_txt("_dmarc.two.test", "v=DMARC1; p=none")
        srv.add_txt("bad.test", "v=spf1 ip4:192.0.2.25 -all")
        srv.add_txt("_dmarc.bad.test", "v=DMARC1; p=sometimes")
        srv.set_timeout("_dmarc.slow.test")
        srv.add_txt("slow.test", "v=spf1 ip4:192.0.2.25 -all")
        yield srv


@pytest.fixture
def resolver(server: DnsServer) -> CachingResolver:
    return CachingResolver("127.0.0.1", port=server.port, timeout=0.3)


@pytest.mark.parametrize(("domain", "helo", "expected"), [
    ("good.test", "mail.good.test", []),
    ("sub.good.test", "", []),  # SPF by redirect, DMARC through sp/p at good.test
    ("weak.test", "", [
        "SPF of weak.test gives softfail for our server 192.0.2.25: 192.0.2.25 is "
        "discouraged by weak.test, matched ~all",
        "DMARC policy for weak.test is p=none (monitoring only); move to p=quarantine, then "
        "p=reject (deploy/dns/README.md)",
        "DMARC record at _dmarc.weak.test has no rua= reporting address"]),
    ("two.test", "", ["_dmarc.two.test has 2 DMARC records; publish exactly one"]),
    ("bad.test", "", ["DMARC record at _dmarc.bad.test is malformed: invalid or missing p= "
                      "('sometimes')"]),
    ("slow.test", "", ["DMARC record of slow.test could not be looked up: timed out"]),
    ("none.test", "mail.none.test", [
        "SPF of none.test gives none for our server 192.0.2.25: no SPF record at none.test",
        "SPF of mail.none.test gives none for our server 192.0.2.25: no SPF record at "
        "mail.none.test",
        "no DMARC record for none.test (looked at _dmarc.none.test)"]),
])
def test_published_problems(resolver: CachingResolver, domain: str, helo: str,
                            expected: list[str]) -> None:
    assert published_problems(domain, resolver=resolver, server_ips=["192.0.2.25"],
                              helo=helo) == expected
