"""PDF signatures: verdicts for documents signed by the test fixtures with pyHanko."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from signer.documents import (
    DocumentKind,
    DocumentResult,
    DocumentVerdict,
    DocumentVerifier,
    TimeSource,
)
from signer.documents.pdf import PdfLimits
from support.documents import (
    alter_page,
    encrypted_pdf,
    flip_in_first_revision,
    garble_contents,
    plain_pdf,
    sign_pdf,
    sign_pdf_sha1_form,
    timestamper,
)
from support.pki import TestPki
from support.smime import cast


@functools.cache
def _verifier() -> DocumentVerifier:
    return DocumentVerifier(cast().trust())


@functools.cache
def _signed() -> bytes:
    return sign_pdf(plain_pdf(), cast().alice)


def verify(data: bytes, name: str = "doc.pdf") -> DocumentResult:
    return _verifier().verify(data, name)


def only(result: DocumentResult) -> tuple[DocumentVerdict, str]:
    assert len(result.signatures) == 1, result
    return result.signatures[0].verdict, result.signatures[0].reason


def test_valid_pades_signature_reports_signer_organisation_and_time() -> None:
    result = verify(_signed())
    assert result.kind is DocumentKind.PDF
    assert result.verdict == "valid" and result.is_validly_signed
    sig = result.signatures[0]
    assert sig.verdict is DocumentVerdict.VALID
    assert sig.signer == "alice@so-tc.province.gov.vn"
    assert sig.organisation == "UBND tinh"
    assert sig.format == "pades" and sig.field == "Signature1"
    assert sig.coverage == "entire-file" and sig.modification_level == "none"
    assert sig.time_source is TimeSource.CLAIMED
    assert "signer claims" in sig.reason
    assert sig.signing_time is not None
    assert abs(sig.signing_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10)
    assert sig.chain[-1].startswith("CN=Test Root CA")


def test_a_sha1_digest_fails_with_a_reason_naming_it() -> None:
    data = sign_pdf(plain_pdf(), cast().alice, subfilter="adbe.pkcs7.detached", digest="sha1")
    sig = verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.INVALID
    assert "SHA-1, a weak digest algorithm" in sig.reason
    assert sig.format == "adbe.pkcs7.detached" and sig.digest_algorithm == "sha1"


def test_adbe_pkcs7_sha1_form_is_read_and_refused_for_its_digest() -> None:
    data = sign_pdf_sha1_form(plain_pdf(), cast().alice)
    sig = verify(data).signatures[0]
    assert (sig.verdict, sig.format) == (DocumentVerdict.INVALID, "adbe.pkcs7.sha1")
    assert "SHA-1, a weak digest" in sig.reason  # intact: only the digest is wrong
    broken = flip_in_first_revision(data, b"trang 1", b"trang 5")
    assert "do not match" in verify(broken).signatures[0].reason


def test_unsigned_pdf_has_no_signatures() -> None:
    result = verify(plain_pdf())
    assert result.kind is DocumentKind.PDF and result.signatures == ()
    assert result.verdict == "unsigned" and not result.is_signed


def test_page_changed_after_signing_is_modified() -> None:
    verdict, reason = only(verify(alter_page(_signed())))
    assert verdict is DocumentVerdict.MODIFIED
    assert reason.startswith("the document was changed after signing")


def test_later_signature_is_not_a_modification_of_the_first() -> None:
    both = sign_pdf(_signed(), cast().bob, field="Signature2")
    first, second = verify(both).signatures
    assert (first.verdict, first.modification_level) == (DocumentVerdict.VALID, "form-filling")
    assert first.coverage == "entire-revision"
    assert (second.verdict, second.signer) == (DocumentVerdict.VALID, "bob@so-tc.province.gov.vn")


def test_two_signatures_one_broken() -> None:
    broken = flip_in_first_revision(_signed(), b"trang 1", b"trang 9")
    data = sign_pdf(broken, cast().bob, field="Signature2")
    result = verify(data)
    first, second = result.signatures
    assert first.verdict is DocumentVerdict.INVALID
    assert "do not match" in first.reason
    assert second.verdict is DocumentVerdict.VALID
    assert result.is_validly_signed and result.verdict == "valid"


def test_untrusted_ca() -> None:
    verdict, reason = only(verify(sign_pdf(plain_pdf(), cast().unchained)))
    assert verdict is DocumentVerdict.UNTRUSTED
    assert "no valid path to a trust anchor" in reason


def test_expired_signer_at_claimed_time() -> None:
    verdict, reason = only(verify(sign_pdf(plain_pdf(), cast().expired)))
    assert verdict is DocumentVerdict.EXPIRED
    assert "expired on" in reason and "signer claims" in reason


def test_revoked_signer_from_the_configured_crl() -> None:
    verdict, reason = only(verify(sign_pdf(plain_pdf(), cast().revoked)))
    assert verdict is DocumentVerdict.REVOKED
    assert "was revoked on" in reason


def test_no_trust_anchors_is_untrusted() -> None:
    from signer.trust import TrustStore

    result = DocumentVerifier(TrustStore(anchors=[])).verify(_signed())
    assert result.signatures[0].verdict is DocumentVerdict.UNTRUSTED


def test_trusted_timestamp_sets_the_signing_time() -> None:
    c = cast()
    tsa = c.pki.issue(common_name="Test TSA", eku=(ExtendedKeyUsageOID.TIME_STAMPING,))
    sig = verify(sign_pdf(plain_pdf(), c.alice, tsa=timestamper(tsa))).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID
    assert sig.time_source is TimeSource.TIMESTAMP
    assert "timestamped signing time" in sig.reason


def test_expired_signer_with_a_timestamp_from_its_validity_is_valid() -> None:
    from signer.trust import TrustStore

    now = dt.datetime.now(dt.UTC)
    old = TestPki.create(now=now - dt.timedelta(days=100))
    signer = old.issue("old@so-tc.province.gov.vn", not_after=now - dt.timedelta(days=10))
    tsa = old.issue(common_name="Test TSA", eku=(ExtendedKeyUsageOID.TIME_STAMPING,))
    when = now - dt.timedelta(days=50)
    data = sign_pdf(plain_pdf(), signer, tsa=timestamper(tsa, at=when))
    sig = DocumentVerifier(TrustStore([old.root.cert])).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.time_source is TimeSource.TIMESTAMP
    assert sig.signing_time is not None and abs(sig.signing_time - when) < dt.timedelta(seconds=1)
    assert any("expired" in note for note in sig.notes)
    # without the timestamp the same signer is judged at the claimed time (now): expired
    plain = DocumentVerifier(TrustStore([old.root.cert])).verify(
        sign_pdf(plain_pdf(), signer)).signatures[0]
    assert plain.verdict is DocumentVerdict.EXPIRED


def test_timestamp_by_an_untrusted_authority_falls_back_to_the_claimed_time() -> None:
    c = cast()
    stranger = TestPki.create().issue(common_name="Rogue TSA",
                                      eku=(ExtendedKeyUsageOID.TIME_STAMPING,))
    sig = verify(sign_pdf(plain_pdf(), c.alice, tsa=timestamper(stranger))).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID
    assert sig.time_source is TimeSource.CLAIMED
    assert any("timestamp is not usable" in note for note in sig.notes)


# --- bad input: each a defined verdict, fast ---------------------------------------

@pytest.mark.parametrize("keep", [-5, -300, "after-byterange"])
def test_truncated_signed_pdf_is_unverifiable(keep: int | str) -> None:
    data = _signed()
    end = data.index(b"/ByteRange") + 40 if keep == "after-byterange" else int(keep)
    data = data[:end]
    verdict, reason = only(verify(data))
    assert verdict is DocumentVerdict.UNVERIFIABLE
    assert reason.startswith("the PDF cannot be read")


def test_truncated_before_any_signature_is_unsigned() -> None:
    data = _signed()
    result = verify(data[: data.index(b"/ByteRange")])
    assert result.signatures == () and result.verdict == "unsigned"


def test_broken_cross_reference_is_unverifiable() -> None:
    data = _signed().replace(b"startxref", b"startxrex")
    verdict, reason = only(verify(data))
    assert verdict is DocumentVerdict.UNVERIFIABLE and "cannot be read" in reason


def test_garbage_signature_contents_is_unverifiable() -> None:
    verdict, reason = only(verify(garble_contents(_signed())))
    assert verdict is DocumentVerdict.UNVERIFIABLE
    assert reason.startswith("the signature cannot be read")


def test_encrypted_pdf_with_a_password_is_unverifiable_when_it_may_be_signed() -> None:
    # pyHanko's AES-256 files carry a /ByteRange for their PDF MAC: "may be signed"
    verdict, reason = only(verify(encrypted_pdf()))
    assert verdict is DocumentVerdict.UNVERIFIABLE and "encrypted" in reason


def test_document_over_the_size_limit_is_unverifiable() -> None:
    small = DocumentVerifier(cast().trust(), max_size=4096)
    result = small.verify(_signed())
    verdict, reason = only(result)
    assert verdict is DocumentVerdict.UNVERIFIABLE and "larger than" in reason


def test_too_many_revisions_is_unverifiable() -> None:
    limited = DocumentVerifier(cast().trust(), limits=PdfLimits(max_revisions=1))
    both = sign_pdf(_signed(), cast().bob, field="Signature2")
    verdict, reason = only(limited.verify(both))
    assert verdict is DocumentVerdict.UNVERIFIABLE and "revisions" in reason


def test_looping_certificate_chain_is_unverifiable() -> None:
    from support.pki import Issued, _ca_cert, _name, new_key

    c = cast()
    key_a, key_b = new_key(), new_key()
    now = c.pki.now
    name_a, name_b = _name("Loop CA A"), _name("Loop CA B")
    span = {"not_before": now - dt.timedelta(days=1), "not_after": now + dt.timedelta(days=30)}
    a = _ca_cert(name_a, key_a, name_b, key_b, serial=77, path_length=3, **span)
    b = _ca_cert(name_b, key_b, name_a, key_a, serial=78, path_length=3, **span)
    signer = c.pki.issue("loop@so-tc.province.gov.vn", issuer=Issued(a, key_a))
    data = sign_pdf(plain_pdf(), signer, extra_certs=(b,))
    verdict, reason = only(verify(data))
    assert verdict is DocumentVerdict.UNVERIFIABLE
    assert "loops" in reason and "Loop CA A" in reason


def test_not_a_document_returns_at_once() -> None:
    result = verify(b"GIF89a" + b"\0" * 100, "picture.gif")
    assert result.kind is DocumentKind.NONE and result.verdict == "none"
    assert result.as_dict()["filename"] == "picture.gif"


def test_mutated_documents_always_get_a_defined_verdict() -> None:
    import random

    from support.documents import docx

    rng = random.Random(11)
    seeds = [_signed(), sign_pdf(_signed(), cast().bob, field="Signature2"),
             docx(cast().alice)]
    verdicts = {v.value for v in DocumentVerdict}
    for _ in range(120):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            kind = rng.random()
            at = rng.randrange(len(data))
            if kind < 0.5:
                data[at] = rng.randrange(256)
            elif kind < 0.8:
                del data[at:at + rng.randint(1, 400)]
            else:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 50)))
        result = verify(bytes(data))
        assert all(s.verdict.value in verdicts and s.reason for s in result.signatures)
