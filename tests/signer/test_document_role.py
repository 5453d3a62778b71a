"""Whose signature: organisation, person or unknown, from a real directory store.

PDFs are signed with pyHanko by certificates of the look-alike government PKI
(support/govpki.py); the directory is a SQLite store imported from CSV and read
through its index, as the service reads it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from congvu.cli import main
from directory import Directory, DirectoryIndex
from directory.errors import ImportRejected
from signer.documents import DocumentVerdict, DocumentVerifier
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.trust import TrustStore
from support.documents import alter_page, plain_pdf, sign_pdf
from support.govpki import GovPki
from support.pki import Issued

D = "laocai.gov.vn"


def units_csv(sealed: str = "") -> str:
    return ("id,name,short_name,parent,address,aliases,active,document_certificates\n"
            f"ubnd-tinh,Ủy ban nhân dân tỉnh Lào Cai,UBND tỉnh,,ubnd@{D},vanthu@{D},,\n"
            f"so-tai-chinh,Sở Tài chính,STC,ubnd-tinh,stc@{D},,,{sealed}\n"
            f"xa-cu,Xã Cũ,,ubnd-tinh,xacu@{D},,no,\n")


ROSTER = ("unit,address,full_name\n"
          f"so-tai-chinh,nguyen.van.a@{D},Nguyễn Văn A\n")


@pytest.fixture(scope="module")
def person(gov: GovPki) -> Issued:
    return gov.issue(f"nguyen.van.a@{D}", common_name="Nguyễn Văn A")


@pytest.fixture(scope="module")
def seal(gov: GovPki) -> Issued:
    # the clerk's seal of the province's people's committee, under its alias
    return gov.issue(f"VanThu@{D}", common_name="Ủy ban nhân dân tỉnh Lào Cai")


@pytest.fixture
def index(tmp_path: Path) -> Iterator[DirectoryIndex]:
    store = Directory.open(tmp_path / "directory.sqlite3")
    store.import_csv(units_csv(), actor="test")
    store.import_mailboxes(ROSTER, actor="test")
    found = DirectoryIndex(store)
    yield found
    found.close()


def verifier(gov: GovPki, store: Path, index: DirectoryIndex | None) -> DocumentVerifier:
    trust = TrustStore([gov.root.cert], [gov.issuing.cert], is_crl_required=True,
                       fetcher=Fetcher(), store=EvidenceStore(store))
    return DocumentVerifier(trust, directory=index)


def signed_by(*signers: Issued) -> bytes:
    data = plain_pdf()
    for number, issued in enumerate(signers, 1):
        data = sign_pdf(data, issued, field=f"Signature{number}")
    return data


def roles(gov: GovPki, tmp_path: Path, index: DirectoryIndex | None, data: bytes
          ) -> tuple[list[tuple[str, str | None]], bool]:
    result = verifier(gov, tmp_path, index).verify(data, "cv.pdf")
    return [(s.role, s.unit) for s in result.signatures], result.is_complete


def test_a_person_then_the_organisation_is_complete(
        gov: GovPki, person: Issued, seal: Issued, index: DirectoryIndex,
        tmp_path: Path) -> None:
    result = verifier(gov, tmp_path, index).verify(signed_by(person, seal), "cv.pdf")
    assert [s.verdict for s in result.signatures] == [DocumentVerdict.VALID] * 2
    out = result.as_json()
    assert [(s["role"], s["unit"]) for s in out["signatures"]] == [  # type: ignore[attr-defined]
        ("person", "so-tai-chinh"), ("organisation", "ubnd-tinh")]
    assert out["complete"] is True


def test_a_person_alone_is_not_complete(
        gov: GovPki, person: Issued, index: DirectoryIndex, tmp_path: Path) -> None:
    assert roles(gov, tmp_path, index, signed_by(person)) == (
        [("person", "so-tai-chinh")], False)


def test_the_organisation_before_the_person_is_not_complete(
        gov: GovPki, person: Issued, seal: Issued, index: DirectoryIndex,
        tmp_path: Path) -> None:
    assert roles(gov, tmp_path, index, signed_by(seal, person)) == (
        [("organisation", "ubnd-tinh"), ("person", "so-tai-chinh")], False)


def test_a_change_after_the_organisation_signature_is_not_complete(
        gov: GovPki, person: Issued, seal: Issued, index: DirectoryIndex,
        tmp_path: Path) -> None:
    result = verifier(gov, tmp_path, index).verify(alter_page(signed_by(person, seal)))
    assert result.signatures[1].verdict is not DocumentVerdict.VALID
    # a signature that is not valid gets no role and no unit
    assert (result.signatures[1].role, result.signatures[1].unit) == ("unknown", None)
    assert not result.is_complete


def test_an_organisation_looking_address_outside_the_directory_is_unknown(
        gov: GovPki, person: Issued, index: DirectoryIndex, tmp_path: Path) -> None:
    # an organisation's name and a unit-like address of another province
    stranger = gov.issue("vanthu@laichau.gov.vn", common_name="UBND tỉnh Lai Châu")
    assert roles(gov, tmp_path, index, signed_by(person, stranger)) == (
        [("person", "so-tai-chinh"), ("unknown", None)], False)


def test_a_common_name_equal_to_a_units_name_is_unknown(
        gov: GovPki, person: Issued, index: DirectoryIndex, tmp_path: Path) -> None:
    # an address in the province's domain that is no unit's, named like a unit
    # (case differs; diacritics are kept, so only an exact spelling matches)
    look_alike = gov.issue(f"ke.gia@{D}", common_name="ủy ban nhân dân tỉnh lào cai")
    unaccented = gov.issue(f"ke.khac@{D}", common_name="Uy ban nhan dan tinh Lao Cai")
    assert roles(gov, tmp_path, index, signed_by(person, look_alike, unaccented)) == (
        [("person", "so-tai-chinh"), ("unknown", None), ("person", None)], False)


def test_a_fingerprint_listed_in_document_certificates_is_the_units_seal(
        gov: GovPki, person: Issued, tmp_path: Path) -> None:
    # a seal certificate whose address is no unit's, listed by its SHA-256 (with colons)
    other = gov.issue(f"tcdn@{D}", common_name="Sở Tài chính - dấu")
    digest = hashlib.sha256(other.cert.public_bytes(Encoding.DER)).hexdigest()
    colons = ":".join(digest[i:i + 2] for i in range(0, 64, 2)).upper()
    with Directory.open(tmp_path / "directory.sqlite3") as store:
        store.import_csv(units_csv(sealed=colons), actor="test")
        assert store.units()[1].document_certificates == (digest,)
        # the column leaves and comes back through the CSV export unchanged
        assert store.import_csv(store.export_csv(), actor="test").updated == ()
        index = DirectoryIndex(store)
        assert roles(gov, tmp_path, index, signed_by(person, other)) == (
            [("person", None), ("organisation", "so-tai-chinh")], True)


def test_an_inactive_units_address_is_still_its_seal(
        gov: GovPki, person: Issued, index: DirectoryIndex, tmp_path: Path) -> None:
    old_seal = gov.issue(f"xacu@{D}", common_name="Xã Cũ")
    assert roles(gov, tmp_path, index, signed_by(person, old_seal)) == (
        [("person", "so-tai-chinh"), ("organisation", "xa-cu")], True)


def test_without_a_directory_every_role_is_unknown(
        gov: GovPki, person: Issued, seal: Issued, tmp_path: Path) -> None:
    assert roles(gov, tmp_path, None, signed_by(person, seal)) == (
        [("unknown", None), ("unknown", None)], False)


def test_a_bad_fingerprint_in_the_csv_is_refused_with_its_line(tmp_path: Path) -> None:
    with (Directory.open(tmp_path / "directory.sqlite3") as store,
          pytest.raises(ImportRejected) as caught):
        store.import_csv(units_csv(sealed="abc123"), actor="test")
    assert "SHA-256 fingerprint" in str(caught.value)


def _cli(gov: GovPki, tmp_path: Path, data: bytes, *, directory: bool, lang: str = "en",
         extra: str = "") -> tuple[dict[str, Any], str]:
    """`congvu document verify` through the root CLI, JSON then --explain."""
    pem = Encoding.PEM
    (tmp_path / "root.pem").write_bytes(gov.root.cert.public_bytes(pem))
    (tmp_path / "cp.pem").write_bytes(gov.issuing.cert.public_bytes(pem))
    path = tmp_path / "directory.sqlite3"
    if directory:
        with Directory.open(path) as store:
            store.import_csv(units_csv(), actor="test")
            store.import_mailboxes(ROSTER, actor="test")
    config = tmp_path / "congvu.toml"
    config.write_text(f'{extra}[directory]\npath = "{path}"\n'
                      f'[signer.documents]\nstore_dir = "{tmp_path / "store"}"\n'
                      f'trust_anchors = ["{tmp_path / "root.pem"}"]\n'
                      f'intermediates = ["{tmp_path / "cp.pem"}"]\n')
    (tmp_path / "cv.pdf").write_bytes(data)
    args = ["document", "verify", "--config", str(config), str(tmp_path / "cv.pdf")]
    as_json = CliRunner().invoke(main, args)
    explained = CliRunner().invoke(main, [*args, "--explain", "--lang", lang])
    assert (as_json.exit_code, explained.exit_code) == (0, 0), as_json.output
    return json.loads(as_json.stdout), explained.stdout


def test_document_verify_reads_the_configured_directory(
        gov: GovPki, person: Issued, seal: Issued, tmp_path: Path) -> None:
    record, text = _cli(gov, tmp_path, signed_by(person, seal), directory=True)
    assert [(s["role"], s["unit"]) for s in record["signatures"]] == [
        ("person", "so-tai-chinh"), ("organisation", "ubnd-tinh")]
    assert record["complete"] is True
    assert "Managing unit: Ủy ban nhân dân tỉnh Lào Cai (ubnd-tinh)" in text
    assert "Managing unit: Sở Tài chính (so-tai-chinh)" in text
    assert "Role: the organisation's signature" in text
    assert "Signed by a person and then the organisation: yes" in text
    assert "No unit directory" not in text


def test_document_verify_without_a_directory_says_roles_are_unknown(
        gov: GovPki, person: Issued, seal: Issued, tmp_path: Path) -> None:
    record, text = _cli(gov, tmp_path, signed_by(person, seal), directory=False, lang="vi")
    assert [s["role"] for s in record["signatures"]] == ["unknown", "unknown"]
    assert record["complete"] is False
    assert "Không có danh bạ đơn vị" in text
    assert "Vai trò: không xác định" in text


def test_explained_times_are_in_the_configured_zone_named(
        gov: GovPki, person: Issued, tmp_path: Path) -> None:
    record, text = _cli(gov, tmp_path, sign_pdf(plain_pdf(), person), directory=False,
                        extra='[audit]\ntime_zone = "Asia/Tokyo"\n')
    signed_at = dt.datetime.fromisoformat(record["signatures"][0]["signing_time"])
    local = signed_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert "(times in Asia/Tokyo)" in text
    assert f"Signing time: {local:%Y-%m-%d %H:%M:%S} +09:00 (claimed by the signer)" in text
