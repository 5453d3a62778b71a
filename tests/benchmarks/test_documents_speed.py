"""Signed-document verification speed, and what the stage adds to a message.

Targets: the documents stage adds under 1 ms to a message without documents, and under
50 ms for a message with a 1 MB signed PDF. The documents and policy stages share one
walk of the message's parts (``ctx.parts``): both together cost less than the two
apart. Run with ``make bench`` or
``.venv/bin/python -m pytest -q -s tests/benchmarks/test_documents_speed.py``.
Figures are printed, never asserted against a clock.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from email.message import EmailMessage

from mailbase import read_header
from milter.config import Direction, Role
from milter.context import Envelope, MessageContext, Xforward
from milter.stages.documents import DocumentsStage
from milter.stages.policy import PolicyStage
from policies import PoliciesConfig
from signer.documents import DocumentVerifier
from support.documents import plain_pdf, sign_pdf, zip_of
from support.smime import cast


def _median_ms(action: Callable[[], object], *, rounds: int = 15) -> float:
    action()  # warm up (imports, caches)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _message(attachments: dict[str, bytes], text: int = 8 * 1024) -> bytes:
    msg = EmailMessage()
    msg["From"] = "van-thu@so-tc.province.gov.vn"
    msg["To"] = "van-thu@so-yt.province.gov.vn"
    msg["Subject"] = "Cong van so 123"
    msg.set_content(("Kinh gui So Y te. " * (text // 18 + 1))[:text])
    for name, data in attachments.items():
        msg.add_attachment(data, maintype="application", subtype="octet-stream",
                           filename=name)
    return msg.as_bytes()


def _ctx(raw: bytes) -> MessageContext:
    return MessageContext(
        listener="submission", role=Role.OUTBOUND, direction=Direction.OUTBOUND,
        peer=("127.0.0.1", 4000), helo="client", xforward=Xforward(),
        envelope=Envelope("van-thu@so-tc.province.gov.vn", (),
                          ("van-thu@so-yt.province.gov.vn",)),
        original_content=raw, header=read_header(raw))


def test_verification_time_1mb_and_20mb() -> None:
    verifier = DocumentVerifier(cast().trust())
    for size in (1, 20):
        pdf = sign_pdf(plain_pdf(padding=size * 1024 * 1024), cast().alice)
        assert verifier.verify(pdf).is_validly_signed
        ms = _median_ms(lambda pdf=pdf: verifier.verify(pdf), rounds=7 if size > 1 else 15)
        print(f"\nverify a {len(pdf) / 1e6:.1f} MB signed PDF: {ms:.1f} ms (median)")
    unsigned = plain_pdf(padding=20 * 1024 * 1024)
    ms = _median_ms(lambda: verifier.verify(unsigned))
    print(f"a {len(unsigned) / 1e6:.1f} MB unsigned PDF: {ms:.2f} ms (the /ByteRange scan)")


def test_stage_added_time() -> None:
    stage = DocumentsStage(DocumentVerifier(cast().trust()))
    cases = {
        "10 KB text, no attachment": _message({}),
        "10 KB text + a 20 KB .txt attachment": _message({"notes.txt": b"x" * 20_000}),
        "a 1 MB signed PDF": _message({"cv.pdf": sign_pdf(
            plain_pdf(padding=1024 * 1024), cast().alice)}),
    }
    loop = asyncio.new_event_loop()
    try:
        for name, raw in cases.items():
            ms = _median_ms(lambda raw=raw: loop.run_until_complete(stage.run(_ctx(raw))),
                            rounds=31)
            print(f"\ndocuments stage, {name} ({len(raw) / 1e3:.0f} KB message): {ms:.3f} ms")
    finally:
        loop.close()


def test_documents_and_policy_stages_share_one_walk() -> None:
    """Each stage alone on a fresh message, then both on one (the second reuses the
    first's walk, detection and archive listing)."""
    documents = DocumentsStage(DocumentVerifier(cast().trust()))
    policy = PolicyStage(PoliciesConfig(), lambda unit: [])
    pdf = plain_pdf(padding=6 * 1024)
    cases = {
        "a 10 KB unsigned PDF": _message({"cv.pdf": pdf}, text=1024),
        "a zip of 200 PDFs": _message({"ho-so.zip": zip_of(
            {f"cv-{k}.pdf": pdf + str(k).encode() for k in range(200)})}, text=1024),
    }
    loop = asyncio.new_event_loop()

    def both(raw: bytes) -> None:
        ctx = _ctx(raw)
        loop.run_until_complete(documents.run(ctx))
        loop.run_until_complete(policy.run(ctx))

    try:
        for name, raw in cases.items():
            alone_d = _median_ms(lambda raw=raw: loop.run_until_complete(
                documents.run(_ctx(raw))), rounds=31)
            alone_p = _median_ms(lambda raw=raw: loop.run_until_complete(
                policy.run(_ctx(raw))), rounds=31)
            together = _median_ms(lambda raw=raw: both(raw), rounds=31)
            print(f"\ndocuments + policy stages, {name} ({len(raw) / 1e3:.0f} KB): documents "
                  f"{alone_d:.2f} ms, policy {alone_p:.2f} ms, both on one message "
                  f"{together:.2f} ms ({together / (alone_d + alone_p):.2f} of the sum)")
    finally:
        loop.close()
