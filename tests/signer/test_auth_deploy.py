"""The DNS records in deploy/dns/ stay true: valid, and SPF and DMARC do what they say."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest

from signer.authconfig import AuthConfig
from signer.dkim_verify import AuthResult, DkimResult
from signer.dmarc import DmarcChecker, DmarcPolicy, DmarcStatus, parse_record
from signer.dnscache import CachingResolver
from signer.spf import SpfChecker, SpfStatus
from support.dns import DnsServer

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "dns"
ZONE = DEPLOY / "example.gov.vn.zone"
SENDING = ("example.gov.vn", "sotc.example.gov.vn", "sogd.example.gov.vn")


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    zone = dns.zone.from_text(ZONE.read_text(), origin="example.gov.vn.", relativize=False,
                              check_origin=False)
    with DnsServer() as srv:
        for name, _ttl, rdata in zone.iterate_rdatas():
            owner = name.to_text(omit_final_dot=True)
            if rdata.rdtype == dns.rdatatype.TXT:
                srv.add_txt(owner, list(rdata.strings))
            elif rdata.rdtype == dns.rdatatype.A:
                srv.add_a(owner, rdata.address)
            elif rdata.rdtype == dns.rdatatype.AAAA:
                srv.add_aaaa(owner, rdata.address)
            elif rdata.rdtype == dns.rdatatype.MX:
                srv.add_mx(owner, rdata.preference, rdata.exchange.to_text())
        yield srv


@pytest.fixture
def resolver(server: DnsServer) -> CachingResolver:
    return CachingResolver("127.0.0.1", port=server.port, timeout=1)


@pytest.mark.parametrize("domain", SENDING)
@pytest.mark.parametrize(("ip", "expected"), [
    ("203.0.113.25", SpfStatus.PASS), ("2001:db8:25::25", SpfStatus.PASS),
    ("198.51.100.1", SpfStatus.FAIL),
])
def test_spf_allows_only_the_mail_server(resolver: CachingResolver, domain: str, ip: str,
                                         expected: SpfStatus) -> None:
    result = SpfChecker(resolver).check(client_ip=ip, helo="mail.example.gov.vn",
                                        mail_from=f"vanthu@{domain}")
    assert result.result is expected, result.reason


def test_helo_name_and_non_sending_names(resolver: CachingResolver) -> None:
    checker = SpfChecker(resolver)
    assert checker.check(client_ip="203.0.113.25", helo="mail.example.gov.vn",
                         mail_from="").result is SpfStatus.PASS
    assert checker.check(client_ip="203.0.113.25", helo="h",
                         mail_from="x@www.example.gov.vn").result is SpfStatus.FAIL


@pytest.mark.parametrize(("domain", "policy"), [
    ("example.gov.vn", DmarcPolicy.QUARANTINE),
    ("sotc.example.gov.vn", DmarcPolicy.QUARANTINE),  # sp= at the organizational domain
    ("sogd.example.gov.vn", DmarcPolicy.QUARANTINE),  # its own record
])
def test_dmarc_step_one_quarantines_forgeries(resolver: CachingResolver, domain: str,
                                              policy: DmarcPolicy) -> None:
    checker = DmarcChecker(resolver)
    spf = SpfChecker(resolver).check(client_ip="198.51.100.1", helo="evil.test",
                                     mail_from="x@evil.test")
    forged = checker.check_domain(domain, spf=spf, dkim=[])
    assert (forged.result, forged.policy, forged.disposition) == (DmarcStatus.FAIL, policy,
                                                                  policy)
    signed = checker.check_domain(domain, spf=spf,
                                  dkim=[DkimResult(AuthResult.PASS, "ok", domain=domain)])
    assert signed.result is DmarcStatus.PASS


def test_every_dmarc_record_written_parses() -> None:
    records = re.findall(r'(?m)^;?_dmarc\.\S+\s+\d+\s+IN\s+TXT\s+"([^"]+)"', ZONE.read_text())
    assert len(records) == 3  # step 1, step 2 (commented), a unit's own
    parsed = [parse_record(r) for r in records]
    assert [p.policy for p in parsed] == [DmarcPolicy.QUARANTINE, DmarcPolicy.REJECT,
                                          DmarcPolicy.QUARANTINE]
    assert all(p.report_to == ("mailto:dmarc-reports@example.gov.vn",) for p in parsed)


def test_readme_settings_are_valid() -> None:
    text = (DEPLOY / "README.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = AuthConfig.model_validate(tomllib.loads(block)["signer"]["auth"])
    assert config == AuthConfig()
    assert set(tomllib.loads(block)["signer"]["auth"]) == set(AuthConfig.model_fields)
