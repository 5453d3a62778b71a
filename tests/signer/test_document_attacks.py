"""What the record says when someone tries: an issuing CA that chains two ways, a revoked
organisation seal, a unit's name or address claimed by a certificate the directory
does not list or no trusted CA issued.

Signatures come from the look-alike government PKI (support/govpki.py) on a CA web
server on loopback; roles from a real directory store (as in test_document_role.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from directory import Directory, DirectoryIndex
from signer.documents import DocumentResult, DocumentVerdict, DocumentVerifier
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import CaWebServer, GovPki
from support.pki import Issued, TestPki

D = "laocai.gov.vn"
UNITS = ("id,name,short_name,parent,address,aliases,active,document_certificates\n"
         f"ubnd-tinh,Ủy ban nhân dân tỉnh Lào Cai,UBND tỉnh,,ubnd@{D},vanthu@{D},,\n"
         f"so-tai-chinh,Sở Tài chính,STC,ubnd-tinh,stc@{D},,,\n")
ROSTER = f"unit,address,full_name\nso-tai-chinh,nguyen.van.b@{D},Nguyễn Văn B\n"


@pytest.fixture
def index(tmp_path: Path) -> Iterator[DirectoryIndex]:
    store = Directory.open(tmp_path / "directory.sqlite3")
    store.import_csv(UNITS, actor="test")
    store.import_mailboxes(ROSTER, actor="test")
    found = DirectoryIndex(store)
    yield found
    found.close()


def verify(gov: GovPki, store: Path, data: bytes, index: DirectoryIndex | None = None, *,
           intermediates: tuple[x509.Certificate, ...] = ()) -> DocumentResult:
    trust = TrustStore([gov.root.cert], list(intermediates), is_crl_required=True,
                       fetcher=Fetcher(), store=EvidenceStore(store))
    return DocumentVerifier(trust, directory=index).verify(data, "cv.pdf")


def cross_certificate(ca: Issued, other_root: Issued) -> x509.Certificate:
    """``ca``'s name and key certified again, by ``other_root``."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(ca.cert.subject).issuer_name(other_root.cert.subject)
        .public_key(ca.cert.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value,
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca.cert.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            other_root.cert.public_key()), critical=False)  # type: ignore[arg-type]
        .sign(other_root.key, hashes.SHA256())  # type: ignore[arg-type]
    )


def test_an_issuing_ca_that_chains_two_ways_is_judged_on_the_trusted_path(
        gov: GovPki, tmp_path: Path) -> None:
    other = TestPki.create().root
    # the signature carries the issuing CA certified by a root nobody here trusts
    person = gov.issue(f"nguyen.van.b@{D}", common_name="Nguyễn Văn B")
    carried = Issued(person.cert, person.key, (cross_certificate(gov.issuing, other),))
    sig = verify(gov, tmp_path, sign_pdf(plain_pdf(), carried)).signatures[0]
    # the caIssuers URL still gives the certificate under the trusted root
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.chain[-1] == gov.root.cert.subject.rfc4514_string()
    assert sig.revocation is not None and sig.revocation.status.value == "good"


def test_a_revoked_organisation_seal_is_nobodys_and_the_file_not_complete(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path, index: DirectoryIndex) -> None:
    path = "/crl/attack-seal.crl"
    person = gov.issue(f"nguyen.van.b@{D}", common_name="Nguyễn Văn B",
                       crl_url=ca_web.url(path))
    seal = gov.issue(f"vanthu@{D}", common_name="Ủy ban nhân dân tỉnh Lào Cai",
                     crl_url=ca_web.url(path))
    gov.revoked[seal.cert.serial_number] = gov.now - dt.timedelta(hours=3)
    ca_web.routes[path] = gov.crl().public_bytes(serialization.Encoding.DER)
    data = sign_pdf(sign_pdf(plain_pdf(), person, field="S1"), seal, field="S2")
    result = verify(gov, tmp_path, data, index, intermediates=(gov.issuing.cert,))
    first, second = result.signatures
    assert (first.verdict, first.role, first.unit) == (
        DocumentVerdict.VALID, "person", "so-tai-chinh")
    assert (second.verdict, second.role, second.unit) == (DocumentVerdict.REVOKED,
                                                          "unknown", None)
    assert result.is_complete is False
    out = result.as_json()
    assert out["complete"] is False
    assert out["signatures"][1]["revocation"]["status"] == "revoked"  # type: ignore[index]


def test_a_units_address_from_a_ca_nobody_trusts_is_nobodys(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path, index: DirectoryIndex) -> None:
    forger = GovPki.create(ca_web, slug="attackforger", root_name=gov.root.cert.subject,
                           issuing_name=gov.issuing.cert.subject)
    person = gov.issue(f"nguyen.van.b@{D}", common_name="Nguyễn Văn B")
    fake_seal = forger.issue(f"vanthu@{D}", common_name="Ủy ban nhân dân tỉnh Lào Cai")
    data = sign_pdf(sign_pdf(plain_pdf(), person, field="S1"), fake_seal, field="S2")
    result = verify(gov, tmp_path, data, index, intermediates=(gov.issuing.cert,))
    seal = result.signatures[1]
    assert seal.verdict is DocumentVerdict.UNTRUSTED, seal.reason
    assert (seal.role, seal.unit, result.is_complete) == ("unknown", None, False)
