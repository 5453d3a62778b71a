"""Benchmarks for policies/: decisions per second, and a big zip.

Targets: at least 1,500 decisions/s for a 10 KB message with one PDF on one core;
under 200 ms to decide a 10 MB zip of 1,000 members. Figures are printed, never
asserted (no timed assertions in the tests).
"""

from __future__ import annotations

import email
import io
import os
import time
import zipfile
from email import policy as email_policy

from policies import PoliciesConfig, decide

from ..policies.conftest import corpus_module as cm


def _small_message() -> bytes:
    pdf = cm.PDF + os.urandom(1200)  # a 7 KB PDF, about 10 KB once base64-encoded
    raw = cm.message(cm.attachment(pdf, cm.VN_NAME, "application/pdf"))
    assert 9_000 < len(raw) < 11_000, len(raw)
    return raw


def _big_zip(kind: str) -> bytes:
    out = io.BytesIO()
    rng = os.urandom(10_240 * 1000) if kind == "random" else None
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(1000):
            if rng is not None:
                data = rng[k * 10_240 : (k + 1) * 10_240]
                zf.writestr(f"dir{k % 10}/file{k}.bin", data, zipfile.ZIP_STORED)
            else:
                data = cm.PDF + b"%" + os.urandom(4000).hex().encode()[: 10_240 - len(cm.PDF)]
                zf.writestr(f"dir{k % 10}/cong van {k}.pdf", data)
    return out.getvalue()


def _rate(fn, seconds: float = 2.0) -> float:  # type: ignore[no-untyped-def]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def test_decisions_per_second_small_pdf_message() -> None:
    policy = PoliciesConfig().resolve(["u"], "inbound")
    raw = _small_message()
    assert decide(raw, policy).action.value == "accept"
    ours = _rate(lambda: decide(raw, policy))
    compat = _rate(lambda: email.message_from_bytes(raw, policy=email_policy.compat32))
    default = _rate(lambda: email.message_from_bytes(raw, policy=email_policy.default))
    print(f"\npolicies: {len(raw)} B message with one PDF: decide {ours:,.0f}/s "
          f"(target 1,500/s); parse only: compat32 {compat:,.0f}/s, "
          f"policy.default {default:,.0f}/s")


def test_time_to_decide_a_10_mb_zip_of_1000_members() -> None:
    policy = PoliciesConfig().resolve(["u"], "inbound")
    for kind in ("random", "pdf"):
        archive = _big_zip(kind)
        raw = cm.message(cm.attachment(archive, "ho so.zip"))
        decision = decide(raw, policy)
        best = min(_time(lambda raw=raw: decide(raw, policy)) for _ in range(5))
        print(f"\npolicies: zip of 1,000 {kind} members, {len(archive) / 1e6:.1f} MB "
              f"({len(raw) / 1e6:.1f} MB message): {best * 1000:.0f} ms "
              f"(target < 200 ms), action {decision.action.value}")


def _time(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
