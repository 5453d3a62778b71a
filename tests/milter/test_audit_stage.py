"""Every message the filter handles leaves one audit record with its completion."""

from __future__ import annotations

import shutil
import smtplib
import sqlite3
import subprocess
from email.message import EmailMessage

import pytest

from audit import AuditLog
from audit.query import Filters
from milter.pipeline import Pipeline, StageKind
from milter.replies import R451_AUDIT

PE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def message(filename: str, data: bytes, subject: str = "Công văn số 7") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sở Tài chính <sotc@binhthuan.gov.vn>"
    msg["To"] = "vanphong@binhthuan.gov.vn"
    msg["Subject"] = subject
    msg["Message-ID"] = "<audit@binhthuan.gov.vn>"
    msg.set_content("Nội dung.\n")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def records(running) -> list:
    store = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        return store.query(Filters(page_size=100)).items
    finally:
        store.close()


def test_relayed_rejected_and_quarantined_each_leave_one_record(filter_server, next_hop) -> None:
    running = filter_server()
    client = running.client()
    client.sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], message("Báo cáo.pdf", PDF))
    next_hop.get()
    with pytest.raises(smtplib.SMTPDataError):
        client.sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], message("x.exe", PE))
    client.sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"],
                    message("m.docm", b"PK\x03\x04" + b"\x00" * 100))
    found = sorted(records(running), key=lambda r: r.id)
    assert [(r.action, r.outcome) for r in found] == [
        ("accept", "relayed"), ("reject", "rejected"), ("quarantine", "quarantined"),
    ]
    first = found[0]
    assert first.subject == "Công văn số 7"
    assert first.header_from == "Sở Tài chính <sotc@binhthuan.gov.vn>"
    assert first.attachments == 1
    store = AuditLog.open_readonly(running.server.config.audit.path)
    try:
        full = store.show(first.id)
        [trace] = store.trace(__import__("hashlib").sha256(PDF).hexdigest())
    finally:
        store.close()
    assert "Báo cáo.pdf" in str(full)
    assert trace is not None


def _refused_with_451(running, next_hop) -> None:
    client = running.client()
    client.mail("sotc@binhthuan.gov.vn")
    client.rcpt("a@b.vn")
    code, text = client.data(message("a.pdf", PDF))
    assert (code, text.decode()) == (R451_AUDIT.code, f"{R451_AUDIT.enhanced} {R451_AUDIT.text}")
    next_hop.assert_empty()


def test_locked_audit_store_gives_451_and_nothing_is_relayed(filter_server, next_hop) -> None:
    running = filter_server(audit={"busy_timeout_ms": 100})
    locker = sqlite3.connect(running.server.config.audit.path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        _refused_with_451(running, next_hop)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    # Once the lock is gone, Postfix's retry goes through.
    running.client().sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], message("a.pdf", PDF))
    assert next_hop.get().recipients == ["a@b.vn"]


@pytest.mark.skipif(shutil.which("chattr") is None, reason="LOUD SKIP: chattr (e2fsprogs) missing")
def test_read_only_audit_store_gives_451_and_nothing_is_relayed(filter_server, next_hop) -> None:
    running = filter_server()
    running.client().sendmail("sotc@binhthuan.gov.vn", ["a@b.vn"], message("a.pdf", PDF))
    next_hop.get()
    path = running.server.config.audit.path
    # File modes do not stop root; the immutable attribute does. (Not on the -shm
    # file: SQLite maps it into memory, and a write there would be a SIGBUS.)
    files = [p for p in (path, path.with_name(path.name + "-wal")) if p.exists()]
    made = subprocess.run(["chattr", "+i", *map(str, files)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"LOUD SKIP: this file system refuses chattr +i: {made.stderr!r}")
    try:
        _refused_with_451(running, next_hop)
    finally:
        subprocess.run(["chattr", "-i", *map(str, files)], check=True)


class _Exploding:
    """A stage that fails as a bug would (a test-only stage, plugged through the seam)."""

    name = "exploding"
    kind = StageKind.VERIFY  # first: nothing has decided yet

    async def run(self, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")


def test_a_message_our_bug_defers_still_gets_its_record(filter_server, next_hop) -> None:

    running = filter_server()
    runtime = running.server.runtime
    object.__setattr__(runtime, "pipeline", Pipeline([_Exploding(), *runtime.pipeline.stages]))
    client = running.client()
    client.mail("sotc@binhthuan.gov.vn")
    client.rcpt("a@b.vn")
    code, text = client.data(message("a.pdf", PDF))
    assert code == 451 and b"Temporary failure in the filter" in text
    next_hop.assert_empty()
    [record] = records(running)
    assert (record.action, record.outcome) == ("tempfail", "tempfailed")


def test_a_hold_that_fails_is_recorded_as_tempfailed(filter_server, next_hop) -> None:
    running = filter_server()
    objects = running.server.config.policies.quarantine.path / "objects"
    shutil.rmtree(objects, ignore_errors=True)
    objects.write_bytes(b"")  # where the held bytes go is not a directory: the hold fails
    client = running.client()
    client.mail("sotc@binhthuan.gov.vn")
    client.rcpt("a@b.vn")
    code, text = client.data(message("m.docm", b"PK\x03\x04" + b"\x00" * 100))
    assert (code, text) == (451, b"4.3.0 Chua cach ly duoc thu, hay thu lai sau / Cannot hold the "
                            b"message now, try again later")
    next_hop.assert_empty()
    [record] = records(running)
    # the client keeps the message and Postfix tries again: nothing is held
    assert (record.action, record.outcome) == ("quarantine", "tempfailed")
