"""``congvu probe`` against the real mail system: Postfix submission, congvu, Dovecot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from congvu.cli import main

from .conftest import DOMAIN, PASSWORD, MailSystem

pytestmark = pytest.mark.e2e


def probe_config(system: MailSystem, name: str, *, sender: str = "sotc",
                 to: str = "vanphong", password: str = PASSWORD, timeout: int = 60,
                 extra: str = "") -> Path:
    """The e2e configuration with a [probe] table appended."""
    secret = system.work / f"{name}.password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    path = system.work / f"{name}.toml"
    path.write_text(system.config.read_text("utf-8") + f"""
[probe]
submission_port = {system.submission_port}
submission_tls = "none"
login = "{sender}@{DOMAIN}"
password_file = "{secret}"
from_address = "{sender}@{DOMAIN}"
to_address = "{to}@{DOMAIN}"
imap_port = {system.dovecot.imap_port}
imap_tls = "none"
timeout = {timeout}
{extra}
""", encoding="utf-8")
    return path


def probe(config: Path) -> Result:
    return CliRunner().invoke(main, ["probe", "--config", str(config)])


def test_the_canary_goes_round_signed_audited_and_is_deleted(mail_system: MailSystem) -> None:
    result = probe(probe_config(mail_system, "ok"))
    assert result.exit_code == 0, result.output
    line = result.stdout.rstrip("\n")  # stderr names the configuration
    print(line)  # the round trip time, for the record
    assert "\n" not in line
    assert line.startswith("CONGVU OK - canary <congvu-probe-")
    assert f"DKIM pass (d={DOMAIN}, s=e2e); S/MIME pass (sotc@{DOMAIN}); policy accept, " \
           "audit record " in line
    assert "(outbound, relayed) | rtt=" in line
    assert line.endswith(";20;60;0")
    message_id = line.split("canary ", 1)[1].split(" ", 1)[0]
    subjects = [m["Message-ID"] for m in mail_system.mailbox(f"vanphong@{DOMAIN}")]
    assert message_id not in subjects  # deleted after reading


def test_a_sender_without_smime_is_a_warning_when_smime_is_not_required(
        mail_system: MailSystem) -> None:
    config = probe_config(mail_system, "nosmime", sender="ubnd", extra="require_smime = false")
    result = probe(config)
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("CONGVU WARNING - canary ")
    assert f"DKIM pass (d={DOMAIN}, s=e2e); S/MIME none" in result.output


def test_a_wrong_password_is_critical(mail_system: MailSystem) -> None:
    result = probe(probe_config(mail_system, "badpw", password="sai-mat-khau"))
    assert result.exit_code == 2
    assert result.stdout.startswith(
        f"CONGVU CRITICAL - submission 127.0.0.1:{mail_system.submission_port} refused the "
        f"login sotc@{DOMAIN}: 535 ")


def test_a_canary_that_never_arrives_is_critical(mail_system: MailSystem) -> None:
    # Sent to ubnd, looked for in vanphong's INBOX: it never shows up there.
    config = probe_config(mail_system, "lost", to="ubnd", timeout=3,
                          extra=f'imap_login = "vanphong@{DOMAIN}"')
    result = probe(config)
    assert result.exit_code == 2, result.output
    assert result.stdout.startswith("CONGVU CRITICAL - canary <congvu-probe-")
    assert result.stdout.endswith(f"did not reach ubnd@{DOMAIN} within 3 s\n")


def test_a_canary_that_arrived_too_late_is_deleted_by_the_next_run(
        mail_system: MailSystem) -> None:
    # one that came after its run gave up, and one a run still waits for (just arrived)
    late = "<congvu-probe-late@binhthuan.gov.vn>"
    waited_for = "<congvu-probe-inflight@binhthuan.gov.vn>"
    with mail_system.imap(f"vanphong@{DOMAIN}") as client:
        for message_id, arrived in ((late, dt.datetime.now() - dt.timedelta(minutes=10)),
                                    (waited_for, dt.datetime.now())):
            client.append("INBOX", f"From: sotc@{DOMAIN}\r\nMessage-ID: {message_id}\r\n"
                          "Subject: congvu probe\r\n\r\nbody\r\n".encode(), msg_time=arrived)
    result = probe(probe_config(mail_system, "sweep", timeout=60))
    assert result.exit_code == 0, result.output
    left = {m["Message-ID"] for m in mail_system.mailbox(f"vanphong@{DOMAIN}")}
    assert late not in left
    assert waited_for in left


def test_doctor_finds_no_error_in_the_running_mail_system(mail_system: MailSystem) -> None:
    result = CliRunner().invoke(main, [
        "doctor", "--config", str(mail_system.config),
        "--postfix-config", str(mail_system.postfix.conf), "--server-ip", "127.0.0.1"])
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert errors == []
    assert result.exit_code in (0, 1), result.output  # the test zone has no SPF/DMARC
    assert "OK      signer.dkim.keys[0]: selector e2e: e2e._domainkey." in result.output
    assert f"next_hop: smtp 127.0.0.1:{mail_system.reinjection_port} answers 250" \
        in result.output
    assert "master.cf 127.0.0.1:" in result.output  # submission's override, to congvu
    assert "clears content_filter and allows XFORWARD" in result.output
