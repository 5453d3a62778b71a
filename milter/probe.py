"""``congvu probe``: the health check a monitoring system runs (Nagios plugin convention).

It sends a canary message from a test mailbox through the real Postfix submission
port, reads it back over IMAP (imapclient), checks that it arrived policy-checked,
DKIM- and S/MIME-signed (both verified at the mailbox, with signer's verifiers and the
configured resolver and trust anchors) and audited (its record found by Message-ID in
the audit store, opened read-only), then deletes it. It prints one line and exits
0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (usage or configuration errors), with the round
trip time as performance data. Passwords are read from files, never from
the TOML.
"""

from __future__ import annotations

import datetime as dt
import secrets
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from mailbase import UnsafeFileError
from mailbase import read_secret as private_secret
from milter.config import ProbeConfig

if TYPE_CHECKING:
    from imapclient import IMAPClient  # type: ignore[import-untyped]

    from audit import RecordSummary
    from milter.settings import Settings

IO_TIMEOUT = 30.0  # seconds for any one SMTP or IMAP reply; probe.timeout bounds arrival


class Status(IntEnum):
    """The Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


class ProbeFailure(Exception):
    """The probe stopped early with ``status`` and a one-line reason."""

    def __init__(self, status: Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What the probe found: the status, the one-line explanation, the round trip."""

    status: Status
    summary: str
    seconds: float | None = None

    def line(self, warning: float, critical: float) -> str:
        """The plugin output line, with performance data after ``|``."""
        text = f"CONGVU {self.status.name} - {self.summary}"
        if self.seconds is not None:
            text += f" | rtt={self.seconds:.3f}s;{warning:g};{critical:g};0"
        return text


def read_secret(path: Path | None, what: str) -> str:
    """A password from a private file (first line), checked as every key is
    (mailbase.read_secret: mode, owner, the directories that hold it).

    :raises ProbeFailure: UNKNOWN when unset, unreadable or not private.
    """
    if path is None:
        raise ProbeFailure(Status.UNKNOWN, f"probe.{what} is not set")
    try:
        text = private_secret(path).decode("utf-8")
    except UnsafeFileError as exc:
        raise ProbeFailure(Status.UNKNOWN, f"probe.{what} {path}: {exc.reason}") from exc
    except UnicodeDecodeError as exc:
        raise ProbeFailure(Status.UNKNOWN, f"probe.{what} {path}: not UTF-8 text ({exc})"
                           ) from exc
    return text.splitlines()[0] if text.strip() else ""


