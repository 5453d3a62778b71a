"""``congvu smime sign|verify|inspect`` with CliRunner, and once through the real entry point."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from signer.cli import commands
from signer.config import SignerConfig
from signer.smime import SmimeSigner
from support.smime import ALICE, address, cast, identity, message


def _load(path: Path | None) -> SignerConfig:
    if path is None:
        return SignerConfig()
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


@pytest.fixture
def smime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> click.Command:
    # a [signer] table read without the data directory keeps the CRLs a verification
    # used (documents/evidence) relative to the working directory: here, not the checkout
    monkeypatch.chdir(tmp_path)
    (group,) = [c for c in commands(_load) if c.name == "smime"]
    return group


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_every_command_has_help(smime: click.Group, runner: CliRunner) -> None:
    for name in ("sign", "verify", "inspect"):
        result = runner.invoke(smime, [name, "--help"])
        assert result.exit_code == 0
        assert smime.commands[name].help


def test_sign_then_verify(smime: click.Command, runner: CliRunner, tmp_path: Path) -> None:
    files = cast().pki.write(tmp_path / "pki")
    cert, key = cast().alice.write(tmp_path, "alice")
    signed = runner.invoke(smime, ["sign", "--cert", str(cert), "--key", str(key)],
                           input=message())
    assert signed.exit_code == 0, signed.output
    assert b"multipart/signed" in signed.stdout_bytes
    verified = runner.invoke(smime, ["verify", "--ca", str(files.root), "--crl",
                                     str(files.crl)], input=signed.stdout_bytes)
    assert verified.exit_code == 0
    assert verified.stdout.startswith("smime=pass ")
    tampered = signed.stdout_bytes.replace(b"cong van.", b"cong van!")
    bad = runner.invoke(smime, ["verify", "--ca", str(files.root)], input=tampered)
    assert bad.exit_code == 1
    assert bad.stdout.startswith("smime=fail ")


def test_verify_exit_codes_for_non_pass(smime: click.Command, runner: CliRunner,
                                        tmp_path: Path) -> None:
    files = cast().pki.write(tmp_path / "pki")
    other = SmimeSigner().sign(message(), identity(cast().carol)).message
    result = runner.invoke(smime, ["verify", "--ca", str(files.root), "--json"], input=other)
    assert result.exit_code == 1
    assert '"result": "policy"' in result.stdout
    unsigned = runner.invoke(smime, ["verify", "--ca", str(files.root)], input=message())
    assert unsigned.exit_code == 1 and unsigned.stdout.startswith("smime=none")


def test_verify_usage_errors_exit_2(smime: click.Command, runner: CliRunner,
                                    tmp_path: Path) -> None:
    result = runner.invoke(smime, ["verify"], input=message())
    assert result.exit_code == 2
    assert "no trust anchors" in result.output
    result = runner.invoke(smime, ["verify", "--ca", str(tmp_path / "missing.pem")],
                           input=message())
    assert result.exit_code == 2
    assert "missing.pem" in result.output and "cannot be read" in result.output


def test_verify_uses_configured_trust(smime: click.Command, runner: CliRunner,
                                      tmp_path: Path) -> None:
    files = cast().pki.write(tmp_path / "pki")
    config = tmp_path / "congvu.toml"
    config.write_text(f'[signer.smime]\ntrust_anchors = ["{files.root}"]\n'
                      f'crls = ["{files.crl}", "{files.root_crl}"]\nis_crl_required = true\n')
    gone = cast().revoked
    signed = SmimeSigner().sign(message(sender=address(gone)), identity(gone)).message
    result = runner.invoke(smime, ["verify", "--config", str(config)], input=signed)
    assert result.exit_code == 1
    assert "was revoked on" in result.stdout
    good = SmimeSigner().sign(message(), identity(cast().alice)).message
    assert runner.invoke(smime, ["verify", "--config", str(config)], input=good).exit_code == 0


def test_sign_key_problems_exit_2(smime: click.Command, runner: CliRunner,
                                  tmp_path: Path) -> None:
    cert, key = cast().alice.write(tmp_path, "alice", key_mode=0o644)
    result = runner.invoke(smime, ["sign", "--cert", str(cert), "--key", str(key)],
                           input=message())
    assert result.exit_code == 2
    assert str(key) in result.output and "0644" in result.output
    result = runner.invoke(smime, ["sign"], input=message())
    assert result.exit_code == 2 and "--cert" in result.output


def test_sign_already_signed_exits_1_and_passes_it_through(
        smime: click.Command, runner: CliRunner, tmp_path: Path) -> None:
    cert, key = cast().alice.write(tmp_path, "alice")
    once = SmimeSigner().sign(message(), identity(cast().alice)).message
    result = runner.invoke(smime, ["sign", "--cert", str(cert), "--key", str(key)], input=once)
    assert result.exit_code == 1
    assert result.stdout_bytes == once
    assert "not signed again" in result.stderr


def test_sign_with_pkcs12_and_warns_about_another_sender(
        smime: click.Command, runner: CliRunner, tmp_path: Path) -> None:
    p12 = cast().carol.write_pkcs12(tmp_path, "carol", b"pw")
    result = runner.invoke(smime, ["sign", "--pkcs12", str(p12), "--passphrase-env", "P12PW"],
                           input=message(), env={"P12PW": "pw"})
    assert result.exit_code == 0, result.output
    assert "not the sender " + ALICE in result.stderr


def test_inspect_in_plain_words(smime: click.Command, runner: CliRunner,
                                tmp_path: Path) -> None:
    files = cast().pki.write(tmp_path / "pki")
    path = tmp_path / "in.eml"
    path.write_bytes(SmimeSigner().sign(message(), identity(cast().alice)).message)
    result = runner.invoke(smime, ["inspect", str(path), "--ca", str(files.root)])
    assert result.exit_code == 0
    out = result.stdout
    assert "Verdict:  PASS: the signature is valid and vouches for the sender" in out
    assert f"addresses:  {ALICE}" in out
    assert "-> CN=Test Root CA" in out
    path.write_bytes(SmimeSigner().sign(message(), identity(cast().unchained)).message)
    result = runner.invoke(smime, ["inspect", str(path), "--ca", str(files.root)])
    assert result.exit_code == 1
    assert "FAIL: the signature is broken or its certificate cannot be trusted" in result.stdout
    assert "(no trusted path was found)" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_through_the_congvu_entry_point(tmp_path: Path) -> None:
    congvu = Path(sys.executable).parent / "congvu"
    if not congvu.exists():
        pytest.skip("the congvu entry point is not installed in this environment")
    files = cast().pki.write(tmp_path / "pki")
    cert, key = cast().alice.write(tmp_path, "alice")
    signed = subprocess.run([congvu, "smime", "sign", "--cert", cert, "--key", key],
                            input=message(), capture_output=True, timeout=60, check=True).stdout
    (tmp_path / "out.eml").write_bytes(signed)
    done = subprocess.run(["openssl", "cms", "-verify", "-CAfile", files.root, "-in",
                           tmp_path / "out.eml", "-out", tmp_path / "c.out"],
                          capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    verified = subprocess.run([congvu, "smime", "verify", "--ca", files.root], input=signed,
                              capture_output=True, timeout=60, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
