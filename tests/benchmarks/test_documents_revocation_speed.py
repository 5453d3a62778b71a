"""What revocation checking adds to verifying a signed document.

Target: verifying a 1 MB document signed by a person and then by an organisation, with
revocation from a cached CRL, costs at most 1.2 times the same verification without
revocation, in the same run. The CRLs are fetched once from a CA web server on loopback
(support/govpki.py) and then served from the verifier's cache, as in the service.
Run with ``make bench`` or
``.venv/bin/python -m pytest -q -s tests/benchmarks/test_documents_revocation_speed.py``.
Figures are printed, never asserted against a clock.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from signer.documents import DocumentVerdict, DocumentVerifier
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import CaWebServer, GovPki


def _medians_ms(first: Callable[[], object], second: Callable[[], object], *,
                rounds: int = 21) -> tuple[float, float]:
    """Both actions' median times, measured in alternation so that the load of a
    shared machine falls on both alike."""
    first(), second()  # warm up (imports, caches)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for action, out in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            action()
            out.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


def test_revocation_from_a_cached_crl_costs_little(tmp_path: Path) -> None:
    web = CaWebServer()
    web.start()
    try:
        gov = GovPki.create(web)
        person = gov.issue("cb@laocai.gov.vn", common_name="Nguyễn Văn A")
        seal = gov.issue("ubnd@laocai.gov.vn", common_name="Ủy ban nhân dân tỉnh Lào Cai")
        pdf = sign_pdf(sign_pdf(plain_pdf(padding=1024 * 1024), person), seal,
                       field="Signature2")
        without = DocumentVerifier(TrustStore([gov.root.cert], [gov.issuing.cert]))
        cached = DocumentVerifier(TrustStore(
            [gov.root.cert], [gov.issuing.cert], is_crl_required=True, fetcher=Fetcher(),
            store=EvidenceStore(tmp_path)))
        for verifier in (without, cached):
            result = verifier.verify(pdf)
            assert [s.verdict for s in result.signatures] == [DocumentVerdict.VALID] * 2
        fetched = len(web.hits)
        plain_ms, revocation_ms = _medians_ms(lambda: without.verify(pdf),
                                              lambda: cached.verify(pdf))
        assert len(web.hits) == fetched  # every round used the cache
    finally:
        web.stop()
    print(f"\n1 MB PDF, person + organisation: {plain_ms:.1f} ms without revocation, "
          f"{revocation_ms:.1f} ms with revocation from a cached CRL "
          f"({revocation_ms / plain_ms:.2f}x; target at most 1.2x)")
