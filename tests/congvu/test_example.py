"""`congvu example load` and the try-out province it writes: the README's try-it
message goes out signed and attributed to its unit, and a forged one is refused."""

from __future__ import annotations

import json
import smtplib
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from audit import AuditLog
from audit.query import Filters
from congvu.cli import main
from congvu.config import CongvuConfig, parse_config, web_settings
from congvu.example import DKIM_RECORD, DOMAIN, OUTSIDER, SELECTOR
from signer import AuthResult, DkimVerifier, SmimeStatus, SmimeVerifier
from support.dns import DnsServer
from support.documents import plain_pdf, sign_pdf
from support.pki import Issued
from web import UserStore

TRY_IT = (b"From: stc@tinh-vi-du.test\r\nTo: vanphong@tinh-vi-du.test\r\n"
          b"Subject: Cong van so 12/STC\r\n\r\nKinh gui Van phong UBND tinh.\r\n")
FORGED = (b"From: stc@tinh-vi-du.test\r\nTo: vanphong@tinh-vi-du.test\r\n"
          b"Subject: Chuyen tien gap\r\n\r\nChuyen tien ngay.\r\n")


def _load(var: Path) -> Any:
    return CliRunner().invoke(main, ["example", "load"], env={"CONGVU_VAR": str(var)})


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The example loaded once through the CLI: its data directory and the password."""
    var = tmp_path_factory.mktemp("example") / "var"
    result = _load(var)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "user admin" in line]
    return var, line.split("password ")[1].strip()


def _config(var: Path, dns: DnsServer) -> CongvuConfig:
    """example.toml as written, on port 0 and with DNS lookups kept on loopback."""
    data = tomllib.loads((var / "example.toml").read_text(encoding="utf-8"))
    for listener in data["listeners"]:
        listener["port"] = 0
    data["signer"]["dkim"].update(resolver_nameserver="127.0.0.1", resolver_port=dns.port,
                                  resolver_timeout=2)
    return parse_config(data, source="example.toml")


def test_load_writes_the_province_once_and_says_so_again(loaded: tuple[Path, str]) -> None:
    var, password = loaded
    assert sorted(p.name for p in var.parent.iterdir()) == ["var"]  # no staging left
    config_text = (var / "example.toml").read_text(encoding="utf-8")
    assert f'data_dir = "{var}"' in config_text and "TRYING CONGVU OUT ONLY" in config_text
    assert (var / f"dkim/{SELECTOR}.{DOMAIN}.pem").stat().st_mode & 0o077 == 0
    again = _load(var)
    assert again.exit_code == 0
    assert "already loaded" in again.output and f"rm -rf {var}" in again.output
    assert password not in again.output
    settings = web_settings(parse_config({"service": {"data_dir": str(var)}}))
    with UserStore(settings.users_path) as users:
        admin = users.authenticate("admin", password)
    assert admin is not None and admin.is_admin


def test_load_refuses_a_data_directory_holding_something_else(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "audit.sqlite3").write_bytes(b"")
    result = _load(tmp_path / "var")
    assert result.exit_code == 2
    assert "holds another setup's state" in result.output
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["audit.sqlite3"]


def test_try_it_goes_out_signed_and_attributed_and_a_forgery_is_refused(
        loaded: tuple[Path, str], filter_server: Callable[..., Any]) -> None:
    var, _ = loaded
    with DnsServer() as dns:
        config = _config(var, dns)
        running = filter_server(config)
        ports = running.server.ports
        with smtplib.SMTP("127.0.0.1", ports["outbound"], timeout=20) as client:
            client.sendmail("stc@tinh-vi-du.test", ["vanphong@tinh-vi-du.test"], TRY_IT)
        with smtplib.SMTP("127.0.0.1", ports["inbound"], timeout=20) as client, \
                pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(OUTSIDER, ["vanphong@tinh-vi-du.test"], FORGED)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(
        b"5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / Message refused as a forged "
        b"provincial sender (From is the province's own domain tinh-vi-du.test")

    [delivered] = [p.read_bytes() for p in (config.next_hop.maildir / "new").iterdir()]
    # No DNS serves tinh-vi-du.test: the verifier reads the record the example wrote.
    record = (var / DKIM_RECORD).read_text(encoding="ascii").strip().encode()
    records = {f"{SELECTOR}._domainkey.{DOMAIN}": [record]}
    [dkim] = DkimVerifier(lambda name: records.get(name, [])).verify(delivered)
    assert (dkim.result, dkim.domain) == (AuthResult.PASS, DOMAIN)
    smime = SmimeVerifier.from_config(config.signer.smime).verify(delivered)
    assert (smime.status, smime.signer) == (SmimeStatus.PASS, "stc@tinh-vi-du.test")

    with AuditLog.open_readonly(config.audit.path) as log:
        items = log.query(Filters()).items
    by_sender = {item.envelope_sender: item for item in items}
    sent, forged = by_sender["stc@tinh-vi-du.test"], by_sender[OUTSIDER]
    assert (sent.direction, sent.sender_unit, sent.outcome, sent.dkim, sent.smime) == (
        "outbound", "so-tai-chinh", "relayed", "pass", "pass")
    assert (forged.direction, forged.sender_unit, forged.claimed_unit, forged.outcome) == (
        "inbound", None, "so-tai-chinh", "rejected")


def test_a_document_a_try_out_unit_signs_verifies_valid_with_revocation_good(
        loaded: tuple[Path, str], tmp_path: Path) -> None:
    # Revocation is required by default: the try-out CA's own CRL must answer it,
    # with no fetching (the example's certificates name no distribution point).
    var, _ = loaded
    smime = var / "smime"
    key = load_pem_private_key((smime / "so-tai-chinh.key").read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate((smime / "so-tai-chinh.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((smime / "ca.pem").read_bytes())
    signed = tmp_path / "cong-van.pdf"
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    signed.write_bytes(sign_pdf(plain_pdf(), Issued(cert, key, (ca,))))
    result = CliRunner().invoke(
        main, ["document", "verify", "--offline", "--config", str(var / "example.toml"),
               str(signed)], env={"CONGVU_VAR": str(var)})
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("{")]
    [signature] = json.loads(line)["signatures"]
    assert signature["verdict"] == "valid", signature
    assert (signature["revocation"]["status"], signature["revocation"]["method"]) == (
        "good", "crl")
