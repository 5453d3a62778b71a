"""Held messages released through the signing stages to the next hop, audited."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from audit import AuditLog
from congvu.cli import main
from policies import Quarantine
from signer import DkimVerifier, DnsResolver
from signer.keys import Algorithm
from support.dkim import make_key
from support.dns import DnsServer

DOMAIN = "sotc.binhthuan.gov.vn"


def held_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"vanthu@{DOMAIN}"
    msg["To"] = "ubnd@binhthuan.gov.vn"
    msg["Subject"] = "Báo cáo có macro"
    msg["Message-ID"] = f"<held@{DOMAIN}>"
    msg.set_content("Xem tệp.\n")
    msg.add_attachment(b"PK\x03\x04" + b"\x00" * 100, maintype="application",
                       subtype="vnd.ms-word.document.macroEnabled.12", filename="bao cao.docm")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


@pytest.fixture
def setup(tmp_path: Path, filter_server, next_hop):
    dns = DnsServer()
    dns.start()
    (tmp_path / "dkim").mkdir()
    key = make_key(tmp_path / "dkim", "s1", Algorithm.RSA_SHA256)
    dns.add_txt(f"s1._domainkey.{DOMAIN}", key.record)
    toml = tmp_path / "congvu.toml"
    toml.write_text(f"""
[service]
data_dir = "{tmp_path / 'var'}"
[[listeners]]
name = "out"
role = "outbound"
port = 0
[next_hop]
kind = "smtp"
port = {next_hop.port}
[[signer.dkim.keys]]
domain = "{DOMAIN}"
selector = "s1"
key_file = "{key.path}"
algorithm = "rsa-sha256"
""", encoding="utf-8")
    from congvu.config import load_config

    running = filter_server(load_config(toml))
    yield running, toml, dns
    dns.stop()


def _hold(running) -> str:
    client = running.client()
    client.mail(f"vanthu@{DOMAIN}")
    client.rcpt("ubnd@binhthuan.gov.vn")
    code, text = client.data(held_message())
    assert code == 250 and b"held in quarantine" in text
    return text.decode().rsplit(" ", 1)[-1].strip("()")


def test_release_signs_relays_audits_and_unholds(setup, next_hop) -> None:
    running, toml, dns = setup
    qid = _hold(running)
    next_hop.assert_empty()
    refused = CliRunner().invoke(main, ["quarantine", "release", "--config", str(toml), qid])
    assert refused.exit_code == 2
    assert ("a reason is required to release or delete a held message (it goes into the "
            "audit log with the act): add --reason \"why you release it\"") in refused.stderr
    result = CliRunner().invoke(main, ["quarantine", "release", "--config", str(toml),
                                       "--reason", "sender confirmed\tby phone",
                                       "--actor", "admin1", qid],
                                env={"SUDO_USER": "nguyenvana"})
    assert result.exit_code == 0, result.output
    assert f"released {qid}: 250" in result.output
    delivered = next_hop.get()
    assert delivered.recipients == ["ubnd@binhthuan.gov.vn"]
    assert delivered.content.startswith(b"DKIM-Signature: ")
    results = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=2)).verify(
        delivered.content)
    assert [r.result.value for r in results] == ["pass"]
    config = running.server.config
    store = Quarantine(config.policies.quarantine.path)
    assert store.list() == []
    store.close()
    log = AuditLog.open_readonly(config.audit.path)
    try:
        [event] = [e for e in log.admin_events() if e["kind"] == "quarantine-release"]
    finally:
        log.close()
    assert (event["actor"], event["target"], event["details"]["reason"]) == (
        "nguyenvana for admin1", qid, "sender confirmed by phone")


def test_delete_is_audited_and_unknown_ids_are_errors(setup, next_hop) -> None:
    running, toml, _ = setup
    qid = _hold(running)
    runner = CliRunner()
    assert runner.invoke(main, ["quarantine", "delete", "--config", str(toml),
                                "--reason", " ", qid]).exit_code == 2
    deleted = runner.invoke(main, ["quarantine", "delete", "--config", str(toml),
                                   "--reason", "spam", qid], env={"SUDO_USER": "nguyenvana"})
    assert deleted.exit_code == 0, deleted.output
    missing = runner.invoke(main, ["quarantine", "release", "--config", str(toml),
                                   "--reason", "x", qid])
    assert missing.exit_code == 1
    assert qid in missing.output
    log = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        events = [(e["kind"], e["actor"], e["details"]["reason"]) for e in log.admin_events()]
    finally:
        log.close()
    assert events == [("quarantine-delete", "nguyenvana", "spam")]
    next_hop.assert_empty()
