"""One entry point for inbound authentication: SPF, DKIM, DMARC and ARC, and what follows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from mailbase import FromVerdict, ProvincialDomains, read_from, read_header
from signer.arc import ArcResult, ArcStatus
from signer.authcheck import (
    AuthChecker,
    AuthDecision,
    Disposition,
    DmarcActions,
    dmarc_disposition,
    own_domain_spoof,
)
from signer.authconfig import AuthConfig
from signer.authresults import authentication_results
from signer.config import DkimConfig, SignerConfig
from signer.dkim import DkimSigner, load_signing_key
from signer.dkim_verify import AuthResult, DkimResult, DkimVerifier
from signer.dmarc import DmarcPolicy, DmarcResult, DmarcStatus
from signer.dnscache import CachingResolver
from signer.keys import Algorithm
from support.arc import seal
from support.dkim import DOMAIN, MESSAGE, KeyFile, make_key
from support.dns import DnsServer

OWN = ("example.gov.vn",)
PROVINCE = ProvincialDomains(OWN)


def sender(raw: bytes) -> FromVerdict:
    return read_from(read_header(raw), PROVINCE)


def from_(value: str) -> FromVerdict:
    return sender(f"From: {value}\r\n\r\nx".encode())


def dkim(domain: str, result: AuthResult = AuthResult.PASS) -> DkimResult:
    return DkimResult(result, "x", domain=domain)


def dmarc(result: DmarcStatus, policy: DmarcPolicy | None = None,
          disposition: DmarcPolicy | None = None) -> DmarcResult:
    return DmarcResult(result, "why", "example.test", policy, disposition)


@pytest.mark.parametrize(("value", "results", "expected"), [
    ("a@sotc.example.gov.vn", [dkim("sotc.example.gov.vn")], None),
    ("a@sotc.example.gov.vn", [dkim("example.gov.vn")], None),  # relaxed alignment
    ("a@example.gov.vn", [dkim("evil.test"), dkim("example.gov.vn")], None),
    ("a@sotc.example.gov.vn", [dkim("evil.test")],
     "From is the province's own domain sotc.example.gov.vn but no DKIM signature aligned "
     "with it passed"),
    ("a@example.gov.vn", [dkim("example.gov.vn", AuthResult.FAIL)],
     "From is the province's own domain example.gov.vn but no DKIM signature aligned with "
     "it passed"),
    ("a@example.gov.vn", [DkimResult(AuthResult.NONE, "message not signed")],
     "From is the province's own domain example.gov.vn but no DKIM signature aligned with "
     "it passed"),
    # ambiguous and claiming a provincial domain: forged, whatever DKIM says
    ("a@evil.test, b@example.gov.vn", [dkim("evil.test"), dkim("example.gov.vn")],
     "the From header is ambiguous (the From header names several addresses or a group) "
     "and reads as the province's own domain example.gov.vn"),
    ('"boss@example.gov.vn" <x@evil.test>', [dkim("evil.test")],
     "the From header is ambiguous (the From header also reads as boss@example.gov.vn) "
     "and reads as the province's own domain example.gov.vn"),
    ("a@evil.test", [], None),
    ("a@notexample.gov.vn", [], None),  # a suffix match is not a subdomain
    ("undisclosed:;", [], None),  # ambiguous, but claims nothing provincial
])
def test_own_domain_spoof(value: str, results: list[DkimResult], expected: str | None) -> None:
    assert own_domain_spoof(from_(value), results) == expected


@pytest.mark.parametrize(("result", "actions", "arc", "expected"), [
    (dmarc(DmarcStatus.PASS, DmarcPolicy.REJECT, DmarcPolicy.NONE), DmarcActions(), None,
     Disposition.ACCEPT),
    (dmarc(DmarcStatus.NONE), DmarcActions(), None, Disposition.ACCEPT),
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT), DmarcActions(), None,
     Disposition.REJECT),
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.QUARANTINE), DmarcActions(), None,
     Disposition.QUARANTINE),  # outside the pct sample
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.QUARANTINE, DmarcPolicy.QUARANTINE), DmarcActions(),
     None, Disposition.QUARANTINE),
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.NONE, DmarcPolicy.NONE), DmarcActions(), None,
     Disposition.TAG),
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT),
     DmarcActions(on_reject=Disposition.QUARANTINE), None, Disposition.QUARANTINE),
    (dmarc(DmarcStatus.PERMERROR), DmarcActions(), None, Disposition.TAG),
    (dmarc(DmarcStatus.TEMPERROR), DmarcActions(on_temperror=Disposition.TEMPFAIL), None,
     Disposition.TEMPFAIL),
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT), DmarcActions(),
     ArcResult(ArcStatus.PASS, "ok", "list.test", 1, True, {"dmarc": "pass"}), Disposition.TAG),
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT), DmarcActions(),
     ArcResult(ArcStatus.PASS, "ok", "list.test", 1, False, {"dmarc": "pass"}),
     Disposition.REJECT),  # not a trusted sealer
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT), DmarcActions(),
     ArcResult(ArcStatus.PASS, "ok", "list.test", 1, True, {"dmarc": "fail"}),
     Disposition.REJECT),
    (dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT), DmarcActions(),
     ArcResult(ArcStatus.FAIL, "bad", "list.test", 1, True, {"dmarc": "pass"}),
     Disposition.REJECT),
])
def test_dmarc_disposition(result: DmarcResult, actions: DmarcActions, arc: ArcResult | None,
                           expected: Disposition) -> None:
    assert dmarc_disposition(result, actions, arc=arc).disposition is expected


def test_disposition_reasons() -> None:
    assert dmarc_disposition(dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT),
                             DmarcActions()) == AuthDecision(
        Disposition.REJECT, "dmarc=fail (p=reject) for example.test: why")
    trusted = ArcResult(ArcStatus.PASS, "ok", "list.test", 1, True, {"dmarc": "pass"})
    assert dmarc_disposition(dmarc(DmarcStatus.FAIL, DmarcPolicy.REJECT, DmarcPolicy.REJECT),
                             DmarcActions(), arc=trusted).reason == (
        "dmarc=fail, but the trusted ARC sealer list.test recorded dmarc=pass")


def test_config_defaults_and_validation() -> None:
    config = SignerConfig()
    assert config.auth == AuthConfig()
    assert DmarcActions.from_config(config.auth) == DmarcActions()
    custom = AuthConfig(trusted_arc_sealers=("Lists.Example.ORG.",), on_dmarc_reject="tag")
    assert custom.trusted_arc_sealers == ("lists.example.org",)
    assert DmarcActions.from_config(custom).on_reject is Disposition.TAG
    with pytest.raises(ValidationError, match="invalid sealer domain"):
        AuthConfig(trusted_arc_sealers=("nodot",))
    with pytest.raises(ValidationError):
        AuthConfig(on_dmarc_reject="drop")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SignerConfig.model_validate({"auth": {"unknown": 1}})
    with pytest.raises(ValidationError):
        AuthConfig(on_own_domain_spoof="tag")  # type: ignore[arg-type]


# -- the whole check on a DNS server on loopback ----------------------------------------

@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFile]:
    directory = tmp_path_factory.mktemp("authkeys")
    return {"dkim": make_key(directory, "sel", Algorithm.RSA_SHA256),
            "list": make_key(directory, "arc", Algorithm.RSA_SHA256)}


@pytest.fixture(scope="module")
def dns(keys: dict[str, KeyFile]) -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add_txt(f"sel._domainkey.{DOMAIN}", keys["dkim"].record)
        server.add_txt("arc._domainkey.list.test", keys["list"].record)
        server.add_txt("_dmarc.example.gov.vn", "v=DMARC1; p=reject; rua=mailto:d@example.gov.vn")
        server.add_txt("example.gov.vn", "v=spf1 ip4:192.0.2.0/24 -all")
        server.add_txt("list.test", "v=spf1 ip4:198.51.100.0/24 -all")
        yield server


@pytest.fixture
def checker(dns: DnsServer) -> AuthChecker:
    config = SignerConfig(dkim=DkimConfig(resolver_nameserver="127.0.0.1",
                                          resolver_port=dns.port, resolver_timeout=1,
                                          authserv_id="mx.example.gov.vn"),
                          auth=AuthConfig(trusted_arc_sealers=("list.test",)))
    return AuthChecker.from_config(config)


def _signed(keys: dict[str, KeyFile], message: bytes = MESSAGE) -> bytes:
    signer = DkimSigner([load_signing_key(DOMAIN, "sel", keys["dkim"].path)])
    return signer.sign(message, domain=DOMAIN) + message


def test_signed_mail_from_the_right_server_passes(checker: AuthChecker,
                                                  keys: dict[str, KeyFile]) -> None:
    raw = _signed(keys)
    results = DkimVerifier(checker.resolver).verify(raw)
    verdict = checker.check(client_ip="192.0.2.10", helo="mail.example.gov.vn",
                            mail_from="bounce@example.gov.vn", raw=raw, sender=sender(raw),
                            dkim_results=results)
    assert [m.result.value for m in verdict.methods()] == ["pass", "pass", "pass", "none"]
    assert verdict.dmarc.is_dkim_aligned and verdict.dmarc.is_spf_aligned
    assert not verdict.is_own_domain_spoof
    assert verdict.disposition(checker.actions).disposition is Disposition.ACCEPT
    header = authentication_results("mx.example.gov.vn", verdict.methods())
    assert b"\tspf=pass (192.0.2.10 is authorized by example.gov.vn, matched " \
           b"ip4:192.0.2.0/24) smtp.mailfrom=\"bounce@example.gov.vn\";" in header
    assert b"\tdmarc=pass (p=reject dis=none; aligned DKIM d=sotc.example.gov.vn and SPF " \
           b"example.gov.vn) header.from=sotc.example.gov.vn;" in header
    assert header.endswith(b"\tarc=none (no ARC set)\r\n")
    assert [entry["method"] for entry in verdict.audit()] == ["spf", "dmarc", "arc"]


def test_forged_provincial_from_outside_is_a_spoof(checker: AuthChecker) -> None:
    verdict = checker.check(client_ip="203.0.113.5", helo="evil.test",
                            mail_from="x@evil.test", raw=MESSAGE, sender=sender(MESSAGE),
                            dkim_results=[dkim("evil.test")])
    assert verdict.spf.result.value == "none"
    assert verdict.dmarc.result is DmarcStatus.FAIL
    assert verdict.is_own_domain_spoof
    assert verdict.disposition(checker.actions).disposition is Disposition.REJECT


@pytest.mark.parametrize(("trusted", "expected"), [
    (("list.test",), Disposition.TAG),
    ((), Disposition.REJECT),
])
def test_forwarded_through_a_list(dns: DnsServer, keys: dict[str, KeyFile],
                                  trusted: tuple[str, ...], expected: Disposition) -> None:
    # the list verified the original (DKIM and DMARC passed), changed the Subject, sealed
    changed = _signed(keys).replace(b"Subject: ", b"Subject: [list] ")
    raw = seal(changed, keys["list"], "list.test",
               "dkim=pass header.d=sotc.example.gov.vn; dmarc=pass")
    checker = AuthChecker(AuthConfig(trusted_arc_sealers=trusted),
                          CachingResolver("127.0.0.1", port=dns.port, timeout=1))
    results = DkimVerifier(checker.resolver).verify(raw)
    verdict = checker.check(client_ip="198.51.100.3", helo="list.test",
                            mail_from="bounces@list.test", raw=raw, sender=sender(raw),
                            dkim_results=results)
    assert [r.result for r in results] == [AuthResult.FAIL]
    assert verdict.spf.result.value == "pass"
    assert verdict.dmarc.result is DmarcStatus.FAIL  # the list's change broke DKIM
    assert verdict.arc.result is ArcStatus.PASS
    assert verdict.arc.upstream == {"dkim": "pass", "dmarc": "pass"}
    assert verdict.disposition(checker.actions).disposition is expected
    # own-domain protection asks for an aligned DKIM pass; ARC does not replace it
    assert verdict.is_own_domain_spoof


def test_resolver_cache_is_shared(checker: AuthChecker, keys: dict[str, KeyFile]) -> None:
    raw = _signed(keys)
    for _ in range(3):
        results = DkimVerifier(checker.resolver).verify(raw)
        checker.check(client_ip="192.0.2.10", helo="h", mail_from="b@example.gov.vn",
                      raw=raw, sender=sender(raw), dkim_results=results)
    assert checker.resolver.lookups == 4  # key, SPF, _dmarc at the From domain and the org


def test_resolver_type_is_the_caching_one(checker: AuthChecker) -> None:
    assert isinstance(checker.resolver, CachingResolver)
