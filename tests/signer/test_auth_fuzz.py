"""Hostile SPF and DMARC records and From headers: a defined result, never a crash or a pass."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbase import ProvincialDomains, read_from, read_header
from signer.authcheck import own_domain_spoof
from signer.dkim_verify import AuthResult, DkimResult
from signer.dmarc import DmarcChecker, DmarcRecord, DmarcStatus, parse_record
from signer.dnscache import CachingResolver
from signer.spf import SpfChecker, SpfResult, SpfStatus
from support.dns import DnsServer

_SPF_TERMS = st.sampled_from([
    "a", "mx", "ptr", "all", "-all", "~all", "?all", "+all", "include:", "exists:",
    "redirect=", "exp=", "ip4:", "ip6:", "a:", "mx:", "/24", "//64", "%{i}", "%{ir}.",
    "%{d2}", "%{l-}", "%{", "%%", "%_", "fuzz.test", "none.test", "192.0.2.1", "::1",
    "300.1.1.1", "v=spf1", " ", "  ", ":", "=", ".", "..", "\u0111", "\x00",
])
_FIXTURE_OK = [HealthCheck.function_scoped_fixture]  # one DNS server for all examples
_DMARC_TERMS = st.sampled_from([
    "v=DMARC1", "p=", "sp=", "pct=", "adkim=", "aspf=", "rua=", "none", "reject",
    "quarantine", "s", "r", "101", "-1", "mailto:a@b.test", ";", " ", "=", ",", "\u0111",
])


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(terms=st.lists(_SPF_TERMS, max_size=12))
def test_any_spf_record_gives_a_result(dns: DnsServer, terms: list[str]) -> None:
    record = "v=spf1 " + "".join(terms)
    dns.remove("fuzz.test")
    dns.add_txt("fuzz.test", record)
    resolver = CachingResolver("127.0.0.1", port=dns.port, timeout=0.3, max_entries=0)
    result = SpfChecker(resolver, budget=2).check(client_ip="203.0.113.9", helo="h.test",
                                                  mail_from="a@fuzz.test")
    assert isinstance(result.result, SpfStatus)
    assert result.reason
    if "all" not in record and "+" not in record and "ip4:203" not in record:
        assert result.result is not SpfStatus.PASS, record


@settings(max_examples=300, deadline=None)
@given(terms=st.lists(_DMARC_TERMS, max_size=14))
def test_any_dmarc_text_parses_or_is_refused(terms: list[str]) -> None:
    text = "".join(terms)
    try:
        record = parse_record(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert isinstance(record, DmarcRecord)
        assert 0 <= record.percent <= 100


@settings(max_examples=100, deadline=None, suppress_health_check=_FIXTURE_OK)
@given(terms=st.lists(_DMARC_TERMS, max_size=14))
def test_any_dmarc_record_never_passes_unaligned_mail(dns: DnsServer, terms: list[str]) -> None:
    dns.remove("_dmarc.fuzz.test")
    dns.add_txt("_dmarc.fuzz.test", "".join(terms))
    checker = DmarcChecker(CachingResolver("127.0.0.1", port=dns.port, timeout=0.3,
                                           max_entries=0))
    result = checker.check_domain("fuzz.test", spf=SpfResult(SpfStatus.NONE, ""),
                                  dkim=[DkimResult(AuthResult.PASS, "", domain="evil.test")])
    assert result.result is not DmarcStatus.PASS


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=120))
def test_any_from_header_is_read_without_crashing(value: str) -> None:
    raw = b"From: " + value.encode("utf-8", "surrogatepass") + b"\r\n\r\nbody\r\n"
    sender = read_from(read_header(raw), ProvincialDomains(["example.gov.vn"]))
    assert (sender.address is None) == (sender.ambiguity is not None)
    # a From that names the province's domain in any reading, unsigned: always a spoof
    if sender.claims:
        assert own_domain_spoof(sender, []) is not None
