"""``congvu auth check`` with CliRunner, and once through `congvu`."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from signer.cli.auth import auth_group
from signer.config import SignerConfig
from signer.dkim import DkimSigner, load_signing_key
from signer.keys import Algorithm
from support.dkim import DOMAIN, MESSAGE, KeyFile, make_key
from support.dns import DnsServer


def _load(path: Path | None) -> SignerConfig:
    if path is None:
        return SignerConfig()
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


def _auth(own: tuple[str, ...] = ()) -> click.Group:
    return auth_group(_load, own_domains=lambda _path: own) if own else auth_group(_load)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> KeyFile:
    return make_key(tmp_path_factory.mktemp("authcli"), "sel", Algorithm.RSA_SHA256)


@pytest.fixture(scope="module")
def dns(key: KeyFile) -> Iterator[DnsServer]:
    with DnsServer() as server:
        server.add_txt(f"sel._domainkey.{DOMAIN}", key.record)
        server.add_txt("_dmarc.example.gov.vn", "v=DMARC1; p=reject")
        server.add_txt("example.gov.vn", "v=spf1 ip4:192.0.2.0/24 -all")
        server.set_timeout("_dmarc.slow.test")
        yield server


@pytest.fixture(scope="module")
def signed(key: KeyFile) -> bytes:
    signer = DkimSigner([load_signing_key(DOMAIN, "sel", key.path)])
    return signer.sign(MESSAGE, domain=DOMAIN) + MESSAGE


def _run(dns: DnsServer, raw: bytes, *args: str, own: tuple[str, ...] = (),
         ip: str = "192.0.2.10", mail_from: str = "b@example.gov.vn") -> Result:
    return CliRunner().invoke(
        _auth(own), ["check", "--client-ip", ip, "--helo", "mail.example.gov.vn",
                     "--mail-from", mail_from, "--dns", dns.address, "--timeout", "0.5",
                     *args], input=raw)


def test_passing_message_exits_0(dns: DnsServer, signed: bytes) -> None:
    done = _run(dns, signed)
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert set(report) == {"spf", "dkim", "dmarc", "arc", "action", "own_domain_spoof", "from",
                           "authentication_results"}
    for method in ("spf", "dkim", "dmarc", "arc"):
        assert set(report[method]) >= {"result", "reason"}
    assert [report[m]["result"] for m in ("spf", "dkim", "dmarc", "arc")] == \
        ["pass", "pass", "pass", "none"]
    assert report["dmarc"]["policy"] == "reject"
    assert report["action"] == {"disposition": "accept", "reason": "dmarc=pass"}
    assert report["own_domain_spoof"] is None
    header = report["authentication_results"]
    assert header.startswith("Authentication-Results: localhost;\n\tdkim=pass ")
    assert "\n\tdmarc=pass (p=reject dis=none; aligned DKIM d=sotc.example.gov.vn and SPF " \
           "example.gov.vn) header.from=sotc.example.gov.vn;\n" in header


def test_forged_provincial_from_exits_1(dns: DnsServer) -> None:
    done = _run(dns, MESSAGE, "--own-domain", "example.gov.vn", ip="203.0.113.9",
                mail_from="x@evil.test")
    assert done.exit_code == 1, done.output
    report = json.loads(done.output)
    assert report["spf"]["result"] == "none"
    assert report["dkim"]["result"] == "none"
    assert report["dmarc"]["result"] == "fail"
    assert report["action"]["disposition"] == "reject"
    assert report["own_domain_spoof"] == ("From is the province's own domain "
                                          "sotc.example.gov.vn but no DKIM signature aligned "
                                          "with it passed")


def test_own_domains_from_the_composition(dns: DnsServer) -> None:
    done = _run(dns, MESSAGE, own=("example.gov.vn",), ip="203.0.113.9")
    assert json.loads(done.output)["own_domain_spoof"] is not None


def test_null_sender_uses_helo(dns: DnsServer, signed: bytes) -> None:
    done = _run(dns, signed, mail_from="<>")
    report = json.loads(done.output)
    assert (report["spf"]["identity"], report["spf"]["domain"]) == ("helo",
                                                                    "mail.example.gov.vn")
    assert done.exit_code == 0  # DKIM alignment alone passes DMARC


def test_dmarc_temperror_exits_1(dns: DnsServer) -> None:
    raw = MESSAGE.replace(b"vanthu@sotc.example.gov.vn", b"a@slow.test")
    done = _run(dns, raw)
    assert done.exit_code == 1
    assert json.loads(done.output)["dmarc"] == {
        "result": "temperror", "reason": "policy lookup of _dmarc.slow.test failed: timed out",
        "domain": "slow.test", "policy": None, "disposition": None}


def test_garbage_input_exits_1(dns: DnsServer) -> None:
    done = _run(dns, b"\x00\xff not a message")
    assert done.exit_code == 1
    assert json.loads(done.output)["dmarc"]["result"] == "permerror"


@pytest.mark.parametrize(("args", "message"), [
    (["--client-ip", "nope", "--helo", "h", "--mail-from", "a@b.test"],
     "--client-ip: 'nope' is not an IP address"),
    (["--client-ip", "192.0.2.1", "--helo", "h", "--mail-from", "a@b.test", "--dns", "h:0"],
     "--dns: invalid port in 'h:0'"),
    (["--client-ip", "192.0.2.1", "--helo", "h"], "Missing option '--mail-from'"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    done = CliRunner().invoke(_auth(), ["check", *args], input=b"")
    assert done.exit_code == 2
    assert message in done.output


def test_help_is_documented() -> None:
    group = _auth()
    assert group.help
    for command in group.commands.values():
        assert command.help


CONGVU = Path(sys.executable).parent / "congvu"


@pytest.mark.slow
def test_through_congvu(dns: DnsServer, signed: bytes, tmp_path: Path) -> None:
    congvu = CONGVU
    done = subprocess.run(
        [str(congvu), "auth", "check", "--client-ip", "192.0.2.10", "--helo", "h",
         "--mail-from", "b@example.gov.vn", "--dns", dns.address],
        input=signed, capture_output=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "CONGVU_VAR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dmarc"]["result"] == "pass"
