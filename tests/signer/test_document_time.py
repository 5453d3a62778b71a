"""The seven-hour quirk: signing tools that write local time (UTC+7) as UTC.

pyHanko takes the signingTime it writes from its own clock; the tests set that clock
ahead (its module's ``datetime``, a library's, not ours) to write what such a tool
writes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyhanko.sign.signers import pdf_signer

from signer.documents import DocumentVerdict, DocumentVerifier, TimeSource
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import GovPki


def signed_with_clock_ahead(gov: GovPki, monkeypatch: pytest.MonkeyPatch,
                            ahead: dt.timedelta, address: str) -> tuple[bytes, dt.datetime]:
    real = dt.datetime

    class Ahead(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> Ahead:  # type: ignore[override]
            return real.now(tz) + ahead  # type: ignore[return-value]

    with monkeypatch.context() as patch:
        patch.setattr(pdf_signer, "datetime", Ahead)
        claimed = real.now(dt.UTC) + ahead
        return sign_pdf(plain_pdf(), gov.issue(address)), claimed


def verifier(gov: GovPki, store: Path) -> DocumentVerifier:
    return DocumentVerifier(TrustStore([gov.root.cert], [gov.issuing.cert],
                                       is_crl_required=True, fetcher=Fetcher(),
                                       store=EvidenceStore(store)))


def test_a_claimed_time_seven_hours_ahead_is_judged_seven_hours_earlier(
        gov: GovPki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data, claimed = signed_with_clock_ahead(gov, monkeypatch, dt.timedelta(hours=7),
                                            "cb40@laocai.gov.vn")
    sig = verifier(gov, tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.time_source is TimeSource.CLAIMED and sig.signing_time is not None
    assert abs(sig.signing_time - (claimed - dt.timedelta(hours=7))) < dt.timedelta(minutes=1)
    assert any("local time (UTC+7)" in note for note in sig.notes), sig.notes


def test_a_claimed_time_further_ahead_is_not_the_quirk(
        gov: GovPki, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data, _ = signed_with_clock_ahead(gov, monkeypatch, dt.timedelta(hours=7, minutes=30),
                                      "cb41@laocai.gov.vn")
    sig = verifier(gov, tmp_path).verify(data).signatures[0]
    assert sig.time_source is TimeSource.NONE
    assert any("is in the future" in note for note in sig.notes), sig.notes
    assert not any("UTC+7" in note for note in sig.notes)
