"""The TXT resolver against the loopback DNS server: answers, absence, temporary failures."""

from __future__ import annotations

from collections.abc import Iterator

import dns.resolver
import pytest

from signer.dns import DnsResolver, parse_hostport
from signer.errors import DnsTemporaryError
from support.dns import DnsServer


@pytest.fixture
def server() -> Iterator[DnsServer]:
    with DnsServer(txt={"sel._domainkey.example.gov.vn": "v=DKIM1; k=ed25519; p=abc"}) as dns:
        yield dns


def test_txt_records_are_returned_joined(server: DnsServer) -> None:
    resolver = DnsResolver("127.0.0.1", port=server.port, timeout=2)
    assert resolver.txt("sel._domainkey.example.gov.vn") == [b"v=DKIM1; k=ed25519; p=abc"]
    assert server.queries[-1].transport == "udp"


def test_long_record_is_split_into_255_octet_strings_and_joined_back(server: DnsServer) -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 700
    server.add_txt("big._domainkey.example.gov.vn", value)
    resolver = DnsResolver("127.0.0.1", port=server.port, timeout=2)
    assert resolver.txt("big._domainkey.example.gov.vn") == [value.encode()]


def test_answer_too_big_for_udp_is_retried_over_tcp(server: DnsServer) -> None:
    for i in range(8):
        server.add_txt("many.example.gov.vn", f"record {i} " + "x" * 250)
    resolver = DnsResolver("127.0.0.1", port=server.port, timeout=2)
    # dnspython asks with EDNS 1232 by default; eight 260-octet records do not fit
    assert len(resolver.txt("many.example.gov.vn")) == 8
    assert [q.transport for q in server.queries] == ["udp", "tcp"]


def test_nxdomain_and_nodata_are_empty(server: DnsServer) -> None:
    server.add_a("host.example.gov.vn", "192.0.2.1")
    resolver = DnsResolver("127.0.0.1", port=server.port, timeout=2)
    assert resolver.txt("nothing.example.gov.vn") == []
    assert resolver.txt("host.example.gov.vn") == []


def test_timeout_is_a_temporary_error_within_the_deadline(server: DnsServer) -> None:
    server.set_timeout("slow.example.gov.vn")
    resolver = DnsResolver("127.0.0.1", port=server.port, timeout=0.3)
    with pytest.raises(DnsTemporaryError, match="timed out") as caught:
        resolver.txt("slow.example.gov.vn")
    assert caught.value.name == "slow.example.gov.vn"


def test_servfail_is_a_temporary_error(server: DnsServer) -> None:
    server.set_servfail("broken.example.gov.vn")
    resolver = DnsResolver("127.0.0.1", port=server.port, timeout=1)
    with pytest.raises(DnsTemporaryError, match="SERVFAIL"):
        resolver.txt("broken.example.gov.vn")


def test_server_serves_a_aaaa_mx_for_spf_and_dmarc(server: DnsServer) -> None:
    server.add_a("mx.example.gov.vn", "192.0.2.25")
    server.add_aaaa("mx.example.gov.vn", "2001:db8::25")
    server.add_mx("example.gov.vn", 10, "mx.example.gov.vn")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = server.port
    assert [r.to_text() for r in resolver.resolve("mx.example.gov.vn", "A")] == ["192.0.2.25"]
    assert [r.to_text() for r in resolver.resolve("mx.example.gov.vn", "AAAA")] == ["2001:db8::25"]
    assert [r.to_text() for r in resolver.resolve("example.gov.vn", "MX")] == \
        ["10 mx.example.gov.vn."]
    server.remove("mx.example.gov.vn", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("mx.example.gov.vn", "A")


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("127.0.0.1", ("127.0.0.1", 53)),
    ("[::1]:5300", ("::1", 5300)),
    ("::1", ("::1", 53)),
])
def test_parse_hostport(text: str, expected: tuple[str, int]) -> None:
    assert parse_hostport(text) == expected


@pytest.mark.parametrize("text", [":53", "127.0.0.1:0", "127.0.0.1:x", "127.0.0.1:70000"])
def test_parse_hostport_refuses_bad_input(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_hostport(text)
