"""Backups carry the document evidence (CRLs, OCSP answers, issuer certificates kept
under [signer.documents] store_dir/evidence) and restore checks each file's SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from congvu.config import CongvuConfig, load_config
from milter.backup import EVIDENCE, BackupError, backup, restore
from milter.checks import check_locally
from signer.evidence import EvidenceStore


def site(root: Path, *, is_new: bool = False) -> CongvuConfig:
    """A configured data directory (its stores and audit keys made), or an empty one."""
    root.mkdir(parents=True)
    (root / "congvu.toml").write_text(f'[service]\ndata_dir = "{root / "var"}"\n',
                                      encoding="utf-8")
    config = load_config(root / "congvu.toml")
    if not is_new:
        assert check_locally(config, create=True) == []
    return config


def test_the_evidence_is_backed_up_and_restored(tmp_path: Path) -> None:
    old = site(tmp_path / "old")
    store = EvidenceStore(old.signer.documents.store_dir)
    crl, ocsp = store.keep(b"crl bytes", "crl"), store.keep(b"ocsp answer", "ocsp")
    manifest = backup(old, tmp_path / "backup")
    assert manifest["document_evidence"] == sorted([f"{crl}.crl", f"{ocsp}.ocsp"])
    new = site(tmp_path / "new", is_new=True)
    done = restore(new, tmp_path / "backup", accept_unsigned=True)
    restored = EvidenceStore(new.signer.documents.store_dir)
    assert restored.path(crl, "crl").read_bytes() == b"crl bytes"
    assert restored.path(ocsp, "ocsp").read_bytes() == b"ocsp answer"
    assert any("restored 2 document evidence files" in line for line in done)
    # content-addressed: a second restore adds nothing and overwrites nothing
    again = restore(new, tmp_path / "backup", accept_unsigned=True, force=True)
    assert any("(2 already there)" in line for line in again)


def test_evidence_whose_bytes_changed_is_refused(tmp_path: Path) -> None:
    old = site(tmp_path / "old")
    digest = EvidenceStore(old.signer.documents.store_dir).keep(b"crl bytes", "crl")
    backup(old, tmp_path / "backup")
    (tmp_path / "backup" / EVIDENCE / f"{digest}.crl").write_bytes(b"other bytes")
    assert hashlib.sha256(b"other bytes").hexdigest() != digest
    with pytest.raises(BackupError, match="does not match its SHA-256"):
        restore(site(tmp_path / "new", is_new=True), tmp_path / "backup", accept_unsigned=True)


def test_a_backup_without_evidence_restores(tmp_path: Path) -> None:
    old = site(tmp_path / "old")
    manifest = backup(old, tmp_path / "backup")
    assert manifest["document_evidence"] == []
    restore(site(tmp_path / "new", is_new=True), tmp_path / "backup", accept_unsigned=True)
