"""``congvu dkim keygen|sign|verify|check`` with CliRunner, and once through `congvu`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from signer.cli import commands
from signer.config import SignerConfig
from signer.keys import Algorithm
from support.dkim import DOMAIN, MESSAGE, make_key
from support.dns import DnsServer


def _load(path: Path | None) -> SignerConfig:
    if path is None:
        return SignerConfig()
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


@pytest.fixture
def dkim() -> click.Group:
    (group,) = [c for c in commands(_load) if c.name == "dkim"]
    assert isinstance(group, click.Group)
    return group


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


def _record_from_zone_entry(text: str) -> str:
    return "".join(re.findall(r'"([^"]*)"', text))


def test_every_command_has_help(dkim: click.Group, runner: CliRunner) -> None:
    for name in ("keygen", "sign", "verify", "check"):
        result = runner.invoke(dkim, [name, "--help"])
        assert result.exit_code == 0
        assert dkim.commands[name].help


@pytest.mark.parametrize(("algorithm", "bits", "strings"), [("rsa", 2048, 2), ("rsa", 4096, 3),
                                                           ("ed25519", 2048, 1)])
def test_keygen_writes_0600_key_and_prints_split_record(
        dkim: click.Group, runner: CliRunner, tmp_path: Path, algorithm: str, bits: int,
        strings: int) -> None:
    out = tmp_path / "keys"
    result = runner.invoke(dkim, ["keygen", "--domain", DOMAIN, "--selector", "s202611",
                                  "--algorithm", algorithm, "--bits", str(bits),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    key = out / f"s202611.{DOMAIN}.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert out.stat().st_mode & 0o777 == 0o700
    assert result.stdout.startswith(f"s202611._domainkey.{DOMAIN}. IN TXT ")
    quoted = re.findall(r'"([^"]*)"', result.stdout)
    assert len(quoted) == strings and all(len(s) <= 255 for s in quoted)
    assert f"k={algorithm};" in quoted[0]
    assert "key table entry" in result.stderr


def test_keygen_never_overwrites(dkim: click.Group, runner: CliRunner, tmp_path: Path) -> None:
    args = ["keygen", "--domain", DOMAIN, "--selector", "s1", "--algorithm", "ed25519",
            "--out", str(tmp_path)]
    assert runner.invoke(dkim, args).exit_code == 0
    again = runner.invoke(dkim, args)
    assert again.exit_code == 2
    assert "exists; a key is never overwritten" in again.output


def test_keygen_refuses_weak_rsa(dkim: click.Group, runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(dkim, ["keygen", "--domain", DOMAIN, "--selector", "s1",
                                  "--bits", "1024", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "2048-8192" in result.output


def test_sign_verify_check_round_trip(dkim: click.Group, runner: CliRunner, tmp_path: Path,
                                      dns: DnsServer) -> None:
    made = runner.invoke(dkim, ["keygen", "--domain", DOMAIN, "--selector", "ed",
                                "--algorithm", "ed25519", "--out", str(tmp_path)])
    key = tmp_path / f"ed.{DOMAIN}.pem"
    signed = runner.invoke(dkim, ["sign", "--domain", DOMAIN, "--selector", "ed",
                                  "--key", str(key)], input=MESSAGE)
    assert signed.exit_code == 0, signed.output
    assert signed.stdout_bytes.startswith(b"DKIM-Signature: v=1; a=ed25519-sha256;")
    assert signed.stdout_bytes.endswith(MESSAGE)

    # not yet published: verify says permerror, check says what to publish
    before = runner.invoke(dkim, ["verify", "--dns", dns.address], input=signed.stdout_bytes)
    assert before.exit_code == 1
    assert "dkim=permerror (no key record at ed._domainkey" in before.stdout
    check = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--selector", "ed",
                                 "--key", str(key), "--dns", dns.address])
    assert check.exit_code == 1
    assert f"ed._domainkey.{DOMAIN}: DIFFERS\n  - no TXT record is published" in check.stdout

    dns.add_txt(f"ed._domainkey.{DOMAIN}", _record_from_zone_entry(made.stdout))
    after = runner.invoke(dkim, ["verify", "--dns", dns.address], input=signed.stdout_bytes)
    assert after.exit_code == 0, after.output
    assert after.stdout.startswith("Authentication-Results: localhost;\n\tdkim=pass ")
    as_json = runner.invoke(dkim, ["verify", "--dns", dns.address, "--json"],
                            input=signed.stdout_bytes)
    assert as_json.stdout.startswith('{"result": "pass", "reason": "signature verified"')
    check = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--selector", "ed",
                                 "--key", str(key), "--dns", dns.address])
    assert check.exit_code == 0
    assert check.stdout == f"ed._domainkey.{DOMAIN}: OK, publishes the key in {key}\n"


def test_sign_refuses_two_from_headers(dkim: click.Group, runner: CliRunner,
                                       tmp_path: Path) -> None:
    key = make_key(tmp_path, "ed", Algorithm.ED25519_SHA256)
    result = runner.invoke(dkim, ["sign", "--domain", DOMAIN, "--selector", "ed",
                                  "--key", str(key.path)], input=b"From: x@evil.example\r\n"
                                                                  + MESSAGE)
    assert result.exit_code == 1
    assert "message not signed: the message has 2 From headers" in result.output
    assert b"DKIM-Signature" not in result.stdout_bytes


def test_sign_refuses_open_key(dkim: click.Group, runner: CliRunner, tmp_path: Path) -> None:
    key = make_key(tmp_path, "ed", Algorithm.ED25519_SHA256)
    key.path.chmod(0o644)
    result = runner.invoke(dkim, ["sign", "--domain", DOMAIN, "--selector", "ed",
                                  "--key", str(key.path)], input=MESSAGE)
    assert result.exit_code == 2
    assert (f"key file {key.path}: readable by group, readable by others (mode 0644); "
            f"run chmod 600 {key.path}") in result.output


def test_verify_unsigned_and_timeout(dkim: click.Group, runner: CliRunner, tmp_path: Path,
                                     dns: DnsServer) -> None:
    unsigned = runner.invoke(dkim, ["verify", "--dns", dns.address], input=MESSAGE)
    assert unsigned.exit_code == 1
    assert unsigned.stdout == \
        "Authentication-Results: localhost;\n\tdkim=none (message not signed)\n"
    key = make_key(tmp_path, "ed", Algorithm.ED25519_SHA256)
    signed = runner.invoke(dkim, ["sign", "--domain", DOMAIN, "--selector", "ed",
                                  "--key", str(key.path)], input=MESSAGE).stdout_bytes
    dns.set_timeout(f"ed._domainkey.{DOMAIN}")
    slow = runner.invoke(dkim, ["verify", "--dns", dns.address, "--timeout", "0.3"],
                         input=signed)
    assert slow.exit_code == 1
    assert "dkim=temperror (key lookup failed: timed out)" in slow.stdout


def test_verify_bad_dns_option(dkim: click.Group, runner: CliRunner) -> None:
    result = runner.invoke(dkim, ["verify", "--dns", "127.0.0.1:0"], input=MESSAGE)
    assert result.exit_code == 2 and "--dns" in result.output


def test_check_uses_the_key_table_and_says_what_differs(
        dkim: click.Group, runner: CliRunner, tmp_path: Path, dns: DnsServer) -> None:
    rsa_key = make_key(tmp_path, "rsa", Algorithm.RSA_SHA256)
    ed_key = make_key(tmp_path, "ed", Algorithm.ED25519_SHA256)
    other = make_key(tmp_path, "other", Algorithm.ED25519_SHA256)
    config = tmp_path / "congvu.toml"
    config.write_text(
        "[signer.dkim]\n"
        f'resolver_nameserver = "127.0.0.1"\nresolver_port = {dns.port}\n'
        f'keys = [{{ domain = "{DOMAIN}", selector = "rsa", key_file = "{rsa_key.path}" }},\n'
        f'        {{ domain = "{DOMAIN}", selector = "ed", key_file = "{ed_key.path}",'
        ' algorithm = "ed25519-sha256" }]\n')
    dns.add_txt(f"rsa._domainkey.{DOMAIN}", rsa_key.record.replace("k=rsa", "k=ed25519"))
    dns.add_txt(f"ed._domainkey.{DOMAIN}", other.record)
    result = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--config", str(config)])
    assert result.exit_code == 1
    assert "rsa._domainkey.sotc.example.gov.vn: DIFFERS\n  - k=ed25519 but the key is rsa\n" \
        in result.stdout
    assert re.search(r"ed\._domainkey\.sotc\.example\.gov\.vn: DIFFERS\n  - p= publishes "
                     r"another key \(published sha256:\w{16}, key file sha256:\w{16}\)",
                     result.stdout)
    dns.remove(f"ed._domainkey.{DOMAIN}")
    dns.add_txt(f"ed._domainkey.{DOMAIN}", "v=DKIM1; k=ed25519; p=")
    revoked = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--selector", "ed",
                                   "--config", str(config)])
    assert "p= is empty: the key is revoked" in revoked.stdout
    dns.set_servfail(f"rsa._domainkey.{DOMAIN}")
    failing = runner.invoke(dkim, ["check", "--domain", DOMAIN, "--selector", "rsa",
                                   "--config", str(config)])
    assert failing.exit_code == 1 and "could not be read" in failing.stdout


def test_check_without_keys(dkim: click.Group, runner: CliRunner) -> None:
    result = runner.invoke(dkim, ["check", "--domain", DOMAIN])
    assert result.exit_code == 2
    assert "no key for sotc.example.gov.vn in [signer.dkim] keys" in result.output
    assert runner.invoke(dkim, ["check", "--domain", DOMAIN, "--key", "x.pem"]).exit_code == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("congvu", path=str(Path(sys.executable).parent)) is None,
                    reason="the congvu entry point is not installed in this environment")
def test_through_the_real_entry_point(tmp_path: Path) -> None:
    congvu = str(Path(sys.executable).parent / "congvu")
    env = {**os.environ, "CONGVU_VAR": str(tmp_path / "var")}
    made = subprocess.run([congvu, "dkim", "keygen", "--domain", DOMAIN, "--selector", "ed",
                           "--algorithm", "ed25519", "--out", str(tmp_path)],
                          capture_output=True, env=env, timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    signed = subprocess.run([congvu, "dkim", "sign", "--domain", DOMAIN, "--selector", "ed",
                             "--key", str(tmp_path / f"ed.{DOMAIN}.pem")], input=MESSAGE,
                            capture_output=True, env=env, timeout=60, check=False)
    assert signed.returncode == 0, signed.stderr
    with DnsServer(txt={f"ed._domainkey.{DOMAIN}": _record_from_zone_entry(
            made.stdout.decode())}) as server:
        verified = subprocess.run([congvu, "dkim", "verify", "--dns", server.address],
                                  input=signed.stdout, capture_output=True, env=env,
                                  timeout=60, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert b"dkim=pass" in verified.stdout