def canary(probe: ProbeConfig, *, now: dt.datetime | None = None) -> tuple[str, bytes]:
    """A new canary message and its Message-ID."""
    domain = probe.from_address.rpartition("@")[2] or "localhost"
    token = secrets.token_hex(8)
    message_id = f"<congvu-probe-{token}@{domain}>"
    msg = EmailMessage()
    msg["From"] = probe.from_address
    msg["To"] = probe.to_address
    msg["Subject"] = f"congvu probe {token}"
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = message_id
    msg.set_content("Thư kiểm tra tự động của congvu (congvu probe); "
                    "nó sẽ tự xoá.\nAn automatic congvu probe; it deletes itself.\n")
    return message_id, msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _tls_context(probe: ProbeConfig) -> ssl.SSLContext:
    return ssl.create_default_context(
        cafile=str(probe.tls_ca_file) if probe.tls_ca_file else None)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def submit(probe: ProbeConfig, password: str, raw: bytes) -> None:
    """Send the canary through the submission service.

    :raises ProbeFailure: CRITICAL when it cannot be sent.
    """
    where = f"submission {probe.submission_host}:{probe.submission_port}"
    try:
        client: smtplib.SMTP
        if probe.submission_tls == "implicit":
            client = smtplib.SMTP_SSL(probe.submission_host, probe.submission_port,
                                      timeout=IO_TIMEOUT, context=_tls_context(probe))
        else:
            client = smtplib.SMTP(probe.submission_host, probe.submission_port,
                                  timeout=IO_TIMEOUT)
        with client:
            if probe.submission_tls == "starttls":
                client.starttls(context=_tls_context(probe))
            client.login(probe.login, password)
            client.sendmail(probe.from_address, [probe.to_address], raw)
    except smtplib.SMTPAuthenticationError as exc:
        raise ProbeFailure(Status.CRITICAL, f"{where} refused the login {probe.login}: "
                           f"{exc.smtp_code} {_text(exc.smtp_error)}"
                           ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ProbeFailure(Status.CRITICAL, f"{where}: cannot send the canary: {exc}"
                           ) from exc


def _imap(probe: ProbeConfig, password: str) -> IMAPClient:
    from imapclient import IMAPClient  # 50 ms: only the probe pays for it

    client = IMAPClient(probe.imap_host, probe.imap_port, ssl=probe.imap_tls == "implicit",
                        ssl_context=_tls_context(probe) if probe.imap_tls == "implicit"
                        else None, timeout=IO_TIMEOUT)
    if probe.imap_tls == "starttls":
        client.starttls(_tls_context(probe))
    client.login(probe.imap_login or probe.to_address, password)
    client.select_folder("INBOX")
    return client


def _late_canaries(client: IMAPClient, probe: ProbeConfig) -> list[int]:
    """Earlier canaries that arrived after their run gave up (CRITICAL): in the mailbox
    for longer than a run waits, so no run still waiting for one is robbed of it."""
    found = client.search(["HEADER", "Message-ID", "<congvu-probe-"])
    if not found:
        return []
    # imapclient gives INTERNALDATE (the server's arrival time) as naive local time
    cutoff = dt.datetime.now() - dt.timedelta(seconds=probe.timeout)
    arrived = client.fetch(found, ["INTERNALDATE"])
    return [uid for uid, data in arrived.items() if data[b"INTERNALDATE"] < cutoff]


def fetch_and_delete(probe: ProbeConfig, password: str, message_id: str,
                     deadline: float) -> bytes:
    """Wait for the canary in the recipient's INBOX, return its bytes, and delete it
    with the canaries of earlier runs that arrived too late.

    :raises ProbeFailure: CRITICAL when IMAP fails or the canary does not arrive in time.
    """
    from imapclient.exceptions import IMAPClientError  # type: ignore[import-untyped]

    where = f"IMAP {probe.imap_host}:{probe.imap_port}"
    try:
        with _imap(probe, password) as client:
            while True:
                found = client.search(["HEADER", "Message-ID", message_id])
                if found:
                    data = client.fetch(found, ["RFC822"])
                    raw = bytes(data[found[0]][b"RFC822"])
                    client.delete_messages([*found, *_late_canaries(client, probe)])
                    client.expunge()
                    return raw
                if time.monotonic() > deadline:
                    raise ProbeFailure(Status.CRITICAL, f"canary {message_id} did not reach "
                                       f"{probe.to_address} within {probe.timeout:g} s")
                time.sleep(0.5)  # polling the mailbox at a gentle rate
                client.noop()
    except (IMAPClientError, OSError) as exc:
        raise ProbeFailure(Status.CRITICAL, f"{where}: {exc}") from exc


def _find_record(config: Settings, message_id: str, deadline: float) -> RecordSummary:
    # the audit store and the verifiers only here: the configuration imports ProbeConfig
    from audit import AuditError, AuditLog, Filters

    while True:
        try:
            with AuditLog.open_readonly(config.audit.path) as log:
                items = log.query(Filters(message_id=message_id, page_size=10)).items
        except AuditError as exc:
            raise ProbeFailure(Status.CRITICAL, f"audit store: {exc}") from exc
        done = [item for item in items if item.outcome]
        if done:
            return done[0]
        if time.monotonic() > deadline:
            raise ProbeFailure(Status.CRITICAL, f"no completed audit record for {message_id}")
        time.sleep(0.2)  # the completion commits before the filter's 250; rarely needed


def judge(config: Settings, raw: bytes, message_id: str, deadline: float
          ) -> tuple[Status, list[str]]:
    """Check the delivered canary's signatures and audit record; the worst status and
    one phrase per check."""
    from signer import DkimVerifier, DnsResolver, SignerError, SmimeVerifier

    probe = config.probe
    status, parts = Status.OK, []

    def failed(required: bool, text: str) -> None:
        nonlocal status
        status = max(status, Status.CRITICAL if required else Status.WARNING)
        parts.append(text)

    domain = probe.from_address.rpartition("@")[2].lower()
    dkim = config.signer.dkim
    resolver = DnsResolver(dkim.resolver_nameserver, port=dkim.resolver_port,
                           timeout=dkim.resolver_timeout)
    results = DkimVerifier(resolver, max_signatures=dkim.max_signatures).verify(raw)
    passing = [r for r in results if r.result.value == "pass" and (r.domain or "").lower()
               == domain]
    if passing:
        parts.append(f"DKIM pass (d={passing[0].domain}, s={passing[0].selector})")
    else:
        failed(probe.require_dkim, "DKIM " + ", ".join(
            f"{r.result.value} ({r.reason})" for r in results))
    try:
        smime = SmimeVerifier.from_config(
            config.signer.smime, store_dir=config.signer.documents.store_dir).verify(raw)
    except SignerError as exc:
        raise ProbeFailure(Status.UNKNOWN, f"signer.smime: {exc}") from exc
    if smime.status.value == "pass":
        parts.append(f"S/MIME pass ({smime.signer})")
    else:
        failed(probe.require_smime, f"S/MIME {smime.status.value} ({smime.reason})")
    if probe.require_audit:
        record = _find_record(config, message_id, deadline)
        text = (f"policy {record.action}, audit record {record.id} "
                f"({record.direction}, {record.outcome})")
        if record.action != "accept" or record.outcome != "relayed":
            failed(True, text)
        else:
            parts.append(text)
    return status, parts


def run_probe(config: Settings) -> ProbeResult:
    """Send, read back, check and delete one canary."""
    probe = config.probe
    try:
        missing = [name for name in ("login", "from_address", "to_address")
                   if not getattr(probe, name)]
        if missing:
            raise ProbeFailure(Status.UNKNOWN, "the [probe] table needs "
                               + ", ".join(f"probe.{name}" for name in missing))
        password = read_secret(probe.password_file, "password_file")
        imap_password = (read_secret(probe.imap_password_file, "imap_password_file")
                         if probe.imap_password_file else password)
        message_id, raw = canary(probe)
        start = time.monotonic()
        deadline = start + probe.timeout
        submit(probe, password, raw)
        delivered = fetch_and_delete(probe, imap_password, message_id, deadline)
        seconds = time.monotonic() - start
        status, parts = judge(config, delivered, message_id, deadline)
    except ProbeFailure as failure:
        return ProbeResult(failure.status, failure.reason)
    if status is Status.OK and seconds > probe.warning_seconds:
        status = Status.WARNING
        parts.insert(0, f"slower than {probe.warning_seconds:g} s")
    return ProbeResult(status, f"canary {message_id} delivered in {seconds:.2f} s: "
                       + "; ".join(parts), seconds)
