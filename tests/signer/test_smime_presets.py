"""`[signer.smime] trust` presets: the government PKI for officials' S/MIME signatures.

The presets' members are pinned to the real CA certificates (signer/pki/), so no test
certificate can stand in for one; the officials' signatures come from the look-alike
government PKI (support/govpki.py: signer certificates with the real EKU set,
emailProtection among them). What the tests show: the presets' anchors are what
S/MIME trusts; a look-alike that copies the real CAs' names does not chain to them;
presets add to configured anchors; issuer certificates and CRLs kept by document
verification are used without fetching.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from signer.cli.smime import smime_group
from signer.config import SignerConfig
from signer.documents import DocumentVerdict, DocumentVerifier
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.presets import MEMBERS, TrustPreset, fingerprint
from signer.smime import SmimeConfig, SmimeSigner, SmimeStatus, SmimeVerifier
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import CaWebServer, GovPki, gov_name
from support.pki import Issued
from support.smime import identity, message

PEM = serialization.Encoding.PEM
OFFICIAL = "nguyenvana@laocai.gov.vn"
REAL_ROOT_CN = "RootCA chuyên dùng Chính phủ G2"
REAL_ISSUING_CN = "CA phục vụ các cơ quan Nhà nước G2"


def signed(who: Issued, sender: str = OFFICIAL) -> bytes:
    result = SmimeSigner().sign(message(sender=sender), identity(who))
    assert result.is_signed
    return result.message


def test_the_presets_are_what_smime_trusts(tmp_path: Path) -> None:
    config = SmimeConfig.model_validate({"trust": ["vgca", "national"]})
    verifier = SmimeVerifier.from_config(config, store_dir=tmp_path)
    shipped = {m.sha256 for m in MEMBERS if m.shipped}
    assert {fingerprint(c) for c in verifier.trust.anchors} == shipped
    with pytest.raises(ValidationError, match="listed twice"):
        SmimeConfig.model_validate({"trust": ["vgca", "vgca"]})
    with pytest.raises(ValidationError):
        SmimeConfig.model_validate({"trust": ["vnpt"]})


def test_a_look_alike_copying_the_real_names_does_not_pass(ca_web: CaWebServer,
                                                          tmp_path: Path) -> None:
    forger = GovPki.create(ca_web, slug="smimeforger", root_name=gov_name(REAL_ROOT_CN),
                           issuing_name=gov_name(REAL_ISSUING_CN), is_published=False)
    official = forger.issue(OFFICIAL)
    raw = signed(Issued(official.cert, official.key, (forger.issuing.cert,)))
    verifier = SmimeVerifier.from_config(SmimeConfig(trust=(TrustPreset.VGCA,)),
                                         store_dir=tmp_path)
    result = verifier.verify(raw)
    assert result.status is SmimeStatus.FAIL, result.reason
    assert "no valid path to a trust anchor" in result.reason


def test_presets_add_to_configured_anchors(gov: GovPki, tmp_path: Path) -> None:
    (tmp_path / "root.pem").write_bytes(gov.root.cert.public_bytes(PEM))
    official = gov.issue(OFFICIAL)
    raw = signed(Issued(official.cert, official.key, (gov.issuing.cert,)))
    config = SmimeConfig(trust=(TrustPreset.VGCA,), trust_anchors=(tmp_path / "root.pem",))
    result = SmimeVerifier.from_config(config, store_dir=tmp_path).verify(raw)
    assert result.status is SmimeStatus.PASS, result.reason
    without = SmimeVerifier.from_config(SmimeConfig(trust=(TrustPreset.VGCA,)),
                                        store_dir=tmp_path).verify(raw)
    assert without.status is SmimeStatus.FAIL, without.reason


def test_what_document_verification_kept_serves_a_leaf_only_signature(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    official = gov.issue(OFFICIAL)
    # a document verification fetched the issuing CA (caIssuers) and the CRLs
    documents = DocumentVerifier(TrustStore(
        [gov.root.cert], is_crl_required=True, fetcher=Fetcher(),
        store=EvidenceStore(tmp_path)))
    assert documents.verify(sign_pdf(plain_pdf(), official)).signatures[0].verdict \
        is DocumentVerdict.VALID
    (tmp_path / "root.pem").write_bytes(gov.root.cert.public_bytes(PEM))
    config = SmimeConfig(trust=(TrustPreset.VGCA,), trust_anchors=(tmp_path / "root.pem",),
                         is_crl_required=True)
    hits = len(ca_web.hits)
    raw = signed(official)  # the CMS carries the signer's certificate only
    result = SmimeVerifier.from_config(config, store_dir=tmp_path).verify(raw)
    assert result.status is SmimeStatus.PASS, result.reason
    assert len(ca_web.hits) == hits  # nothing fetched on the mail path
    # and without what was kept, the path cannot be built
    alone = SmimeVerifier.from_config(config, store_dir=tmp_path / "empty").verify(raw)
    assert alone.status is not SmimeStatus.PASS


def test_smime_verify_uses_the_configured_presets(gov: GovPki, tmp_path: Path) -> None:
    config = tmp_path / "congvu.toml"
    config.write_text('[signer.smime]\ntrust = ["vgca"]\n'
                      f'[signer.documents]\nstore_dir = "{tmp_path / "store"}"\n')
    (tmp_path / "msg.eml").write_bytes(signed(gov.issue(OFFICIAL)))

    def load(path: Path | None) -> SignerConfig:
        assert path is not None
        return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])

    result = CliRunner().invoke(smime_group(load), [
        "verify", "--config", str(config)], input=(tmp_path / "msg.eml").read_bytes())
    # not "no trust anchors": the presets are trust; the look-alike is not under them
    assert result.exit_code == 1, result.output
    assert "no trust anchors" not in result.output
    assert "no valid path to a trust anchor" in result.output


def test_the_issuing_ca_is_pinned_by_its_bytes_not_its_name() -> None:
    (issuing,) = [m for m in MEMBERS if m.shipped == "cpcag2.crt"]
    path = Path(__file__).resolve().parents[2] / "signer" / "pki" / "cpcag2.crt"
    cert = x509.load_pem_x509_certificate(path.read_bytes()) if path.read_bytes().startswith(
        b"-----") else x509.load_der_x509_certificate(path.read_bytes())
    assert fingerprint(cert) == issuing.sha256
    assert cert.subject == gov_name(REAL_ISSUING_CN)
