"""Document-signature verdicts in the audit store: stored, verified, counted,
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
from audit.records import Attachment, Completion, Fate
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
               path: str = "2", detected: str = "application/pdf") -> Attachment:
    return Attachment(path=path, filename=name, declared_type="application/pdf",
                      detected_type=detected, size=100, sha256=sha(name),
                      document=document, signatures=signatures)


def fill(config: AuditConfig) -> None:
    with AuditLog.open(config) as log:
        for attachments in ([
            attachment("valid.pdf", "valid", [SIGNATURE]),
            attachment("plain.pdf", "unsigned", [], path="3"),
            attachment("photo.jpg", None, None, path="4", detected="image/jpeg"),
        ], [
            attachment("changed.pdf", "modified-after-signing",
                       [{**SIGNATURE, "verdict": "modified-after-signing"}]),
        ]):
            rid = log.record(make_record(attachments=attachments))
            log.complete(Completion(record_id=rid, outcome=Fate.RELAYED))


def test_verdicts_are_stored_chained_and_verified(audit_config: AuditConfig) -> None:
    fill(audit_config)
    with AuditLog.open(audit_config) as log:
        assert log.verify().is_intact
        record = log.show(1)
    attachments = record["attachments"]
    assert attachments[0]["document"] == "valid"
    assert attachments[0]["signatures"][0]["signer"] == "Nguyễn Văn A"
    # an attachment without a verdict keeps the form it had before document verdicts
    assert "document" not in attachments[2] and "signatures" not in attachments[2]


def test_a_changed_verdict_in_the_index_is_found(audit_config: AuditConfig) -> None:
    fill(audit_config)
    conn = sqlite3.connect(audit_config.path)
    with conn:
        conn.execute("UPDATE attachments SET document = 'valid' WHERE record_id = 3")
    conn.close()
    with AuditLog.open(audit_config) as log:
        report = log.verify()
    assert not report.is_intact
    assert "attachments index lost or changed an entry of record 3" in (report.problem or "")


def test_report_counts_documents_sent_signed_and_validly_signed(
        audit_config: AuditConfig) -> None:
    fill(audit_config)
    with AuditLog.open(audit_config) as log:
        report = log.report(parse_period("2026-11", zone("Asia/Ho_Chi_Minh")))
    (stc,) = [u for u in report.units if u.unit_id == "stc"]
    sent = stc.counts
    # the photo is not a document
    assert (sent.documents_sent, sent.documents_signed, sent.documents_valid) == (3, 2, 1)
    (box,) = [b for b in stc.mailboxes if b.address == "vanthu@stc.example.gov.vn"]
    assert (box.counts.documents_sent, box.counts.documents_valid) == (3, 1)


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
    assert (stc["documents_sent"], stc["documents_signed"],
            stc["documents_valid"]) == ("3", "2", "1")
    box = rows[("stc", "vanthu@stc.example.gov.vn")]
    assert box["documents_valid"] == "1"


def test_trace_shows_the_verdict(audit_config: AuditConfig) -> None:
    fill(audit_config)
    group = cli(audit_config)
    out = CliRunner().invoke(group, ["trace", "--lang", "en", sha("valid.pdf")]).output
    assert "signature" in out and "valid (Nguyễn Văn A, Sở Tài chính: valid)" in out
    out = CliRunner().invoke(group, ["trace", sha("valid.pdf")]).output  # Vietnamese
    assert "chữ ký" in out and "hợp lệ (Nguyễn Văn A, Sở Tài chính: hợp lệ)" in out
    out = CliRunner().invoke(group, ["trace", "--lang", "en", sha("photo.jpg")]).output
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
        rid = log.record(make_record())
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED))
        report = log.report(parse_period("2026-11", zone("Asia/Ho_Chi_Minh")))
        assert log.verify().is_intact
    (stc,) = [u for u in report.units if u.unit_id == "stc"]
    # a PDF by its detected type, without a verdict: a document, not signed
    assert (stc.counts.documents_sent, stc.counts.documents_signed) == (1, 0)
