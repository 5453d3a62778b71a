"""Inbound authentication speed: the time SPF, DMARC and ARC add per message.

Run with ``make bench`` (or ``pytest -s tests/benchmarks/test_auth_speed.py``). Prints
figures; asserts nothing about time. Target: under 1 ms per message with the DNS
answers cached. The cold figure clears the cache before every message, so every answer
comes from the DNS server on loopback (a real recursor adds its own network time).
DKIM verification is not counted: the filter does it anyway (see test_dkim_speed.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator

import pytest

from signer.authcheck import AuthChecker
from signer.authconfig import AuthConfig
from signer.dkim import DkimSigner, load_signing_key
from signer.dkim_verify import DkimVerifier
from signer.dnscache import CachingResolver
from signer.keys import Algorithm
from support.arc import seal
from support.dkim import DOMAIN, MESSAGE, KeyFile, make_key
from support.dns import DnsServer


def _per_call(func: Callable[[], object], *, before: Callable[[], object] | None = None,
              rounds: int = 5, count: int = 200) -> float:
    """Best-of-rounds median time of one call, in milliseconds (a shared 2-core machine
    is noisy)."""
    func()
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(count):
            if before is not None:
                before()
            started = time.perf_counter()
            func()
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return min(medians) * 1000


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFile]:
    directory = tmp_path_factory.mktemp("authbench")
    return {"dkim": make_key(directory, "sel", Algorithm.RSA_SHA256),
            "list": make_key(directory, "arc", Algorithm.RSA_SHA256)}


@pytest.fixture(scope="module")
def server(keys: dict[str, KeyFile]) -> Iterator[DnsServer]:
    with DnsServer() as srv:
        srv.add_txt(f"sel._domainkey.{DOMAIN}", keys["dkim"].record)
        srv.add_txt("arc._domainkey.list.test", keys["list"].record)
        srv.add_txt("_dmarc.example.gov.vn", "v=DMARC1; p=reject; rua=mailto:d@example.gov.vn")
        # a typical big sender's shape: an include chain with a and mx
        srv.add_txt("example.gov.vn", "v=spf1 ip4:192.0.2.0/28 include:_spf.example.gov.vn "
                                      "mx -all")
        srv.add_txt("_spf.example.gov.vn", "v=spf1 ip4:198.51.100.0/24 a:out.example.gov.vn "
                                           "~all")
        srv.add_a("out.example.gov.vn", "203.0.113.7")
        srv.add_mx("example.gov.vn", 10, "mx.example.gov.vn")
        srv.add_a("mx.example.gov.vn", "203.0.113.25")
        srv.add_txt("list.test", "v=spf1 ip4:198.51.100.0/24 -all")
        yield srv


def test_added_time_per_inbound_message(server: DnsServer, keys: dict[str, KeyFile]) -> None:
    body = ("Kính gửi UBND tỉnh, văn bản số 123/STC về việc báo cáo.\r\n" * 170).encode()
    message = MESSAGE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body
    signer = DkimSigner([load_signing_key(DOMAIN, "sel", keys["dkim"].path)])
    signed = signer.sign(message, domain=DOMAIN) + message
    forwarded = seal(signed.replace(b"Subject: ", b"Subject: [list] "), keys["list"],
                     "list.test", "dkim=pass header.d=sotc.example.gov.vn; dmarc=pass")
    resolver = CachingResolver("127.0.0.1", port=server.port, timeout=2)
    checker = AuthChecker(AuthConfig(trusted_arc_sealers=("list.test",)), resolver)
    dkim_direct = DkimVerifier(resolver).verify(signed)
    dkim_forwarded = DkimVerifier(resolver).verify(forwarded)

    def direct() -> object:
        # the worst SPF path of this record: the mx mechanism, after the include chain
        return checker.check(client_ip="203.0.113.25", helo="mx.example.gov.vn",
                             mail_from="bounce@example.gov.vn", raw=signed,
                             dkim_results=dkim_direct)

    def via_list() -> object:
        return checker.check(client_ip="198.51.100.3", helo="list.test",
                             mail_from="bounces@list.test", raw=forwarded,
                             dkim_results=dkim_forwarded)

    assert direct().dmarc.result.value == "pass"  # type: ignore[attr-defined]
    assert via_list().arc.result.value == "pass"  # type: ignore[attr-defined]
    warm_direct = _per_call(direct)
    warm_list = _per_call(via_list)
    cold_direct = _per_call(direct, before=resolver.clear, rounds=3, count=60)
    cold_list = _per_call(via_list, before=resolver.clear, rounds=3, count=60)
    queries_before = len(server.queries)
    resolver.clear()
    direct()
    cold_queries = len(server.queries) - queries_before
    print(f"\nauth: {len(signed)} B signed message, SPF include chain + mx, DMARC p=reject")
    print(f"  direct, warm cache : {warm_direct:.3f} ms/message  (target < 1 ms)")
    print(f"  direct, cold cache : {cold_direct:.3f} ms/message  ({cold_queries} loopback "
          "DNS queries)")
    print(f"  via a trusted list with one ARC set, warm : {warm_list:.3f} ms/message")
    print(f"  via a trusted list with one ARC set, cold : {cold_list:.3f} ms/message")
