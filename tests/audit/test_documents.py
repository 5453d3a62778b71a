"""Document-signature verdicts in the audit store (issue 11): stored, verified, counted,
traced."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from typing import Any

import click
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import Attachment
from audit.store import AuditLog
from mailbase import parse_period, zone
from support.audit import make_record, sha

SIGNATURE: dict[str, Any] = {
    "verdict": "valid", "reason": "chained to CN=Test Root CA", "field": "Signature1",
    "format": "pades", "signer": "Nguyễn Văn A", "organisation": "Sở Tài chính",
    "subject": "CN=Nguyễn Văn A,O=Sở Tài chính,C=VN", "issuer": "CN=Test Issuing CA",
    "serial": "1001", "signing_time": "2026-11-03T02:00:00+00:00", "time_source": "claimed",
    "digest_algorithm": "sha256", "coverage": "entire-file", "modification_level": "none",
    "chain": ["CN=Nguyễn Văn A", "CN=Test Root CA"], "is_timestamp": False, "notes": [],
}


def attachment(name: str, document: str | None, signatures: list[dict[str, Any]] | None,
               path: str = "2") -> Attachment:
    return Attachment(path=path, filename=name, declared_type="application/pdf",
                      detected_type="application/pdf", size=100, sha256=sha(name),
                      document=document, signatures=signatures)


def fill(config: AuditConfig) -> None:
    with AuditLog.open(config) as log:
        log.record(make_record(attachments=[
            attachment("valid.pdf", "valid", [SIGNATURE]),
            attachment("plain.pdf", "unsigned", [], path="3"),
            attachment("photo.jpg", None, None, path="4"),
        ]))
        log.record(make_record(attachments=[
            attachment("changed.pdf", "modified-after-signing",
                       [{**SIGNATURE, "verdict": "modified-after-signing"}]),
        ]))


def test_verdicts_are_stored_chained_and_verified(audit_config: AuditConfig) -> None:
    fill(audit_config)
    with AuditLog.open(audit_config) as log:
        assert log.verify().is_intact
        record = log.show(1)
    attachments = record["attachments"]
    assert attachments[0]["document"] == "valid"
    assert attachments[0]["signatures"][0]["signer"] == "Nguyễn Văn A"
    # an attachment without a verdict keeps the pre-issue-11 form
    assert "document" not in attachments[2] and "signatures" not in attachments[2]


def test_a_changed_verdict_in_the_index_is_found(audit_config: AuditConfig) -> None:
    fill(audit_config)
    conn = sqlite3.connect(audit_config.path)
    with conn:
        conn.execute("UPDATE attachments SET document = 'valid' WHERE record_id = 2")
    conn.close()
    with AuditLog.open(audit_config) as log:
        report = log.verify()
    assert not report.is_intact
    assert "attachments index lost or changed an entry of record 2" in (report.problem or "")


def test_report_counts_documents_sent_signed_and_validly_signed(
        audit_config: AuditConfig) -> None:
    fill(audit_config)
    with AuditLog.open(audit_config) as log:
        report = log.report(parse_period("2026-11", zone("Asia/Ho_Chi_Minh")))
    (stc,) = [u for u in report.units if u.unit_id == "stc"]
    sent = stc.sent
    assert (sent.documents, sent.documents_checked, sent.documents_signed,
            sent.documents_valid) == (4, 3, 2, 1)
    (box,) = [b for b in stc.mailboxes if b.address == "vanthu@stc.example.gov.vn"]
    assert (box.sent.documents_checked, box.sent.documents_valid) == (3, 1)


def cli(config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: config, descendants=lambda unit: [unit])
    assert isinstance(group, click.Group)
    return group


def test_report_csv_columns(audit_config: AuditConfig) -> None:
    fill(audit_config)
    out = CliRunner().invoke(cli(audit_config), ["report", "--period", "2026-11",
                                                 "--format", "csv"]).output
    rows = {(r["unit"], r["mailbox"]): r for r in csv.DictReader(io.StringIO(out))}
    stc = rows[("stc", "")]
    assert (stc["pdf_office_sent"], stc["documents_signed"],
            stc["documents_validly_signed"]) == ("3", "2", "1")
    box = rows[("stc", "vanthu@stc.example.gov.vn")]
    assert box["documents_validly_signed"] == "1"


def test_trace_shows_the_verdict(audit_config: AuditConfig) -> None:
    fill(audit_config)
    group = cli(audit_config)
    out = CliRunner().invoke(group, ["trace", sha("valid.pdf")]).output
    assert "signature" in out and "valid (Nguyễn Văn A, Sở Tài chính: valid)" in out
    out = CliRunner().invoke(group, ["trace", sha("photo.jpg")]).output
    assert "valid (" not in out
    entries = json.loads(CliRunner().invoke(
        group, ["trace", "--format", "json", sha("changed.pdf")]).output)
    assert entries[0]["document"] == "modified-after-signing"
    assert entries[0]["signatures"][0]["verdict"] == "modified-after-signing"


def test_an_older_store_migrates_and_counts_no_documents(audit_config: AuditConfig) -> None:
    from sqlite_utils import Database

    from audit.schema import MIGRATIONS, migrate

    db = Database(sqlite3.connect(audit_config.path))
    migrate(db, MIGRATIONS[:2])
    db.conn.close()
    with AuditLog.open(audit_config) as log:
        log.record(make_record())
        report = log.report(parse_period("2026-11", zone("Asia/Ho_Chi_Minh")))
        assert log.verify().is_intact
    (stc,) = [u for u in report.units if u.unit_id == "stc"]
    assert (stc.sent.documents, stc.sent.documents_checked) == (1, 0)
