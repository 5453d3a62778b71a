"""Test helpers for web/: a data directory with a directory, an audit log, a
quarantine and users, and logged-in TestClients (real SQLite files, real argon2).

The console's settings here hash passwords at argon2's cheapest cost: the web tests
log in hundreds of times, and what they check does not depend on the cost (one test,
tests/web/test_sessions.py, holds the console to the production cost by default).
"""

from __future__ import annotations

import dataclasses
import re
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from argon2.profiles import CHEAPEST
from fastapi.testclient import TestClient

from audit import AdminEvent, AdminKind, AuditLog, Direction
from congvu.config import CongvuConfig, parse_config, web_settings
from directory import Directory
from policies import Action, Decision, Finding, Violation, open_quarantine
from support.audit import T0, make_record, sha
from web import Releaser, UserStore, WebSettings, create_app

PASSWORD = "correct horse battery"
DOMAIN = "laocai.gov.vn"
UNITS_CSV = f"""id,name,parent,address,short_name,name_en
ubnd,Ủy ban nhân dân tỉnh Lào Cai,,vanthu@ubnd.{DOMAIN},UBND tỉnh,Provincial People's Committee
stc,Sở Tài chính,ubnd,vanthu@stc.{DOMAIN},STC,Department of Finance
stc-a,Phòng Ngân sách,stc,ngansach@stc.{DOMAIN},,Budget Office
sgd,Sở Giáo dục và Đào tạo,ubnd,vanthu@sgd.{DOMAIN},SGDĐT,Department of Education
"""
XSS_SUBJECT = "<script>alert('x')</script> Bí mật SGD"
XSS_FILENAME = "<img src=x onerror=alert(1)>.pdf"
SGD_DOC = sha("sgd-secret-document")
SHARED_DOC = sha("shared-document")
HELD = (
    b"From: =?utf-8?b?VsSDbiB0aMawIDxzY3JpcHQ+?= <vanthu@stc.laocai.gov.vn>\r\n"
    b"To: vanthu@ubnd.laocai.gov.vn\r\n"
    b"Subject: <script>alert('held')</script> =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n"
    b"Message-ID: <held-1@stc.laocai.gov.vn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n<b>Kinh gui</b> UBND\r\n"
    b"--b1\r\nContent-Type: application/zip\r\n"
    b'Content-Disposition: attachment; filename="<svg onload=alert(1)>.zip"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n--b1--\r\n"
)


@dataclass
class Env:
    """One console's data: configuration, settings, and the held message's id."""

    config: CongvuConfig
    settings: WebSettings
    held: str


def cheap_settings(config: CongvuConfig) -> WebSettings:
    """The console's settings for ``config``, its password hashes at argon2's cheapest."""
    return dataclasses.replace(web_settings(config), password_hashing=CHEAPEST)


def users_of(settings: WebSettings) -> UserStore:
    """The users store of ``settings``, hashing at their cost."""
    return UserStore(settings.users_store, hashing=settings.password_hashing)


def make_env(tmp_path: Path, *, records: bool = True) -> Env:
    """Directory, audit log, quarantine and users under ``tmp_path/var``."""
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")}})
    settings = cheap_settings(config)
    with Directory.open(config.directory.path) as directory:
        directory.import_csv(UNITS_CSV, actor="test")
    with AuditLog.open(config.audit) as log:
        if records:
            fill(log)
    with open_quarantine(config.policies.quarantine) as store:
        held = store.put(HELD, envelope_from="vanthu@stc.laocai.gov.vn",
                         recipients=["vanthu@ubnd.laocai.gov.vn"], direction="outbound",
                         unit_id="stc", decision=held_decision())
    with users_of(settings) as users:
        users.add("admin", PASSWORD, is_admin=True)
        users.add("auditor-a", PASSWORD)
        users.grant("auditor-a", "stc")
        users.add("auditor-b", PASSWORD)
        users.grant("auditor-b", "sgd")
    return Env(config, settings, held)


def held_decision() -> Decision:
    violation = Violation(rule="encrypted-archive", reason="<b>cannot inspect</b>",
                          filename="<svg onload=alert(1)>.zip", part="2")
    return Decision(Action.QUARANTINE, (Finding(violation, Action.QUARANTINE, None),))


def fill(log: AuditLog) -> dict[str, int]:
    """Five records: stc->ubnd, sgd->ubnd (XSS), stc-a->sgd, ubnd->stc-a, admin event."""
    ids = {}
    ids["stc"] = log.record(make_record(subject="Công văn số 1/STC về ngân sách"))
    ids["sgd"] = log.record(make_record(
        received_at=T0 + timedelta(hours=1), sender_unit="sgd",
        envelope_sender="vanthu@sgd.laocai.gov.vn", subject=XSS_SUBJECT,
        message_id="<sgd-1@sgd>", queue_id="SGDQ1",
        attachments=[{"path": "2", "filename": XSS_FILENAME, "size": 10, "sha256": SGD_DOC,
                      "declared_type": "application/pdf"}]))
    ids["shared"] = log.record(make_record(
        received_at=T0 + timedelta(hours=2), sender_unit="stc-a",
        envelope_sender="ngansach@stc.laocai.gov.vn",
        envelope_recipients=["vanthu@sgd.laocai.gov.vn"], recipient_units=["sgd"],
        subject="Phối hợp giữa hai sở",
        attachments=[{"path": "2", "filename": "Kế hoạch.pdf", "size": 10,
                      "sha256": SHARED_DOC}]))
    ids["inbound"] = log.record(make_record(
        received_at=T0 + timedelta(hours=3), sender_unit="ubnd", direction=Direction.INBOUND,
        envelope_sender="vanthu@ubnd.laocai.gov.vn",
        envelope_recipients=["ngansach@stc.laocai.gov.vn"], recipient_units=["stc-a"],
        subject="Chỉ đạo của UBND"))
    log.admin(AdminEvent(kind=AdminKind.KEY_ROTATION, actor="system", target="dkim"))
    return ids


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def client(settings: WebSettings, *, release: Releaser | None = None) -> TestClient:
    """A client of a new console app (its own cookie jar)."""
    return TestClient(create_app(settings, release=release), base_url="http://testserver",
                      follow_redirects=False)


def login(c: TestClient, name: str, password: str = PASSWORD) -> Any:
    """Log ``c`` in; return the response to the login form."""
    token = csrf_of(c.get("/login").text)
    return c.post("/login", data={"username": name, "password": password,
                                  "csrf_token": token, "next": "/audit"})


def smtp_releaser(settings: WebSettings, host: str, port: int) -> Releaser:
    """The test seam for release: send the held bytes over SMTP to a real sink, audit
    the release and drop the message from the quarantine (milter's release also signs
    it; this stand-in does not)."""

    def release(qid: str, actor: str, reason: str) -> str:
        with open_quarantine(settings.quarantine) as store:
            entry = store.get(qid)
            raw = store.read(qid)
            with smtplib.SMTP(host, port, timeout=10) as smtp:
                refused = smtp.sendmail(entry.envelope_from, list(entry.recipients), raw)
                assert not refused
            reply = "250 2.0.0 Ok: queued as SINK"
            with AuditLog.open(settings.audit) as log:
                log.admin(AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor=actor,
                                     target=qid, unit_id=entry.unit_id,
                                     details={"reply": reply, "reason": reason}))
            store.delete(qid)
        return reply

    return release
