"""The report counts the unit's own mail the policy found marked classified
(classified_marked) or typed in a legacy encoding (legacy_encoded), whatever became of
it, in every format (the policy's findings as the record keeps them)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import docx

from audit.config import AuditConfig
from audit.records import Completion, Direction, Fate, Role, Violation
from audit.reportfiled import render_file
from audit.reportfmt import render
from audit.store import AuditLog
from mailbase import parse_period, zone
from support.audit import make_record

TZ = zone("Asia/Ho_Chi_Minh")
MARKED = Violation(rule="classified-marking", reason="the subject is marked MẬT")
LEGACY = Violation(rule="legacy-encoding", reason="the text is typed in VNI, not Unicode")
# a filename that spells a rule's name is not a finding of it
NAMED = Violation(rule="blocked-extension", reason='"rule":"classified-marking".exe',
                  filename='"rule":"classified-marking".exe')


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 9, tzinfo=TZ)


def fill(config: AuditConfig) -> None:
    mail = [
        (make_record(received_at=at(2), violations=[MARKED]), Fate.QUARANTINED),
        (make_record(received_at=at(3), violations=[MARKED, LEGACY]), Fate.REJECTED),
        (make_record(received_at=at(4), violations=[LEGACY]), Fate.RELAYED),
        (make_record(received_at=at(5), violations=[NAMED]), Fate.REJECTED),
        # in flight (tempfailed): counted in no column
        (make_record(received_at=at(6), violations=[MARKED]), Fate.TEMPFAILED),
        # from outside: not the unit's own mail
        (make_record(received_at=at(7), violations=[LEGACY], sender_unit=None,
                     direction=Direction.INBOUND, role=Role.INBOUND, listener="mx"),
         Fate.RELAYED),
        (make_record(received_at=at(8)), Fate.RELAYED),
    ]
    with AuditLog.open(config) as log:
        ids = log.write([record for record, _ in mail])
        log.write([Completion(record_id=rid, outcome=fate,
                              reply=f"quarantined as q{rid}" if fate is Fate.QUARANTINED
                              else "250 2.0.0 Ok")
                   for rid, (_, fate) in zip(ids, mail, strict=True)])


def test_marked_and_legacy_mail_is_counted_for_its_unit(audit_config: AuditConfig) -> None:
    fill(audit_config)
    with AuditLog.open_readonly(audit_config.path) as log:
        report = log.report(parse_period("2026-11", TZ), tz=TZ)
    stc = next(u for u in report.units if u.unit_id == "stc")
    assert (stc.counts.classified_marked, stc.counts.legacy_encoded) == (2, 2)
    assert (report.total.classified_marked, report.total.legacy_encoded) == (2, 2)
    assert all(u.counts.classified_marked == u.counts.legacy_encoded == 0
               for u in report.units if u.unit_id != "stc")
    rows = {(r["unit"], r["mailbox"]): r for r in csv.DictReader(io.StringIO(
        render(report, "csv", "Asia/Ho_Chi_Minh")))}
    assert (rows[("stc", "")]["classified_marked"], rows[("", "")]["legacy_encoded"]) == (
        "2", "2")
    data = json.loads(render(report, "json", "Asia/Ho_Chi_Minh"))
    assert data["rows"][-1]["classified_marked"] == 2
    assert "Thư có dấu mật" in render(report, "table", "Asia/Ho_Chi_Minh")
    document = docx.Document(io.BytesIO(render_file(report, "docx", "Asia/Ho_Chi_Minh",
                                                    generated=datetime.now(UTC))))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Thư gửi đi có dấu mật (MẬT, TỐI MẬT, TUYỆT MẬT): 2;" in text
    assert "thay vì Unicode: 2." in text
