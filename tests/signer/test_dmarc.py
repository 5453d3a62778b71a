"""DMARC (RFC 7489) against a DNS server on loopback: discovery, alignment, p/sp/pct."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from signer.authresults import authentication_results
from signer.dkim_verify import AuthResult, DkimResult
from signer.dmarc import DmarcChecker, DmarcPolicy, DmarcRecord, DmarcStatus, parse_record
from signer.dnscache import CachingResolver
from signer.psl import is_aligned, organizational_domain
from signer.spf import SpfResult, SpfStatus
from support.dns import DnsServer

SPF_NONE = SpfResult(SpfStatus.NONE, "no SPF record")


def spf_pass(domain: str) -> SpfResult:
    return SpfResult(SpfStatus.PASS, "ok", "mailfrom", domain, f"b@{domain}", "192.0.2.1")


def dkim(domain: str, result: AuthResult = AuthResult.PASS) -> DkimResult:
    return DkimResult(result, "signature verified", domain=domain, selector="s")


def message(from_header: str = "Van thu <vanthu@example.test>") -> bytes:
    return (f"From: {from_header}\r\nTo: a@b.test\r\nSubject: x\r\n\r\nbody\r\n").encode()


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add_txt("_dmarc.example.test",
                       "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.test")
        server.add_txt("_dmarc.strict.test", "v=DMARC1; p=reject; adkim=s; aspf=s")
        server.add_txt("_dmarc.own.strict.test", "v=DMARC1; p=none")
        server.add_txt("_dmarc.nosp.test", "v=DMARC1; p=quarantine")
        server.add_txt("_dmarc.pct.test", "v=DMARC1; p=reject; pct=50")
        server.add_txt("_dmarc.pctq.test", "v=DMARC1; p=quarantine; pct=0")
        server.add_txt("_dmarc.two.test", "v=DMARC1; p=none")
        server.add_txt("_dmarc.two.test", "v=DMARC1; p=reject")
        server.add_txt("_dmarc.badp.test", "v=DMARC1; p=maybe")
        server.add_txt("_dmarc.nop.test", "v=DMARC1; adkim=s")
        server.add_txt("_dmarc.ruaonly.test", "v=DMARC1; rua=mailto:r@ruaonly.test")
        server.add_txt("_dmarc.badsp.test", "v=DMARC1; p=none; sp=bogus")
        server.add_txt("_dmarc.other.test", "v=spf1 -all")
        server.add_txt("_dmarc.other.test", "some verification token")
        server.add_txt("_dmarc.gov.test", "v=DMARC1; p=reject")
        server.set_timeout("_dmarc.slow.test")
        server.set_servfail("_dmarc.broken.test")
        yield server


@pytest.fixture
def checker(dns: DnsServer) -> DmarcChecker:
    return DmarcChecker(CachingResolver("127.0.0.1", port=dns.port, timeout=0.3),
                        sample=lambda: 0.7)


@pytest.mark.parametrize(("domain", "spf", "dkim_results", "expected", "policy", "disposition"), [
    ("example.test", SPF_NONE, [dkim("example.test")], "pass", "reject", "none"),
    ("example.test", SPF_NONE, [dkim("mail.example.test")], "pass", "reject", "none"),
    ("example.test", spf_pass("bounce.example.test"), [], "pass", "reject", "none"),
    ("example.test", SPF_NONE, [dkim("example.test", AuthResult.FAIL)], "fail", "reject",
     "reject"),
    ("example.test", spf_pass("other.test"), [dkim("evil.test")], "fail", "reject", "reject"),
    ("news.example.test", SPF_NONE, [], "fail", "quarantine", "quarantine"),  # sp=
    ("news.example.test", SPF_NONE, [dkim("example.test")], "pass", "quarantine", "none"),
    ("strict.test", SPF_NONE, [dkim("mail.strict.test")], "fail", "reject", "reject"),
    ("strict.test", spf_pass("mail.strict.test"), [], "fail", "reject", "reject"),
    ("strict.test", spf_pass("strict.test"), [], "pass", "reject", "none"),
    ("own.strict.test", SPF_NONE, [], "fail", "none", "none"),  # its own record first
    ("a.nosp.test", SPF_NONE, [], "fail", "quarantine", "quarantine"),  # no sp=: p=
    ("pct.test", SPF_NONE, [], "fail", "reject", "quarantine"),  # outside the 50% sample
    ("pctq.test", SPF_NONE, [], "fail", "quarantine", "none"),
    ("ruaonly.test", SPF_NONE, [], "fail", "none", "none"),
])
def test_evaluation(checker: DmarcChecker, domain: str, spf: SpfResult,
                    dkim_results: list[DkimResult], expected: str, policy: str,
                    disposition: str) -> None:
    result = checker.check(message(f"<a@{domain}>"), spf=spf, dkim=dkim_results)
    assert result.result.value == expected, result.reason
    assert result.policy is DmarcPolicy(policy)
    assert result.disposition is DmarcPolicy(disposition)
    assert result.from_domain == domain


def test_pct_inside_the_sample_keeps_the_policy(dns: DnsServer) -> None:
    checker = DmarcChecker(CachingResolver("127.0.0.1", port=dns.port, timeout=0.3),
                           sample=lambda: 0.2)
    result = checker.check_domain("pct.test", spf=SPF_NONE, dkim=[])
    assert result.disposition is DmarcPolicy.REJECT


@pytest.mark.parametrize(("domain", "expected", "detail"), [
    ("nothing.test", "none", "no DMARC record for nothing.test"),
    ("other.test", "none", "no DMARC record for other.test"),
    ("two.test", "permerror", "_dmarc.two.test has 2 DMARC records (only one may be published)"),
    ("badp.test", "permerror",
     "malformed DMARC record at _dmarc.badp.test: invalid or missing p= ('maybe')"),
    ("nop.test", "permerror",
     "malformed DMARC record at _dmarc.nop.test: invalid or missing p= ('')"),
    ("badsp.test", "permerror",
     "malformed DMARC record at _dmarc.badsp.test: invalid sp= ('bogus')"),
    ("slow.test", "temperror", "policy lookup of _dmarc.slow.test failed: timed out"),
    ("broken.test", "temperror", "policy lookup of _dmarc.broken.test failed: the nameserver "
                                 "failed to answer (SERVFAIL or refused)"),
    ("a.b.broken.test", "temperror", "policy lookup of _dmarc.broken.test failed: the "
                                     "nameserver failed to answer (SERVFAIL or refused)"),
])
def test_no_policy_and_errors(checker: DmarcChecker, domain: str, expected: str,
                              detail: str) -> None:
    result = checker.check_domain(domain, spf=spf_pass(domain), dkim=[dkim(domain)])
    assert (result.result.value, result.detail) == (expected, detail)
    assert result.policy is None
    assert result.reason == detail


@pytest.mark.parametrize(("from_header", "detail"), [
    (None, "From: the message has no From header"),
    ("a@example.test, b@example.test",
         "From: the From header names several addresses or a group"),
])
def test_from_that_names_no_one_domain(checker: DmarcChecker, from_header: str | None,
                                       detail: str) -> None:
    raw = b"To: a@b.test\r\n\r\nx\r\n" if from_header is None else message(from_header)
    result = checker.check(raw, spf=SPF_NONE, dkim=[dkim("example.test")])
    assert (result.result, result.detail) == (DmarcStatus.PERMERROR, detail)


def test_two_from_headers_is_permerror(checker: DmarcChecker) -> None:
    raw = b"From: a@example.test\r\nFrom: b@evil.test\r\n\r\nx\r\n"
    result = checker.check(raw, spf=SPF_NONE, dkim=[dkim("example.test")])
    assert result.result is DmarcStatus.PERMERROR
    assert result.detail == "From: the message has 2 From headers"


def test_reasons_authentication_results_and_audit(checker: DmarcChecker) -> None:
    good = checker.check(message(), spf=SPF_NONE, dkim=[dkim("example.test")])
    assert good.reason == "p=reject dis=none; aligned DKIM d=example.test"
    header = authentication_results("mx.province.test", [good])
    assert header == (b"Authentication-Results: mx.province.test;\r\n\tdmarc=pass "
                      b"(p=reject dis=none; aligned DKIM d=example.test) "
                      b"header.from=example.test\r\n")
    bad = checker.check(message(), spf=spf_pass("evil.test"), dkim=[dkim("evil.test")])
    assert bad.detail == ("neither SPF nor DKIM aligned with example.test: DKIM passed only "
                          "for evil.test; SPF passed for evil.test, not aligned")
    assert bad.audit() == {"method": "dmarc", "result": "fail", "reason": bad.detail,
                           "domain": "example.test", "policy": "reject",
                           "disposition": "reject", "code": "dmarc.not-aligned",
                           "params": {"domain": "example.test",
                                      "dkim": {"code": "dmarc.dkim-passed-for",
                                               "params": {"domains": "evil.test"}},
                                      "spf": {"code": "dmarc.spf-not-aligned",
                                              "params": {"domain": "evil.test"}}}}
    assert (bad.is_spf_aligned, bad.is_dkim_aligned) == (False, False)


def test_parse_record_defaults_and_leniency() -> None:
    assert parse_record("v=DMARC1; p=none") == DmarcRecord(DmarcPolicy.NONE)
    record = parse_record(" V = dmarc1 ;P=Reject; adkim=s; aspf=x; pct=abc; fo=1; "
                          "rua=mailto:a@x.test, mailto:b@x.test; p=none")
    assert record == DmarcRecord(DmarcPolicy.REJECT, None, is_strict_dkim=True,
                                 is_strict_spf=False, percent=100,
                                 report_to=("mailto:a@x.test", "mailto:b@x.test"))
    assert parse_record("v=DMARC1; p=none; pct=500").percent == 100
    with pytest.raises(ValueError, match="does not start with v=DMARC1"):
        parse_record("p=reject; v=DMARC1")


@pytest.mark.parametrize(("domain", "org"), [
    ("sotc.binhthuan.gov.vn", "binhthuan.gov.vn"),
    ("binhthuan.gov.vn", "binhthuan.gov.vn"),
    ("gov.vn", "gov.vn"),
    ("a.b.example.com.", "example.com"),
    ("MAIL.Example.CO.UK", "example.co.uk"),
])
def test_organizational_domain(domain: str, org: str) -> None:
    assert organizational_domain(domain) == org


def test_alignment() -> None:
    assert is_aligned("sotc.binhthuan.gov.vn", "binhthuan.gov.vn", strict=False)
    assert not is_aligned("sotc.binhthuan.gov.vn", "binhthuan.gov.vn", strict=True)
    assert not is_aligned("binhthuan.gov.vn", "quangnam.gov.vn", strict=False)
    assert is_aligned("Example.TEST.", "example.test", strict=True)
