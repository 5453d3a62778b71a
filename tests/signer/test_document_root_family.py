"""The family of a valid document signature's trust anchor (gov, public, other), as
the audit record keeps it for the report's documents_valid_gov/_public/_other."""

from __future__ import annotations

import pytest

from signer.documents import DocumentVerifier
from signer.documents.result import DocumentSignature, DocumentVerdict, RootFamily, root_family
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.pki import TestPki
from support.usage import pki_under


@pytest.mark.parametrize(("subject", "family"), [
    ("CN=Cơ quan chứng thực số chuyên dùng Chính phủ,O=Ban Cơ yếu Chính phủ,C=VN",
     RootFamily.GOV),
    ("C=VN,O=BAN CO YEU CHINH PHU,CN=Root", RootFamily.GOV),  # folded: case, diacritics
    ("CN=Root,O=Government Cipher Committee,C=VN", RootFamily.GOV),
    ("CN=Vietnam National Root CA,O=Ministry of Information and Communications,C=VN",
     RootFamily.PUBLIC),
    ("CN=Test Root CA,O=UBND tinh,C=VN", RootFamily.OTHER),
    # an escaped comma keeps the name inside one value: not the organisation
    ("CN=Fake\\,O=Ban Cơ yếu Chính phủ,C=VN", RootFamily.OTHER),
    ("CN=Ban Cơ yếu Chính phủ,C=VN", RootFamily.OTHER),  # the name, but not as O=
])
def test_an_anchor_subject_names_its_family(subject: str, family: RootFamily) -> None:
    assert root_family(subject) is family


def test_only_a_valid_signature_has_a_family() -> None:
    chain = ("CN=Nguyễn Văn A", "CN=Root,O=Ban Cơ yếu Chính phủ")
    valid = DocumentSignature(DocumentVerdict.VALID, "ok", chain=chain)
    assert valid.root_family is RootFamily.GOV and valid.as_dict()["root_family"] == "gov"
    untrusted = DocumentSignature(DocumentVerdict.UNTRUSTED, "no path", chain=chain)
    assert untrusted.root_family is None and untrusted.as_dict()["root_family"] is None


@pytest.mark.parametrize(("root", "organisation", "family"), [
    ("Cơ quan chứng thực số chuyên dùng Chính phủ", "Ban Cơ yếu Chính phủ", "gov"),
    ("Vietnam National Root CA", "Ministry of Information and Communications", "public"),
    ("Test Root CA", "UBND tinh", "other"),
])
def test_a_signed_pdf_records_the_family_of_the_anchor_it_chains_to(
        root: str, organisation: str, family: str) -> None:
    pki = pki_under(root, organisation)
    signed = sign_pdf(plain_pdf(), pki.issue("nguyen.van.a@stc.province.gov.vn"))
    result = DocumentVerifier(TrustStore(anchors=[pki.root.cert])).verify(signed, "cv.pdf")
    assert result.verdict == "valid"
    assert [s["root_family"] for s in result.as_dict()["signatures"]] == [family]
    # the same document judged against another root is untrusted: no family
    other = DocumentVerifier(TrustStore(anchors=[TestPki.create().root.cert]))
    assert [s.root_family for s in other.verify(signed, "cv.pdf").signatures] == [None]
