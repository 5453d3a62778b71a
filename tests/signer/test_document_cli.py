"""``congvu document verify`` with CliRunner: JSON per file and its exit codes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from signer.cli.document import document_group
from signer.config import SignerConfig
from support.documents import alter_page, docx, plain_pdf, sign_pdf, zip_of
from support.smime import cast


def _load(path: Path | None) -> SignerConfig:
    if path is None:
        return SignerConfig()
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


@pytest.fixture
def document(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> click.Command:
    # the store_dir of a table read without the data directory is relative to here
    monkeypatch.chdir(tmp_path)
    return document_group(_load)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    cast().write(tmp_path)
    signed = sign_pdf(plain_pdf(), cast().alice)
    made = {
        "signed.pdf": signed,
        "altered.pdf": alter_page(signed),
        "plain.pdf": plain_pdf(),
        "signed.docx": docx(cast().alice),
        "notes.txt": b"just text",
        "bundle.zip": zip_of({"signed.pdf": signed}),
    }
    out = {}
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


def run(document: click.Command, *args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(document, ["verify", *args])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines, result.output


def test_help(document: click.Group) -> None:
    result = CliRunner().invoke(document, ["verify", "--help"])
    assert result.exit_code == 0 and "one JSON object per file" in result.output


def optional(tmp_path: Path) -> str:
    """A configuration where revocation is optional (the test CA names no CRL URL)."""
    config = tmp_path / "optional.toml"
    config.write_text('[signer.documents]\nrevocation = "optional"\n')
    return str(config)


def test_revocation_unknown_and_required_is_unverifiable(
        document: click.Command, files: dict[str, Path], tmp_path: Path) -> None:
    code, lines, _ = run(document, "--ca", str(tmp_path / "root.pem"), str(files["signed.pdf"]))
    assert code == 1 and lines[0]["verdict"] == "unverifiable"
    sig = lines[0]["signatures"][0]  # type: ignore[index]
    assert "names no CRL distribution point" in sig["reason"]
    assert sig["revocation"]["status"] == "unknown" and sig["revocation"]["is_required"]


def test_valid_signature_exits_0(document: click.Command, files: dict[str, Path],
                                 tmp_path: Path) -> None:
    code, lines, _ = run(document, "--ca", str(tmp_path / "root.pem"),
                         "--config", optional(tmp_path), str(files["signed.pdf"]))
    assert code == 0
    (line,) = lines
    assert line["file"] == str(files["signed.pdf"]) and line["kind"] == "pdf"
    assert line["verdict"] == "valid"
    sig = line["signatures"][0]  # type: ignore[index]
    assert sig["signer"] == "alice@so-tc.province.gov.vn" and sig["organisation"] == "UBND tinh"
    assert sig["time_source"] == "claimed" and sig["signing_time"]


def test_any_file_without_a_valid_signature_exits_1(document: click.Command,
                                                    files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    names = ["signed.pdf", "altered.pdf", "plain.pdf", "signed.docx", "notes.txt"]
    code, lines, _ = run(document, "--ca", str(tmp_path / "root.pem"),
                         "--config", optional(tmp_path), *(str(files[n]) for n in names))
    assert code == 1
    assert [line["verdict"] for line in lines] == [
        "valid", "modified-after-signing", "unsigned", "unverifiable", "none"]
    assert [line["kind"] for line in lines] == ["pdf", "pdf", "pdf", "ooxml", "none"]


def test_trust_from_the_configuration(document: click.Command, files: dict[str, Path],
                                      tmp_path: Path) -> None:
    config = tmp_path / "congvu.toml"
    config.write_text(f'[signer.smime]\ntrust_anchors = ["{tmp_path / "root.pem"}"]\n'
                      f'crls = ["{tmp_path / "crl.pem"}", "{tmp_path / "root-crl.pem"}"]\n')
    code, lines, _ = run(document, "--config", str(config), str(files["signed.pdf"]))
    assert (code, lines[0]["verdict"]) == (0, "valid")
    revocation = lines[0]["signatures"][0]["revocation"]  # type: ignore[index]
    assert (revocation["status"], revocation["method"]) == ("good", "crl")
    # the CRL used is kept once under its SHA-256
    assert (tmp_path / "documents" / "evidence" / f"{revocation['crl']['sha256']}.crl").exists()


def test_no_anchors_warns_and_nothing_is_valid(document: click.Command,
                                               files: dict[str, Path]) -> None:
    code, lines, output = run(document, str(files["signed.pdf"]))
    assert code == 1 and lines[0]["verdict"] == "untrusted"
    assert "no trust anchors" in output


def test_usage_errors_exit_2(document: click.Command, files: dict[str, Path],
                             tmp_path: Path) -> None:
    assert run(document)[0] == 2  # no FILE
    code, _, output = run(document, "--ca", str(tmp_path / "missing.pem"), str(files["signed.pdf"]))
    assert code == 2 and "missing.pem" in output
    code, _, output = run(document, "--ca", str(tmp_path / "root.pem"), str(tmp_path / "nope.pdf"))
    assert code == 2 and "nope.pdf" in output
