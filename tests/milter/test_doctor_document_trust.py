"""`doctor` on the document trust presets: each member neither shipped nor installed."""

from __future__ import annotations

from pathlib import Path

from congvu.config import CongvuConfig
from milter.doctor import check_document_trust
from milter.findings import Level


def config(tmp_path: Path, trust: list[str]) -> CongvuConfig:
    return CongvuConfig.model_validate(
        {"signer": {"documents": {"trust": trust, "store_dir": str(tmp_path / "documents")}}})


def test_each_missing_vgca_member_is_a_warning_with_its_fix(tmp_path: Path) -> None:
    findings = list(check_document_trust(config(tmp_path, ["vgca", "national"])))
    # the G2 root and issuing CA and the national root are shipped; the G1 generation
    # and the other members are fetched or added
    assert findings and all(f.level is Level.WARNING for f in findings)
    assert any("Root CA G1 (2010) (vgca) is not installed" in f.message for f in findings)
    assert all("congvu document trust fetch" in f.fix for f in findings)


def test_shipped_presets_are_ok(tmp_path: Path) -> None:
    (finding,) = check_document_trust(config(tmp_path, ["national"]))
    assert finding.level is Level.OK and "(national) is installed" in finding.message


def test_no_presets_no_finding(tmp_path: Path) -> None:
    assert list(check_document_trust(config(tmp_path, []))) == []


def test_presets_of_smime_alone_are_looked_after_too(tmp_path: Path) -> None:
    smime_only = CongvuConfig.model_validate({"signer": {
        "smime": {"trust": ["vgca"]},
        "documents": {"store_dir": str(tmp_path / "documents")}}})
    findings = list(check_document_trust(smime_only))
    assert findings and all(f.where == "signer.smime.trust" for f in findings)
    assert any("Root CA G1 (2010) (vgca) is not installed" in f.message for f in findings)
