"""Faults on the real mail system: nothing is lost, nothing is delivered unaudited."""

from __future__ import annotations

import re
import smtplib
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from audit import AuditLog
from audit.query import Filters
from congvu.config import load_config
from support.process import ServeProcess

from .conftest import DOMAIN, MailSystem

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RECIPIENT = f"vanphong@{DOMAIN}"


def _message(message_id: str) -> bytes:
    return (f"From: someone@example.org\r\nTo: {RECIPIENT}\r\nSubject: tai {message_id}\r\n"
            f"Message-ID: {message_id}\r\nDate: Thu, 26 Nov 2026 09:00:00 +0700\r\n\r\n"
            "Noi dung.\r\n").encode()


def _send_many(system: MailSystem, ids: list[str], connections: int = 10) -> None:
    def worker(chunk: list[str]) -> None:
        with smtplib.SMTP("127.0.0.1", system.smtp_port, timeout=60) as client:
            for message_id in chunk:
                client.sendmail("someone@example.org", [RECIPIENT], _message(message_id))

    threads = [threading.Thread(target=worker, args=(ids[i::connections],))
               for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def _delivered_ids(system: MailSystem) -> list[str]:
    with system.imap(RECIPIENT) as client:
        found = client.search()
        if not found:
            return []
        headers = client.fetch(found, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    text = b"".join(data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"] for data in headers.values())
    return re.findall(r"<[^>]+>", text.decode())


def _wait_delivered(system: MailSystem, ids: set[str], timeout: float = 120,
                    *, flush_every: float | None = None) -> list[str]:
    deadline = time.monotonic() + timeout
    flushed = time.monotonic()
    while True:
        delivered = _delivered_ids(system)
        if ids <= set(delivered) or time.monotonic() > deadline:
            return delivered
        if flush_every is not None and time.monotonic() - flushed > flush_every:
            # a message Postfix deferred again (its backoff grew while the next hop was
            # down) waits for the next queue run; ask for it instead of waiting it out
            _flush(system)
            flushed = time.monotonic()
        time.sleep(0.5)  # polling the mailbox while Postfix retries, not synchronization


def _flush(system: MailSystem) -> None:
    subprocess.run(["postfix", "-c", str(system.postfix.conf), "flush"], check=True,
                   capture_output=True)


def _relayed_ids(system: MailSystem) -> set[str]:
    log = AuditLog.open_readonly(load_config(system.config).audit.path)
    try:
        return {record["message_id"] for record in log.records(Filters(outcome="relayed"))}
    finally:
        log.close()


def _restart_filter(system: MailSystem) -> None:
    # the mail_system fixture stops the filter it holds at the end: this one
    system.filter = ServeProcess(system.config, workers=2)
    system.filter.wait_for("worker ready")


def test_sigkill_with_500_in_flight_loses_nothing(mail_system: MailSystem) -> None:
    ids = [f"<kill-{n}-{uuid.uuid4().hex[:8]}@example.org>" for n in range(500)]
    sender = threading.Thread(target=_send_many, args=(mail_system, ids))
    sender.start()
    mail_system.filter.wait_for("message")  # the filter is busy with this load
    mail_system.filter.kill_all()
    sender.join(timeout=120)
    _restart_filter(mail_system)
    delivered = _wait_delivered(mail_system, set(ids))
    assert set(ids) - set(delivered) == set()  # duplicates allowed, none missing
    # Every delivered message has its audit record (relayed).
    assert set(delivered) - _relayed_ids(mail_system) == set()


def _reload_with(system: MailSystem, master_cf: str) -> None:
    (system.postfix.conf / "master.cf").write_text(master_cf, encoding="utf-8")
    subprocess.run(["postfix", "-c", str(system.postfix.conf), "reload"], check=True,
                   capture_output=True)


def _without_reinjection(master_cf: str, port: int) -> str:
    """master.cf with the reinjection service (and its -o lines) commented out."""
    service = re.compile(rf"(?m)^127\.0\.0\.1:{port} inet[^\n]*\n(?:[ \t]+-o[^\n]*\n)*")
    return service.sub(lambda m: re.sub(r"(?m)^", "#", m.group(0)[:-1]) + "\n", master_cf)


def test_reinjection_down_for_20_seconds_defers_then_delivers(mail_system: MailSystem) -> None:
    ids = [f"<down-{n}-{uuid.uuid4().hex[:8]}@example.org>" for n in range(5)]
    original = (mail_system.postfix.conf / "master.cf").read_text(encoding="utf-8")
    down = _without_reinjection(original, mail_system.reinjection_port)
    assert down != original
    _reload_with(mail_system, down)
    try:
        deadline = time.monotonic() + 20
        while True:  # wait until Postfix's master really closed the port
            try:
                socket.create_connection(
                    ("127.0.0.1", mail_system.reinjection_port), timeout=1).close()
            except OSError:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)  # waiting for Postfix's reload, not synchronization
        _send_many(mail_system, ids, connections=1)
        time.sleep(20)  # a 20-second outage of the next hop
        assert set(ids) & set(_delivered_ids(mail_system)) == set()
    finally:
        _reload_with(mail_system, original)
    _flush(mail_system)
    delivered = _wait_delivered(mail_system, set(ids), flush_every=10)
    assert set(ids) - set(delivered) == set()


@pytest.mark.skipif(subprocess.run(["which", "chattr"], capture_output=True).returncode != 0,
                    reason="LOUD SKIP: chattr (e2fsprogs) missing")
def test_read_only_audit_store_defers_and_nothing_is_delivered_unaudited(
    mail_system: MailSystem,
) -> None:
    path = load_config(mail_system.config).audit.path
    files = [str(p) for p in (path, Path(str(path) + "-wal")) if p.exists()]
    ids = [f"<ro-{n}-{uuid.uuid4().hex[:8]}@example.org>" for n in range(3)]
    subprocess.run(["chattr", "+i", *files], check=True)
    try:
        _send_many(mail_system, ids, connections=1)
        # The filter answers 451 and Postfix defers: see the refusal in Postfix's log
        # (after the first one Postfix may hold the rest back without asking again).
        deadline = time.monotonic() + 30
        log = mail_system.postfix.log
        while "Audit log unavailable" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, (
                "Postfix never deferred the messages:\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))
            time.sleep(0.2)  # polling Postfix's log for the deferrals, not synchronization
        assert set(ids) & set(_delivered_ids(mail_system)) == set()
    finally:
        subprocess.run(["chattr", "-i", *files], check=True)
    _flush(mail_system)
    delivered = _wait_delivered(mail_system, set(ids), flush_every=10)
    assert set(ids) - set(delivered) == set()
    assert set(ids) - _relayed_ids(mail_system) == set()
