"""Quarantine expiry (audited) and held-message notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from audit import AuditLog
from milter.housekeeping import expire_quarantine
from policies import Action, Decision, Quarantine


def _macro_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "vanthu@binhthuan.gov.vn"
    msg["To"] = "ubnd@example.org"
    msg["Subject"] = "Báo cáo"
    msg.set_content("Xem tệp.\n")
    msg.add_attachment(b"PK\x03\x04" + b"\x00" * 100, maintype="application",
                       subtype="octet-stream", filename="bao cao.docm")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def test_expired_messages_are_deleted_and_audited(filter_config) -> None:
    config = filter_config()
    store = Quarantine(config.policies.quarantine.path, retention_days=30)
    old = store.put(b"Subject: old\r\n\r\nx\r\n", envelope_from="a@b.vn", recipients=["c@d.vn"],
                    direction="outbound", unit_id="sotc",
                    decision=Decision(Action.QUARANTINE),
                    now=datetime.now(UTC) - timedelta(days=31))
    fresh = store.put(b"Subject: new\r\n\r\ny\r\n", envelope_from="a@b.vn",
                      recipients=["c@d.vn"], direction="outbound", unit_id="sotc",
                      decision=Decision(Action.QUARANTINE))
    store.close()
    assert expire_quarantine(config) == [str(old)]
    store = Quarantine(config.policies.quarantine.path)
    try:
        assert [str(e.id) for e in store.list()] == [str(fresh)]
    finally:
        store.close()
    log = AuditLog.open_readonly(config.audit.path)
    try:
        [deleted] = log.admin_events()
    finally:
        log.close()
    assert (deleted["kind"], deleted["target"], deleted["actor"]) == (
        "quarantine-delete", str(old), "system (retention)")


def test_held_notice_goes_to_the_sender_with_the_null_reverse_path(filter_server,
                                                                  next_hop) -> None:
    running = filter_server(policies={"quarantine": {"notify": True}})
    client = running.client()
    client.mail("vanthu@binhthuan.gov.vn")
    client.rcpt("ubnd@example.org")
    code, text = client.data(_macro_message())
    assert code == 250 and b"held in quarantine" in text
    notice = next_hop.get()
    assert notice.mail_from == "<>"
    assert notice.recipients == ["vanthu@binhthuan.gov.vn"]
    assert b"Subject: =?utf-8?" in notice.content or b"Message held" in notice.content
    assert b"Auto-Submitted: auto-generated" in notice.content
    next_hop.assert_empty()  # the held message itself is not relayed
