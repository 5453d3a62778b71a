"""OOXML and ODF packages: XML signatures detected, signer reported, chain checked."""

from __future__ import annotations

from signer.documents import DocumentKind, DocumentVerdict, DocumentVerifier, TimeSource
from support.documents import docx, odt, zip_of
from support.smime import cast


def verifier() -> DocumentVerifier:
    return DocumentVerifier(cast().trust())


def test_signed_docx_reports_the_signer() -> None:
    result = verifier().verify(docx(cast().alice), "to-trinh.docx")
    assert result.kind is DocumentKind.OOXML
    (sig,) = result.signatures
    assert sig.format == "ooxml-xmldsig"
    assert sig.field == "_xmlsignatures/sig1.xml#idPackageSignature"
    assert (sig.signer, sig.organisation) == ("alice@so-tc.province.gov.vn", "UBND tinh")
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert "integrity is not verified" in sig.reason and "chained to CN=Test Root" in sig.reason
    assert sig.time_source is TimeSource.CLAIMED
    assert result.is_signed and not result.is_validly_signed


def test_signed_odt_reports_the_signer() -> None:
    result = verifier().verify(odt(cast().bob), "quyet-dinh.odt")
    assert result.kind is DocumentKind.ODF
    (sig,) = result.signatures
    assert sig.format == "odf-xmldsig" and sig.signer == "bob@so-tc.province.gov.vn"


def test_office_signer_from_an_untrusted_ca_is_untrusted() -> None:
    (sig,) = verifier().verify(docx(cast().unchained)).signatures
    assert sig.verdict is DocumentVerdict.UNTRUSTED


def test_office_signer_revoked_is_revoked() -> None:
    (sig,) = verifier().verify(odt(cast().revoked)).signatures
    assert sig.verdict is DocumentVerdict.REVOKED


def test_unsigned_office_documents() -> None:
    for data, kind in ((docx(), DocumentKind.OOXML), (odt(), DocumentKind.ODF)):
        result = verifier().verify(data)
        assert (result.kind, result.signatures, result.verdict) == (kind, (), "unsigned")


def test_plain_zip_is_not_a_document() -> None:
    result = verifier().verify(zip_of({"a.txt": b"hello"}), "a.zip")
    assert result.kind is DocumentKind.NONE and result.signatures == ()


def test_broken_signature_parts_are_unverifiable() -> None:
    base = {"[Content_Types].xml": b"<Types/>"}
    cases = {
        b"<Signature": "not well-formed",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>': "DTD",
        b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><KeyInfo><X509Data>'
        b"<X509Certificate>bm90IGEgY2VydA==</X509Certificate></X509Data></KeyInfo>"
        b"</Signature>": "no readable certificate",
    }
    for xml, why in cases.items():
        data = zip_of({**base, "_xmlsignatures/sig1.xml": xml})
        (sig,) = verifier().verify(data).signatures
        assert sig.verdict is DocumentVerdict.UNVERIFIABLE and why in sig.reason


def test_truncated_zip_is_not_a_document() -> None:
    data = docx(cast().alice)
    result = verifier().verify(data[: len(data) // 2])
    assert result.kind is DocumentKind.NONE and "not a readable package" in result.reason
