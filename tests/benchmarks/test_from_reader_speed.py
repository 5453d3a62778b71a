"""What reading the From once, with every ambiguity reading, costs per message.

Run with ``make bench`` (or ``pytest -s tests/benchmarks/test_from_reader_speed.py``).
Prints figures as ratios against a baseline measured in the same run; asserts nothing
about time. Baselines: the standard library's header parser on the same value (what
the previous From parser cost) and one RSA-2048 DKIM signature of a 10 KB message (what
every outbound message pays anyway). "cold" reads a From value never seen before (the
reader caches per value: a server sees the same senders all day); "header" includes
splitting a 20-field header block, which the door does once per message.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from email.policy import default

from mailbase import ProvincialDomains, read_from, read_header
from mailbase.ambiguity import addresses_read
from mailbase.sender import _read_value
from signer.dkim import DkimSigner, load_signing_key
from signer.keys import Algorithm
from support.dkim import DOMAIN, MESSAGE, make_key

PROVINCE = ProvincialDomains(["lamdong.gov.vn", "binhthuan.gov.vn", "daknong.gov.vn"])
VALUES = [
    "=?utf-8?q?S=E1=BB=9F_T=C3=A0i_ch=C3=ADnh_{n}?= <sotc{n}@lamdong.gov.vn>",
    '"Nguyễn Văn A {n}" <nguyenvana{n}@binhthuan.gov.vn>',
    "news{n}@example.org",
    '"sotc{n}@lamdong.gov.vn" <x{n}@evil.example>',  # ambiguous: the longest path
]
HEADER = "".join(f"X-Field-{i}: value {i} of the header block\r\n" for i in range(18))


def _per_call(func: Callable[[int], object], *, rounds: int = 5, count: int = 400) -> float:
    """Best-of-rounds median microseconds of one call; ``func`` gets a fresh number."""
    serial = 0
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(count):
            serial += 1
            started = time.perf_counter()
            func(serial)
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return min(medians) * 1e6


def _clear() -> None:
    _read_value.cache_clear()
    addresses_read.cache_clear()


def test_from_reader_cost(tmp_path) -> None:
    key = make_key(tmp_path, "sel", Algorithm.RSA_SHA256)
    signer = DkimSigner([load_signing_key(DOMAIN, "sel", key.path)])
    body = MESSAGE + b"x" * 10_000 + b"\r\n"
    dkim = _per_call(lambda n: signer.sign(body, domain=DOMAIN), count=100)
    print(f"\nbaseline: RSA-2048 DKIM signature of 10 KB: {dkim:.0f} us")
    for template in VALUES:
        stdlib = _per_call(lambda n, t=template: default.header_factory("From", t.format(n=n)))
        cold = _per_call(lambda n, t=template: (_clear(), read_from(read_header(
            f"From: {t.format(n=n)}\r\n{HEADER}\r\nbody".encode()), PROVINCE)))
        warm_raw = f"From: {template.format(n=0)}\r\n{HEADER}\r\nbody".encode()
        warm = _per_call(lambda n, r=warm_raw: read_from(read_header(r), PROVINCE))
        print(f"{template[:44]:44}  stdlib {stdlib:6.0f} us  cold {cold:6.0f} us "
              f"({cold / stdlib:4.1f}x stdlib, {cold / dkim:5.2f}x DKIM)  "
              f"cached, with the header split {warm:5.1f} us ({warm / dkim:5.3f}x DKIM)")
