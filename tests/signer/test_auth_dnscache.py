"""The caching resolver of inbound authentication: TTLs respected, failures never cached."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from signer.dnscache import CachingResolver
from signer.errors import DnsTemporaryError
from support.dns import DnsServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add_txt("a.test", "v=spf1 -all")
        server.add_a("a.test", "192.0.2.1")
        server.add_aaaa("a.test", "2001:db8::1")
        server.add_mx("a.test", 10, "mx.a.test")
        yield server


def test_answers_are_cached_for_their_ttl(dns: DnsServer) -> None:
    clock = Clock()
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1, clock=clock)
    assert resolver.txt("a.test") == [b"v=spf1 -all"]
    assert resolver.txt("A.TEST.") == [b"v=spf1 -all"]
    assert resolver.lookups == 1
    clock.now += 299  # the loopback server gives TTL 300
    assert resolver("a.test") == [b"v=spf1 -all"]
    assert resolver.lookups == 1
    clock.now += 2
    resolver.txt("a.test")
    assert resolver.lookups == 2


def test_max_ttl_caps_the_ttl(dns: DnsServer) -> None:
    clock = Clock()
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1, max_ttl=10, clock=clock)
    resolver.lookup("a.test", "A")
    clock.now += 11
    resolver.lookup("a.test", "A")
    assert resolver.lookups == 2


def test_record_shapes(dns: DnsServer) -> None:
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1)
    assert resolver.lookup("a.test", "A") == ("192.0.2.1",)
    assert resolver.lookup("a.test", "AAAA") == ("2001:db8::1",)
    assert resolver.lookup("a.test", "MX") == ((10, "mx.a.test"),)
    assert resolver.lookup("a.test", "TXT") == ((b"v=spf1 -all",),)


def test_negative_answers_cached_for_negative_ttl(dns: DnsServer) -> None:
    clock = Clock()
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1, negative_ttl=5,
                               clock=clock)
    assert resolver.txt("missing.test") == []
    assert resolver.lookup("a.test", "PTR") == ()  # NODATA
    resolver.txt("missing.test")
    assert resolver.lookups == 2
    clock.now += 6
    resolver.txt("missing.test")
    assert resolver.lookups == 3


def test_temporary_failures_are_not_cached(dns: DnsServer) -> None:
    dns.set_servfail("bad.test")
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1)
    for _ in range(2):
        with pytest.raises(DnsTemporaryError, match="SERVFAIL"):
            resolver.txt("bad.test")
    assert resolver.lookups == 2
    dns.set_timeout("slow.test")
    with pytest.raises(DnsTemporaryError, match="timed out"):
        CachingResolver("127.0.0.1", port=dns.port, timeout=0.2).txt("slow.test")


def test_cache_is_bounded(dns: DnsServer) -> None:
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1, max_entries=2)
    for name in ("a.test", "b.test", "c.test"):
        resolver.txt(name)
    resolver.txt("a.test")  # evicted as the oldest
    assert resolver.lookups == 4
    resolver.clear()
    resolver.txt("c.test")
    assert resolver.lookups == 5


def test_zero_entries_disables_the_cache(dns: DnsServer) -> None:
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=1, max_entries=0)
    resolver.txt("a.test")
    resolver.txt("a.test")
    assert resolver.lookups == 2


def test_invalid_names_and_settings() -> None:
    resolver = CachingResolver("127.0.0.1", port=9, timeout=1)
    with pytest.raises(ValueError, match="invalid DNS name"):
        resolver.txt("a" * 64 + ".test")
    with pytest.raises(ValueError, match="timeout must be positive"):
        CachingResolver("127.0.0.1", timeout=0)
    with pytest.raises(ValueError, match="must not be negative"):
        CachingResolver("127.0.0.1", max_entries=-1)
