"""Leaf-only chains, CA certificates trusted by their bytes, and the trust presets.

The real public CA certificates of the presets are the ones the package ships
(signer/pki/) and one public CA under the national root (tests/data/pki-vn/); the
signatures come from the look-alike PKI (support/govpki.py) on a CA web server on
loopback.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from signer.cli.document import document_group
from signer.config import SignerConfig
from signer.documents import DocumentsConfig, DocumentVerdict, DocumentVerifier
from signer.errors import CertificateFileError
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.presets import MEMBERS, TrustPreset, fingerprint, load_presets
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import GOV_POLICY, CaWebServer, GovPki, closed_port_url, sha1_resigned
from support.pki import Issued

SHIPPED = Path(__file__).resolve().parents[2] / "signer" / "pki"
NATIONAL_CA = Path(__file__).resolve().parents[1] / "data" / "pki-vn" / "vnpt-ca-sha2.crt"
PEM = serialization.Encoding.PEM


@pytest.fixture(scope="module")
def g1(ca_web: CaWebServer) -> GovPki:
    """A G1-like generation: root and issuing CA certificates signed with SHA-1."""
    return GovPki.create(ca_web, slug="g1", is_sha1=True)


def verifier(anchors: list[x509.Certificate], store: Path,
             intermediates: list[x509.Certificate] | None = None, *,
             is_fetching: bool = True) -> DocumentVerifier:
    return DocumentVerifier(TrustStore(anchors, intermediates or [], is_crl_required=True,
                                       fetcher=Fetcher(is_enabled=is_fetching),
                                       store=EvidenceStore(store)))


def _load(path: Path | None) -> SignerConfig:
    assert path is not None
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


def _config(tmp_path: Path, *, presets: str = '["vgca", "national"]') -> Path:
    path = tmp_path / "congvu.toml"
    path.write_text(f'[signer.documents]\ntrust = {presets}\n'
                    f'store_dir = "{tmp_path / "store"}"\n')
    return path


def test_the_real_g2_certificates_load_and_chain(tmp_path: Path) -> None:
    anchors, missing = load_presets((TrustPreset.VGCA,), tmp_path)
    root, issuing = anchors
    assert issuing.issuer == root.subject and root.issuer == root.subject
    issuing.verify_directly_issued_by(root)
    assert issuing.extensions.get_extension_for_class(
        x509.BasicConstraints).value.path_length == 0
    policies = issuing.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [GOV_POLICY]
    assert {fingerprint(c) for c in anchors} == {m.sha256 for m in MEMBERS if m.shipped
                                                and m.preset is TrustPreset.VGCA}
    # the G1 generation and the Party bodies' CA come from `trust fetch` or `trust add`
    assert len(missing) == 3 and all(m.shipped is None for m in missing)


def test_a_public_ca_chains_to_the_shipped_national_root(tmp_path: Path) -> None:
    (national,), missing = load_presets((TrustPreset.NATIONAL,), tmp_path)
    assert missing == []
    vnpt = x509.load_pem_x509_certificate(NATIONAL_CA.read_bytes())
    vnpt.verify_directly_issued_by(national)


def test_a_leaf_only_signature_chains_through_the_ca_issuers_url(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    person = gov.issue("cb20@laocai.gov.vn")
    data = sign_pdf(plain_pdf(), person)
    sig = verifier([gov.root.cert], tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.chain == tuple(c.subject.rfc4514_string() for c in (
        person.cert, gov.issuing.cert, gov.root.cert))
    assert f"/crt/cp{gov.slug}.crt" in ca_web.hits
    # the fetched issuer is kept: offline, another verifier on the same store still chains
    again = verifier([gov.root.cert], tmp_path, is_fetching=False).verify(data).signatures[0]
    assert again.verdict is DocumentVerdict.VALID, again.reason


def test_an_unreachable_ca_issuers_url_is_named(gov: GovPki, tmp_path: Path) -> None:
    url = closed_port_url("/crt/gone.crt")
    data = sign_pdf(plain_pdf(), gov.issue("cb21@laocai.gov.vn", ca_issuers_url=url))
    sig = verifier([gov.root.cert], tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.UNTRUSTED
    assert f"the issuer certificate at {url}: not reached" in sig.reason


def test_a_sha1_ca_reached_by_path_building_is_refused_naming_sha1(
        g1: GovPki, tmp_path: Path) -> None:
    data = sign_pdf(plain_pdf(), g1.issue("cb22@laocai.gov.vn"))
    sig = verifier([g1.root.cert], tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.UNTRUSTED
    assert "signed with SHA-1" in sig.reason


def test_a_sha1_ca_trusted_by_its_bytes_does_not_make_its_signers_untrusted(
        g1: GovPki, tmp_path: Path) -> None:
    assert g1.issuing.cert.signature_hash_algorithm is not None
    assert g1.issuing.cert.signature_hash_algorithm.name == "sha1"
    data = sign_pdf(plain_pdf(), g1.issue("cb23@laocai.gov.vn"))
    # the G1-like issuing CA itself configured as trusted
    sig = verifier([g1.issuing.cert], tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.revocation is not None and sig.revocation.status.value == "good"
    # or configured as intermediate under its configured root: trusted by its bytes too
    sig = verifier([g1.root.cert], tmp_path / "2", [g1.issuing.cert]).verify(
        data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason


def test_a_signer_certificate_signed_with_sha1_fails_naming_it(gov: GovPki,
                                                               tmp_path: Path) -> None:
    person = gov.issue("cb24@laocai.gov.vn")
    weak = Issued(sha1_resigned(person.cert, gov.issuing.key), person.key)  # type: ignore[arg-type]
    data = sign_pdf(plain_pdf(), weak)
    sig = verifier([gov.root.cert], tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.UNTRUSTED
    assert "the signer's certificate is signed with SHA-1" in sig.reason


def test_an_unrelated_root_copying_the_real_names_is_untrusted(
        ca_web: CaWebServer, tmp_path: Path) -> None:
    (root, issuing), _ = load_presets((TrustPreset.VGCA,), tmp_path)
    fake = GovPki.create(ca_web, slug="fake", root_name=root.subject,
                         issuing_name=issuing.subject)
    data = sign_pdf(plain_pdf(), fake.issue("cb25@laocai.gov.vn"))
    documents = DocumentsConfig(trust=(TrustPreset.VGCA, TrustPreset.NATIONAL),
                                store_dir=tmp_path)
    sig = DocumentVerifier.from_config(documents).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.UNTRUSTED, sig.reason
    # the same signature under the look-alike's own root is valid: only trust differs
    own = verifier([fake.root.cert], tmp_path / "own").verify(data).signatures[0]
    assert own.verdict is DocumentVerdict.VALID, own.reason


def test_presets_are_validated() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        DocumentsConfig.model_validate({"trust": ["vgca", "vgca"]})
    with pytest.raises(ValidationError, match="vgca"):
        DocumentsConfig.model_validate({"trust": ["gov"]})


def test_trust_add_accepts_only_pinned_certificates(gov: GovPki, tmp_path: Path) -> None:
    config = _config(tmp_path)
    group = document_group(_load)
    ok = CliRunner().invoke(group, ["trust", "add", "--config", str(config),
                                    str(SHIPPED / "cpcag2.crt")])
    assert ok.exit_code == 0 and "shipped in the package" in ok.output
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes((SHIPPED / "rootcag2.crt").read_bytes() + gov.root.cert.public_bytes(PEM))
    refused = CliRunner().invoke(group, ["trust", "add", "--config", str(config), str(bundle)])
    assert refused.exit_code == 2
    assert fingerprint(gov.root.cert) in refused.output and "not a pinned member" in refused.output
    assert not (tmp_path / "store" / "trust").exists()


def test_trust_fetch_installs_nothing_whose_pin_does_not_match(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    config = _config(tmp_path, presets='["vgca"]')
    # a mirror serving a look-alike where the G1 root belongs; the rest is not there
    ca_web.routes["/pki/pub/cert/rootca.crt"] = gov.root.cert.public_bytes(
        serialization.Encoding.DER)
    result = CliRunner().invoke(document_group(_load), [
        "trust", "fetch", "--config", str(config), "--base-url", ca_web.url("/")])
    assert result.exit_code == 1
    assert "Root CA G1 (2010): " in result.stderr and "does not hold the pinned" in result.stderr
    assert "HTTP 404" in result.stderr
    assert "RootCA chuyên dùng Chính phủ G2: present" in result.stdout
    assert not (tmp_path / "store" / "trust").exists()
    listed = CliRunner().invoke(document_group(_load), ["trust", "list", "--config",
                                                        str(config)])
    states = {json.loads(line)["name"]: json.loads(line)["state"]
              for line in listed.stdout.splitlines()}
    assert listed.exit_code == 1
    assert states["CA phục vụ các cơ quan Nhà nước G2"] == "shipped"
    assert states["Root CA G1 (2010)"] == "missing"


def test_verify_warns_of_missing_preset_members(gov: GovPki, tmp_path: Path) -> None:
    (tmp_path / "signed.pdf").write_bytes(sign_pdf(plain_pdf(), gov.issue("cb26@laocai.gov.vn")))
    result = CliRunner().invoke(document_group(_load), [
        "verify", "--config", str(_config(tmp_path)), str(tmp_path / "signed.pdf")])
    assert result.exit_code == 1
    assert "Root CA G1 (2010) (vgca) is not installed" in result.stderr
    assert json.loads(result.stdout.splitlines()[0])["verdict"] == "untrusted"


def test_a_ca_issuers_url_serving_no_certificate_is_named(gov: GovPki, ca_web: CaWebServer,
                                                          tmp_path: Path) -> None:
    ca_web.routes["/crt/broken.crt"] = b"not a certificate"
    data = sign_pdf(plain_pdf(), gov.issue("cb27@laocai.gov.vn",
                                           ca_issuers_url=ca_web.url("/crt/broken.crt")))
    sig = verifier([gov.root.cert], tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.UNTRUSTED
    assert f"the issuer certificate at {ca_web.url('/crt/broken.crt')}: holds no readable" \
        in sig.reason


def test_trust_add_of_an_unreadable_file_exits_2(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "junk.crt").write_bytes(b"junk")
    for name in ("junk.crt", "missing.crt"):
        result = CliRunner().invoke(document_group(_load), [
            "trust", "add", "--config", str(config), str(tmp_path / name)])
        assert result.exit_code == 2 and name in result.output


def test_a_damaged_installed_member_is_refused_at_load(tmp_path: Path) -> None:
    g1_root = next(m for m in MEMBERS if m.name == "Root CA G1 (2010)")
    path = tmp_path / "trust" / f"{g1_root.sha256}.crt"
    path.parent.mkdir()
    path.write_bytes((SHIPPED / "rootcag2.crt").read_bytes())  # another certificate
    documents = DocumentsConfig(trust=(TrustPreset.VGCA,), store_dir=tmp_path)
    with pytest.raises(CertificateFileError, match="is not the pinned Root CA G1"):
        DocumentVerifier.from_config(documents)


def test_a_look_alike_with_rsa_4096_cas_as_the_real_ones_verifies(
        ca_web: CaWebServer, tmp_path: Path) -> None:
    (real_root, real_issuing), _ = load_presets((TrustPreset.VGCA,), tmp_path)
    bits = real_root.public_key().key_size  # type: ignore[union-attr]
    assert bits == real_issuing.public_key().key_size == 4096  # type: ignore[union-attr]
    big = GovPki.create(ca_web, slug="g2big", ca_bits=bits)
    assert big.root.cert.public_key().key_size == bits  # type: ignore[union-attr]
    person = big.issue("cb40@laocai.gov.vn", common_name="Nguyễn Văn C")
    # leaf-only: the issuing CA from caIssuers, revocation from both CAs' CRLs
    sig = verifier([big.root.cert], tmp_path).verify(
        sign_pdf(plain_pdf(), person)).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.chain[-1] == big.root.cert.subject.rfc4514_string() and len(sig.chain) == 3
