"""Forged provincial senders from outside, end to end: congvu before the queue on a
port-25 service refuses them during the SMTP session, so Postfix never queues them and
sends no bounce (no backscatter to the forged or the real address)."""

from __future__ import annotations

import smtplib
import uuid
from pathlib import Path

import pytest
from e2e.conftest import DOMAIN, MailSystem
from e2e.test_mail_system import records

pytestmark = pytest.mark.e2e

FORGED_FROMS = [
    f"sotc@{DOMAIN}",  # plain, unsigned
    f"sotc@(x){DOMAIN}",
    f"sotc @ {DOMAIN}",
    "sotc@ｂｉｎｈｔｈｕａｎ.gov.vn",
    "sotc@binhthuan。gov.vn",
    "=?utf-8?q?sotc=40binhthuan.gov.vn?= <attacker@example.org>",
    f'"sotc@{DOMAIN}" <attacker@example.org>',
    f"attacker@example.org, sotc@{DOMAIN}",
]


def _queued(system: MailSystem) -> list[Path]:
    queue = system.postfix.queue
    return [path for name in ("incoming", "active", "deferred", "hold", "maildrop")
            for path in (queue / name).rglob("*") if path.is_file()]


def _message(sender_header: str, message_id: str) -> bytes:
    return (f"From: {sender_header}\r\nTo: ubnd@{DOMAIN}\r\nSubject: Cong van gia\r\n"
            f"Message-ID: {message_id}\r\n\r\nChuyen khoan gap.\r\n").encode()


@pytest.mark.parametrize("sender_header", FORGED_FROMS)
def test_a_forgery_is_refused_in_the_session_and_nothing_bounces(
        mail_system: MailSystem, sender_header: str) -> None:
    message_id = f"<{uuid.uuid4().hex}@example.org>"
    with (smtplib.SMTP("127.0.0.1", mail_system.before_queue_port, timeout=60) as client,
          pytest.raises(smtplib.SMTPDataError) as refused):
        client.sendmail("attacker@example.org", [f"ubnd@{DOMAIN}"],
                        _message(sender_header, message_id))
    assert refused.value.smtp_code == 550
    assert b"forged provincial sender" in refused.value.smtp_error
    # A clean message sent after it on the same path arrives: by then Postfix has
    # handled anything the forgery could have left; nothing of it is queued or delivered.
    sentinel = f"<{uuid.uuid4().hex}@example.org>"
    with smtplib.SMTP("127.0.0.1", mail_system.before_queue_port, timeout=60) as client:
        client.sendmail("friend@example.org", [f"ubnd@{DOMAIN}"],
                        _message("friend@example.org", sentinel))
    mail_system.wait_for_message(f"ubnd@{DOMAIN}", sentinel)
    assert _queued(mail_system) == []
    for user in (f"ubnd@{DOMAIN}", f"sotc@{DOMAIN}"):
        ids = [m["Message-ID"] for m in mail_system.mailbox(user)]
        assert message_id not in ids
        assert not [m for m in mail_system.mailbox(user)
                    if "Undelivered" in str(m["Subject"]) or "MAILER-DAEMON" in str(m["From"])]
    [record] = records(mail_system, message_id=message_id)
    assert (record.direction, record.action, record.outcome) == ("inbound", "reject", "rejected")
    assert record.sender_unit is None  # never sent by the unit...
    assert record.claimed_unit in ("sotc", None)  # ...only claimed
