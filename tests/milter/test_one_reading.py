"""One reading of the header, on odd input: DKIM (signing and verifying), the audit
record, the attachment policies and the From reader take the same fields from
mailbase's read_header, and where the block reads two ways they all name the same
defect; none of them reads the bytes another way and decides on that."""

from __future__ import annotations

from pathlib import Path

import dkim
import pytest

from mailbase import read_from, read_header
from milter.recording import header_fields
from policies import Action, PoliciesConfig, decide, read_parts
from policies.walk import walk
from signer import DkimSigner, DkimVerifier, UnsignableMessageError
from signer.dkim import load_signing_key
from signer.keys import Algorithm
from support.dkim import make_key

DOMAIN = "sotc.example.gov.vn"
NOW = 1_795_000_000
CLEAN = (b"From: Van thu <vanthu@sotc.example.gov.vn>\r\n"
         b"To: ubnd@example.gov.vn\r\n"
         b"Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?= 12\r\n"
         b"Date: Thu, 26 Nov 2026 09:00:00 +0700\r\n"
         b"Message-ID: <12.stc@sotc.example.gov.vn>\r\n"
         b"\r\n"
         b"Kinh gui UBND tinh.\r\n")

# Odd, but read one way by every reader: signed, verified and recorded alike.
READABLE = {
    "bare LF": CLEAN.replace(b"\r\n", b"\n"),
    "folded with an empty continuation line (obs-FWS)": CLEAN.replace(
        b"Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?= 12\r\n",
        b"Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n \r\n 12\r\n"),
}

# Read two ways: (what is added to a signed message, the defect every reader names).
AMBIGUOUS = {
    "a first line that is a continuation": (b" orphan: folded\r\n", True, "line 1 continues"),
    "a line with no colon": (b"no colon here\r\n", False, "is not a header field"),
    "a NUL": (b"X-Note: a\0b\r\n", False, "holds a NUL octet"),
    "a bare CR": (b"X-Note: a\rFrom: boss@example.org\r\n", False, "holds a bare CR"),
}


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    key = make_key(tmp_path_factory.mktemp("keys"), "rsa2026", Algorithm.RSA_SHA256)
    return {f"{key.selector}._domainkey.{DOMAIN}": key.record.encode(),
            "key": str(key.path).encode()}


@pytest.fixture(scope="module")
def signing(records: dict[str, bytes]) -> tuple[DkimSigner, DkimVerifier]:
    signer = DkimSigner([load_signing_key(DOMAIN, "rsa2026", Path(records["key"].decode()))],
                        clock=lambda: NOW)
    verifier = DkimVerifier(lambda name: [records[name]] if name in records else [],
                            clock=lambda: NOW)
    return signer, verifier


@pytest.mark.parametrize("raw", READABLE.values(), ids=READABLE.keys())
def test_odd_but_readable_input_is_signed_verified_and_recorded_as_read(
    raw: bytes, signing: tuple[DkimSigner, DkimVerifier], records: dict[str, bytes]
) -> None:
    signer, verifier = signing
    door = read_header(raw)
    assert door.defects == ()
    signed = signer.sign(raw, domain=DOMAIN, header=door) + raw
    [result] = verifier.verify(signed)
    assert result.result.value == "pass"
    # dkimpy, another reader of the same bytes, agrees
    assert dkim.DKIM(signed).verify(
        dnsfunc=lambda name, timeout=5: records.get(name.decode().rstrip("."), b""))
    fields = header_fields(door)
    assert fields["Subject"] == door.first(b"subject").text  # type: ignore[union-attr]
    assert fields["Subject"] is not None and fields["Subject"].startswith("Công văn")
    assert fields["From"] == "Van thu <vanthu@sotc.example.gov.vn>"
    assert read_from(door).addr_spec == "vanthu@sotc.example.gov.vn"
    assert not [d for _, d in walk(raw, header=door).defects]


@pytest.mark.parametrize(("added", "at_start", "words"), AMBIGUOUS.values(),
                         ids=AMBIGUOUS.keys())
def test_a_block_that_reads_two_ways_is_named_alike_by_every_reader(
    added: bytes, at_start: bool, words: str, signing: tuple[DkimSigner, DkimVerifier]
) -> None:
    signer, verifier = signing
    signed = signer.sign(CLEAN, domain=DOMAIN) + CLEAN
    head, _, body = signed.partition(b"\r\n\r\n")
    raw = (added + head + b"\r\n" if at_start else head + b"\r\n" + added) + b"\r\n" + body
    door = read_header(raw)
    defect = str(door.defects[0])
    assert words in defect
    # DKIM: not signed, and a signature over it does not pass
    with pytest.raises(UnsignableMessageError, match=f"malformed: {defect}"):
        signer.sign(raw, domain=DOMAIN, header=door)
    [result] = verifier.verify(raw, header=door)
    assert (result.result.value, result.reason) == (
        "permerror", f"malformed header section: {defect}")
    # identity: the From is ambiguous, for the same reason
    assert read_from(door).ambiguity == f"the header block is malformed: {defect}"
    # the record: the fields the door read, nothing else
    assert header_fields(door)["From"] == "Van thu <vanthu@sotc.example.gov.vn>"
    # the policies: malformed MIME (quarantined by default), from the same block
    policy = PoliciesConfig().resolve([], "inbound")
    decision = decide(raw, policy, parts=read_parts(
        raw, walk_limits=policy.walk_limits, archive_limits=policy.archive_limits, header=door))
    assert decision.action is Action.QUARANTINE
    assert any(v.rule == "malformed-mime" for v in decision.violations)
