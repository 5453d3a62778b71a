"""ARC (RFC 8617) verification against a DNS server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest

from signer.arc import ArcResult, ArcStatus, ArcVerifier
from signer.authresults import authentication_results
from signer.dnscache import CachingResolver
from signer.keys import Algorithm
from support.arc import seal
from support.dkim import MESSAGE, KeyFile, make_key
from support.dns import DnsServer

pytest.importorskip("authres")  # dkimpy's ARC sealing (the tests' forwarder) needs it


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFile]:
    directory: Path = tmp_path_factory.mktemp("arckeys")
    return {name: make_key(directory, name,
                           Algorithm.RSA_SHA256) for name in ("list", "fwd", "lost", "slow")}


@pytest.fixture(scope="module")
def dns(keys: dict[str, KeyFile]) -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add_txt("arc._domainkey.list.test", keys["list"].record)
        server.add_txt("arc._domainkey.fwd.test", keys["fwd"].record)
        server.set_timeout("arc._domainkey.slow.test")
        yield server


def verifier(dns: DnsServer, *trusted: str, budget: float = 10) -> ArcVerifier:
    return ArcVerifier(CachingResolver("127.0.0.1", port=dns.port, timeout=0.3),
                       trusted_sealers=trusted, budget=budget)


LIST_RESULTS = "dkim=pass header.d=sotc.example.gov.vn; spf=pass smtp.mailfrom=a@x.test; " \
               "dmarc=pass (p=reject) header.from=sotc.example.gov.vn"


def test_unsealed_message_is_none(dns: DnsServer) -> None:
    assert verifier(dns).verify(MESSAGE) == ArcResult(ArcStatus.NONE, "no ARC set")


def test_one_set_passes_and_trust_is_local_policy(dns: DnsServer,
                                                   keys: dict[str, KeyFile]) -> None:
    sealed = seal(MESSAGE, keys["list"], "list.test", LIST_RESULTS)
    trusted = verifier(dns, "List.Test.").verify(sealed)
    assert trusted == ArcResult(ArcStatus.PASS, "chain of 1 sets verified, newest sealed by "
                                "list.test", "list.test", 1, True,
                                {"dkim": "pass", "spf": "pass", "dmarc": "pass"})
    assert trusted.is_trusted_pass
    untrusted = verifier(dns).verify(sealed)
    assert untrusted.result is ArcStatus.PASS
    assert not untrusted.is_trusted_pass
    assert untrusted.audit() == {"method": "arc", "result": "pass", "domain": "list.test",
                                 "reason": untrusted.reason, "code": "arc.verified",
                                 "params": {"sets": 1, "sealer": "list.test"}}
    assert authentication_results("mx.test", [untrusted]) == (
        b"Authentication-Results: mx.test;\r\n\tarc=pass (chain of 1 sets verified, newest "
        b"sealed by list.test)\r\n")


def test_two_hops_pass(dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    once = seal(MESSAGE, keys["list"], "list.test", LIST_RESULTS)
    twice = seal(once, keys["fwd"], "fwd.test", "arc=pass; dkim=fail")
    result = verifier(dns, "fwd.test").verify(twice)
    assert (result.result, result.sealer, result.instances) == (ArcStatus.PASS, "fwd.test", 2)
    assert result.upstream == {"arc": "pass", "dkim": "fail"}


def test_changed_after_sealing_fails(dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    sealed = seal(MESSAGE, keys["list"], "list.test", LIST_RESULTS)
    result = verifier(dns, "list.test").verify(sealed.replace(b"k\xc3\xa8m theo", b"khac"))
    assert result.result is ArcStatus.FAIL
    assert result.reason == "Most recent ARC-Message-Signature did not validate"
    assert not result.is_trusted_pass


def test_sealer_reporting_failure_terminates_the_chain(dns: DnsServer,
                                                       keys: dict[str, KeyFile]) -> None:
    once = seal(MESSAGE, keys["list"], "list.test", LIST_RESULTS)
    broken = once.replace(b"k\xc3\xa8m theo", b"khac")
    twice = seal(broken, keys["fwd"], "fwd.test", "arc=fail")
    result = verifier(dns, "fwd.test").verify(twice)
    assert result.result is ArcStatus.FAIL


def test_missing_key_fails(dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    sealed = seal(MESSAGE, keys["lost"], "lost.test", LIST_RESULTS)
    assert verifier(dns).verify(sealed).result is ArcStatus.FAIL


def test_key_lookup_timeout_fails_with_reason(dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    sealed = seal(MESSAGE, keys["slow"], "slow.test", LIST_RESULTS)
    result = verifier(dns, "slow.test").verify(sealed)
    assert result.result is ArcStatus.FAIL
    assert result.reason == "key lookup of arc._domainkey.slow.test failed: timed out"


def test_spent_budget_fails_without_lookups(dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    sealed = seal(MESSAGE, keys["list"], "list.test", LIST_RESULTS)
    result = verifier(dns, budget=-1).verify(sealed)
    assert result.result is ArcStatus.FAIL
    assert "DNS budget of this message is spent" in result.reason


@pytest.mark.parametrize("headers", [
    b"ARC-Seal: i=1; garbage\r\n",
    b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=a; b=AAAA\r\n",
    b"ARC-Seal: i=2; a=rsa-sha256; cv=pass; d=x.test; s=a; b=AAAA\r\n"
    b"ARC-Message-Signature: i=2; a=rsa-sha256; d=x.test; s=a; h=from; bh=AA; b=AA\r\n"
    b"ARC-Authentication-Results: i=2; x.test; dkim=pass\r\n",
    b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x.test; s=a; b=AAAA\r\n"
    b"ARC-Message-Signature: i=7; a=rsa-sha256; d=x.test; s=a; h=from; bh=AA; b=AA\r\n"
    b"ARC-Authentication-Results: i=1; x.test; dkim=pass\r\n",
    b"ARC-Seal: i=x\r\nARC-Seal: i=99999999999999999999\r\n",
])
def test_malformed_sets_fail(dns: DnsServer, headers: bytes) -> None:
    result = verifier(dns, "x.test").verify(headers + MESSAGE)
    assert result.result is ArcStatus.FAIL, result
    assert result.reason


@pytest.mark.parametrize(("forged", "reason"), [
    ('list.test".attacker.test', "ARC-Seal i=1 has a d= that is not a domain name: "
                                 "'list.test\".attacker.test'"),
    ("list.test(.attacker.test", "d= value is not valid (b'list.test(.attacker.test')"),
])
def test_sealer_whose_domain_is_no_domain_name_fails(dns: DnsServer, keys: dict[str, KeyFile],
                                                     forged: str, reason: str) -> None:
    """A forwarder owning attacker.test seals as a d= a lenient reader takes for
    list.test followed by something else; its key is published where that d= points.
    dkimpy refuses some such characters itself, not all."""
    dns.add_txt(f"arc._domainkey.{forged}", keys["lost"].record)
    with_ar = f"Authentication-Results: attacker.test; {LIST_RESULTS}\r\n".encode() + MESSAGE
    headers = dkim.arc_sign(with_ar, b"arc", forged.encode(), keys["lost"].path.read_bytes(),
                            b"attacker.test", include_headers=[b"from", b"to", b"subject"])
    result = verifier(dns, "list.test").verify(b"".join(headers) + with_ar)
    assert (result.result, result.reason, result.sealer) == (ArcStatus.FAIL, reason, None)
    assert not result.is_trusted_pass
