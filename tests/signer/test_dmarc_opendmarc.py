"""DMARC verdicts cross-checked with OpenDMARC's library on a crafted corpus.

Both read the same records from the DNS server on loopback; OpenDMARC does its own
policy discovery, record parsing, organizational domains (Debian's Public Suffix List
file) and alignment. Test domains are under real public suffixes (com.vn, gov.vn):
OpenDMARC does not fall back to the organizational domain under an unknown TLD.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from signer.dkim_verify import AuthResult, DkimResult
from signer.dmarc import DmarcChecker, DmarcResult, DmarcStatus
from signer.dnscache import CachingResolver
from signer.spf import SpfResult, SpfStatus
from support.dns import DnsServer
from support.opendmarc import HAS_OPENDMARC, opendmarc_policy

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(not HAS_OPENDMARC,
                                 reason="Debian libopendmarc2 or publicsuffix is not installed")]

RECORDS = {
    "example.com.vn": "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com.vn",
    "strict.com.vn": "v=DMARC1; p=reject; adkim=s; aspf=s",
    "nosp.com.vn": "v=DMARC1; p=quarantine",
    "monitor.com.vn": "v=DMARC1; p=none",
    "badp.com.vn": "v=DMARC1; p=maybe",
    "example.gov.vn": "v=DMARC1; p=reject",
    "spaces.com.vn": "v=DMARC1 ;  p = quarantine ; adkim = s",
}

# (From domain, SPF domain or None, SPF passed, DKIM d= or None, DKIM passed, expected)
CASES = [
    ("example.com.vn", None, False, "example.com.vn", True, "pass"),
    ("example.com.vn", None, False, "mail.example.com.vn", True, "pass"),
    ("example.com.vn", "bounce.example.com.vn", True, None, False, "pass"),
    ("example.com.vn", "example.com.vn", False, "example.com.vn", False, "reject"),
    ("example.com.vn", "evil.vn", True, "evil.vn", True, "reject"),
    ("example.com.vn", "evil.example.vn", True, "com.vn", True, "reject"),
    ("news.example.com.vn", None, False, None, False, "quarantine"),
    ("news.example.com.vn", None, False, "example.com.vn", True, "pass"),
    ("a.b.news.example.com.vn", "x.example.com.vn", True, None, False, "pass"),
    ("strict.com.vn", None, False, "mail.strict.com.vn", True, "reject"),
    ("strict.com.vn", "mail.strict.com.vn", True, None, False, "reject"),
    ("strict.com.vn", "strict.com.vn", True, None, False, "pass"),
    ("a.nosp.com.vn", None, False, None, False, "quarantine"),
    ("monitor.com.vn", None, False, "evil.vn", True, "none"),
    ("nothing.com.vn", "nothing.com.vn", True, None, False, "absent"),
    ("badp.com.vn", None, False, None, False, "error"),
    ("sotc.example.gov.vn", None, False, "example.gov.vn", True, "pass"),
    ("sotc.example.gov.vn", None, False, "gov.vn", True, "reject"),
    ("sotc.example.gov.vn", None, False, "other.gov.vn", True, "reject"),
    ("spaces.com.vn", None, False, "a.spaces.com.vn", True, "quarantine"),
]


# Where OpenDMARC 1.4.2 (Debian bookworm) is wrong and we follow RFC 7489: it reads
# adkim=s / aspf=s as relaxed when the From domain is a subdomain (the PSL lookup collapses
# it; fixed upstream in OpenDMARC's repository in 2026), and it aligns a public
# suffix d= (com.vn, gov.vn) with the From domains under it (section 3.2: the
# organizational domain of example.com.vn is example.com.vn; a public suffix is no one's).
OPENDMARC_1_4_2_DIFFERS = {
    ("example.com.vn", "com.vn"): "pass",
    ("strict.com.vn", "mail.strict.com.vn"): "pass",
    ("sotc.example.gov.vn", "gov.vn"): "pass",
    ("spaces.com.vn", "a.spaces.com.vn"): "pass",
}


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        for domain, record in RECORDS.items():
            server.add_txt(f"_dmarc.{domain}", record)
        yield server


def _ours(dns: DnsServer, case: tuple[str, str | None, bool, str | None, bool, str]
          ) -> DmarcResult:
    from_domain, spf_domain, spf_pass, dkim_domain, dkim_pass, _ = case
    spf = SpfResult(SpfStatus.PASS if spf_pass else SpfStatus.FAIL, "", "mailfrom",
                    spf_domain, f"b@{spf_domain}") if spf_domain else \
        SpfResult(SpfStatus.NONE, "")
    dkim = [DkimResult(AuthResult.PASS if dkim_pass else AuthResult.FAIL, "",
                       domain=dkim_domain)] if dkim_domain else []
    checker = DmarcChecker(CachingResolver("127.0.0.1", port=dns.port, timeout=1))
    return checker.check_domain(from_domain, spf=spf, dkim=dkim)


def _word(result: DmarcResult) -> str:
    """Our result in OpenDMARC's words (its 'policy to enforce')."""
    if result.result is DmarcStatus.FAIL:
        assert result.disposition is not None
        return result.disposition.value
    return {DmarcStatus.PASS: "pass", DmarcStatus.NONE: "absent",
            DmarcStatus.PERMERROR: "error", DmarcStatus.TEMPERROR: "temperror"}[result.result]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[5]}" for c in CASES])
def test_opendmarc_agrees(dns: DnsServer,
                          case: tuple[str, str | None, bool, str | None, bool, str]) -> None:
    from_domain, spf_domain, spf_pass, dkim_domain, dkim_pass, expected = case
    theirs = opendmarc_policy(dns.port, from_domain, spf_domain=spf_domain, spf_pass=spf_pass,
                              dkim_domain=dkim_domain, dkim_pass=dkim_pass)
    assert _word(_ours(dns, case)) == expected
    known = OPENDMARC_1_4_2_DIFFERS.get((from_domain, dkim_domain or spf_domain or ""))
    assert (theirs if theirs not in ("bad-value", "no-p") else "error") == (known or expected)


def test_several_records_differ_by_design(dns: DnsServer) -> None:
    """RFC 7489 section 6.6.3: several records mean DMARC is not applied. OpenDMARC
    applies one of them; we say permerror (never a pass, and visible to the admin)."""
    dns.add_txt("_dmarc.two.com.vn", "v=DMARC1; p=none")
    dns.add_txt("_dmarc.two.com.vn", "v=DMARC1; p=reject")
    result = _ours(dns, ("two.com.vn", None, False, "two.com.vn", True, ""))
    assert result.result is DmarcStatus.PERMERROR
    assert opendmarc_policy(dns.port, "two.com.vn", dkim_domain="two.com.vn",
                            dkim_pass=True) in ("pass", "none", "reject")
