"""The archive on the real mail system: what a unit sends is kept exactly as it left
congvu (the delivered message is those bytes under Postfix's own trace headers), and
with the archive unwritable Postfix is told 451 and delivers nothing until it is."""

from __future__ import annotations

import subprocess
import time

import pytest

from archive import Archive
from audit import AuditLog
from congvu.config import load_config
from support.unwritable import unwritable

from .conftest import DOMAIN, MailSystem
from .test_mail_system import official, records, submit

pytestmark = pytest.mark.e2e


def _archived(system: MailSystem, message_id: str) -> bytes:
    """The archived bytes the record of the relayed ``message_id`` names; every other
    record of it (a deferral) names none."""
    config = load_config(system.config)
    with AuditLog.open_readonly(config.audit.path) as log:
        shown = [log.show(r.id) for r in records(system, message_id=message_id)]
    relayed = [r for r in shown if r["completions"][0]["outcome"] == "relayed"]
    assert len(relayed) == 1
    assert [r.get("archived_sha256") for r in shown if r not in relayed] == [
        None] * (len(shown) - 1)
    return Archive(config.archive.path).get(relayed[0]["archived_sha256"])


def test_what_a_unit_sends_is_archived_as_it_left(mail_system: MailSystem) -> None:
    message_id, raw = official(f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}",
                               attachment=("Báo cáo.pdf", b"%PDF-1.7\n%%EOF\n"))
    submit(mail_system, f"sotc@{DOMAIN}", f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}", raw)
    delivered = mail_system.wait_for_message(f"vanphong@{DOMAIN}", message_id)
    kept = _archived(mail_system, message_id)
    # signed (S/MIME, then DKIM) by congvu; Postfix and Dovecot only add trace lines above
    assert kept.startswith(b"DKIM-Signature:") and b"application/pkcs7-signature" in kept
    assert delivered.endswith(kept)


def test_an_unwritable_archive_defers_and_nothing_is_delivered_unarchived(
        mail_system: MailSystem) -> None:
    objects = load_config(mail_system.config).archive.path / "objects"
    message_id, raw = official(f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}",
                               subject="Công văn khi kho lưu trữ hỏng")
    log = mail_system.postfix.log
    with unwritable(objects):
        submit(mail_system, f"sotc@{DOMAIN}", f"sotc@{DOMAIN}", f"vanphong@{DOMAIN}", raw)
        deadline = time.monotonic() + 30
        while "Archive unavailable" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, (
                "Postfix never deferred the message:\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
            time.sleep(0.2)  # polling Postfix's log for the deferral, not synchronization
        with mail_system.imap(f"vanphong@{DOMAIN}") as client:
            assert client.search(["HEADER", "Message-ID", message_id]) == []
    subprocess.run(["postfix", "-c", str(mail_system.postfix.conf), "flush"], check=True,
                   capture_output=True)
    delivered = mail_system.wait_for_message(f"vanphong@{DOMAIN}", message_id, timeout=120)
    assert delivered.endswith(_archived(mail_system, message_id))
