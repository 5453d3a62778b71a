"""Official mail through a real Postfix, congvu and Dovecot, read back over IMAP."""

from __future__ import annotations

import smtplib
import subprocess
import time
import uuid
from email.message import EmailMessage

import pytest

from audit import AuditLog
from audit.query import Filters
from congvu.config import load_config
from signer import DkimVerifier, DnsResolver
from support.dkim import HAS_OPENDKIM, opendkim_verify

from .conftest import DOMAIN, PASSWORD, MailSystem

pytestmark = pytest.mark.e2e

PE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200


def official(sender: str, to: str, *, subject: str = "Công văn số 45/STC",
             attachment: tuple[str, bytes] | None = None) -> tuple[str, bytes]:
    msg = EmailMessage()
    message_id = f"<{uuid.uuid4().hex}@{DOMAIN}>"
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = "Thu, 26 Nov 2026 09:00:00 +0700"
    msg.set_content("Kính gửi Văn phòng UBND tỉnh,\nSở Tài chính gửi công văn.\n")
    if attachment is not None:
        msg.add_attachment(attachment[1], maintype="application", subtype="octet-stream",
                           filename=attachment[0])
    return message_id, msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def submit(system: MailSystem, login: str, sender: str, to: str, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", system.submission_port, timeout=30) as client:
        client.login(login, PASSWORD)
        client.sendmail(sender, [to], raw)


def records(system: MailSystem, **filters: object) -> list:
    config = load_config(system.config)
    log = AuditLog.open_readonly(config.audit.path)
    try:
        return log.query(Filters(page_size=500, **filters)).items  # type: ignore[arg-type]
    finally:
        log.close()


def test_unit_to_unit_mail_is_signed_delivered_and_audited(mail_system: MailSystem) -> None:
    message_id, raw = official(f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}")
    submit(mail_system, f"sotc@{DOMAIN}", f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}", raw)
    delivered = mail_system.wait_for_message(f"vanphong@{DOMAIN}", message_id)
    # DKIM verifies with our verifier and with OpenDKIM, keys read over loopback DNS.
    resolver = DnsResolver("127.0.0.1", port=mail_system.dns.port, timeout=2)
    assert [r.result.value for r in DkimVerifier(resolver).verify(delivered)] == ["pass"]
    if HAS_OPENDKIM:
        work = mail_system.work / f"opendkim-{uuid.uuid4().hex}"
        work.mkdir()
        assert "dkim=pass" in opendkim_verify(delivered, work, mail_system.dns.port)
    # S/MIME verifies with OpenSSL against the test root.
    path = mail_system.work / "delivered.eml"
    path.write_bytes(delivered)
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-CAfile", str(mail_system.pki_files.root),
         "-purpose", "smimesign", "-in", str(path), "-out", str(path) + ".content"],
        capture_output=True)
    assert done.returncode == 0, done.stderr
    # One audit record: sent by sotc, received by vanphong.
    [record] = records(mail_system, message_id=message_id)
    assert (record.sender_unit, record.direction, record.outcome) == (
        "sotc", "outbound", "relayed")
    assert (record.dkim, record.smime) == ("pass", "pass")  # both signatures made
    assert record.queue_id  # Postfix's queue id, from XFORWARD
    assert [r.id for r in records(mail_system, units=("vanphong",), message_id=message_id)] == [
        record.id]


def test_login_cannot_send_as_another_unit(mail_system: MailSystem) -> None:
    _, raw = official(f"sotc@{DOMAIN}", f"ubnd@{DOMAIN}")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        submit(mail_system, f"vanphong@{DOMAIN}", f"sotc@{DOMAIN}", f"ubnd@{DOMAIN}", raw)
    [(code, text)] = refused.value.recipients.values()
    assert code == 553 and b"not owned by user" in text


def test_inbound_forgery_gets_honest_authentication_results(mail_system: MailSystem) -> None:
    message_id, raw = official("someone@example.org", f"ubnd@{DOMAIN}")
    forged = (f"Authentication-Results: mail.{DOMAIN}; dkim=pass header.d={DOMAIN}\r\n"
              f"DKIM-Signature: v=1; a=rsa-sha256; d={DOMAIN}; s=e2e; c=relaxed/relaxed;"
              " h=from:subject; bh=AAAA; b=AAAA\r\n").encode()
    with smtplib.SMTP("127.0.0.1", mail_system.smtp_port, timeout=30) as client:
        client.sendmail("someone@example.org", [f"ubnd@{DOMAIN}"], forged + raw)
    delivered = mail_system.wait_for_message(f"ubnd@{DOMAIN}", message_id)
    head = delivered.split(b"\r\n\r\n", 1)[0].decode()
    results = [line for line in head.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")
               if line.startswith("Authentication-Results:")]
    assert len(results) == 1, results  # the forged one is gone
    assert f"Authentication-Results: mail.{DOMAIN};" in results[0]
    assert "dkim=fail" in results[0] or "dkim=permerror" in results[0]


def test_executable_is_refused_nothing_delivered_and_audited(mail_system: MailSystem) -> None:
    message_id, raw = official(f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}",
                               attachment=("cong van.pdf.exe", PE))
    submit(mail_system, f"sotc@{DOMAIN}", f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}", raw)
    # After the queue, Postfix hands it to congvu, which refuses it (Postfix then
    # bounces it to the sender): wait for the completed audit record.
    found: list = []
    deadline = time.monotonic() + 60
    while not found and time.monotonic() < deadline:
        found = [r for r in records(mail_system, message_id=message_id) if r.outcome]
        time.sleep(0.2)  # polling the audit log for the record, not synchronization
    assert found and found[0].action == "reject" and found[0].outcome == "rejected"
    assert all(m["Message-ID"] != message_id for m in mail_system.mailbox(f"vanphong@{DOMAIN}"))


def test_a_requested_success_notice_survives_the_filter(mail_system: MailSystem) -> None:
    # RFC 3461 through Postfix, congvu and Postfix again: the sender asked to be told of
    # delivery, so the notice must come back once Dovecot has the message.
    message_id, raw = official(f"sotc@{DOMAIN}", f"ubnd@{DOMAIN}", subject="Có xác nhận")
    with smtplib.SMTP("127.0.0.1", mail_system.submission_port, timeout=30) as client:
        client.login(f"sotc@{DOMAIN}", PASSWORD)
        client.sendmail(f"sotc@{DOMAIN}", [f"ubnd@{DOMAIN}"], raw,
                        mail_options=["RET=HDRS", "ENVID=congvu-e2e-1"],
                        rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    mail_system.wait_for_message(f"ubnd@{DOMAIN}", message_id)
    deadline = time.monotonic() + 60
    while True:
        notices = [m for m in mail_system.mailbox(f"sotc@{DOMAIN}")
                   if m.get_content_type() == "multipart/report"
                   and "congvu-e2e-1" in m.as_string()]
        if notices or time.monotonic() > deadline:
            break
        time.sleep(0.5)  # polling the sender's mailbox for the notice, not synchronization
    assert notices, "no delivery status notification reached the sender"
    assert "successfully delivered" in notices[0].as_string().lower() or (
        "Action: delivered" in notices[0].as_string())
