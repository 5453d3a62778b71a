"""`document verify --explain`: each signature explained in Vietnamese (default) or English."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from signer.cli.document import document_group
from signer.config import SignerConfig
from signer.documents import DocumentVerifier
from signer.documents.explain import explain
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.trust import TrustStore
from support.documents import flip_in_first_revision, plain_pdf, sign_pdf
from support.govpki import GovPki


def _load(path: Path | None) -> SignerConfig:
    assert path is not None
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


def _run(gov: GovPki, tmp_path: Path, *args: str) -> str:
    pem = serialization.Encoding.PEM
    (tmp_path / "root.pem").write_bytes(gov.root.cert.public_bytes(pem))
    (tmp_path / "cp.pem").write_bytes(gov.issuing.cert.public_bytes(pem))
    config = tmp_path / "congvu.toml"
    config.write_text(f'[signer.documents]\nstore_dir = "{tmp_path / "store"}"\n'
                      f'trust_anchors = ["{tmp_path / "root.pem"}"]\n'
                      f'intermediates = ["{tmp_path / "cp.pem"}"]\n')
    (tmp_path / "cv.pdf").write_bytes(sign_pdf(plain_pdf(), gov.issue(
        "cb30@laocai.gov.vn", common_name="Nguyễn Văn A")))
    result = CliRunner().invoke(document_group(_load), [
        "verify", "--explain", "--config", str(config), *args, str(tmp_path / "cv.pdf")])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_explained_in_vietnamese_by_default(gov: GovPki, tmp_path: Path) -> None:
    out = _run(gov, tmp_path)
    assert "cv.pdf — hợp lệ" in out
    signer = next(line for line in out.splitlines() if "Người/tổ chức ký: " in line)
    assert "CN=Nguyễn Văn A" in signer
    assert f"Tổ chức cấp chứng thư số: {gov.issuing.cert.subject.rfc4514_string()}" in out
    assert "Đơn vị quản lý: chưa xác định" in out
    assert "(do bên ký tự khai)" in out
    assert "Tính toàn vẹn: nguyên vẹn" in out
    assert "Hiệu lực chứng thư số tại thời điểm ký: có" in out
    assert "Thời hạn chứng thư số: từ " in out
    assert "Tình trạng thu hồi: chưa bị thu hồi qua CRL (bắt buộc)" in out
    assert "Bằng chứng: CRL của " in out and ", số 1, " in out
    # times in the province's zone, named, each with its offset (the JSON keeps UTC)
    assert "(thời gian theo múi giờ Asia/Ho_Chi_Minh)" in out
    issued = (gov.now - dt.timedelta(hours=2)).astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert f"phát hành {issued:%Y-%m-%d %H:%M:%S} +07:00, SHA-256" in out


def test_explained_in_english(gov: GovPki, tmp_path: Path) -> None:
    out = _run(gov, tmp_path, "--lang", "en")
    assert "Revocation status: not revoked by CRL (required)" in out
    assert "Integrity: intact" in out and "(claimed by the signer)" in out


def test_a_changed_document_is_explained_as_changed(gov: GovPki, tmp_path: Path) -> None:
    data = flip_in_first_revision(sign_pdf(plain_pdf(), gov.issue("cb31@laocai.gov.vn")),
                                  b"trang 1", b"trang 5")
    trust = TrustStore([gov.root.cert], [gov.issuing.cert], is_crl_required=True,
                       fetcher=Fetcher(), store=EvidenceStore(tmp_path))
    record = {"file": "cv.pdf", **DocumentVerifier(trust).verify(data).as_json()}
    out = explain(record)
    assert "không hợp lệ" in out and "Tính toàn vẹn: nội dung đã ký bị thay đổi" in out
    assert "Hiệu lực chứng thư số tại thời điểm ký: chưa kiểm tra" in out
    assert "Tình trạng thu hồi: không xác định (bắt buộc)" in out
    assert "Bằng chứng: không có" in out
    with pytest.raises(ValueError, match="unknown language"):
        explain(record, lang="fr")


def test_the_reason_is_explained_from_its_code(gov: GovPki, tmp_path: Path) -> None:
    root = gov.root.cert.subject.rfc4514_string()
    reason = next(line for line in _run(gov, tmp_path).splitlines() if "Lý do: " in line)
    assert reason == (f"  Lý do: dẫn tới chứng thư gốc {root}, chưa bị thu hồi; xét tại "
                      "thời điểm ký do người ký tự ghi (không có dấu thời gian)")
    (tmp_path / "en").mkdir()
    english = next(line for line in _run(gov, tmp_path / "en", "--lang", "en").splitlines()
                   if "Reason: " in line)
    assert english == (f"  Reason: chained to {root}, not revoked; judged at the signing "
                       "time the signer claims (no timestamp)")


def test_a_reason_without_a_code_is_its_english_said_so() -> None:
    # as a JSON record written before reasons had codes reads
    record = {"file": "cv.pdf", "verdict": "invalid", "signatures": [
        {"verdict": "invalid", "reason": "the signature value does not verify"}]}
    assert ("  Lý do: the signature value does not verify (nguyên văn tiếng Anh như đã ghi)"
            in explain(record).splitlines())
    assert ("  Reason: the signature value does not verify (in English, as recorded)"
            in explain(record, lang="en").splitlines())
