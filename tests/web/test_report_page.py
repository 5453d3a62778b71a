"""The console's report and record pages read the log as the command line does: one
report definition (audit/), and a unit's sent mail only from its trusted path."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from audit import AuditLog, Completion, Direction, Fate, Role, render_report
from mailbase import parse_period, zone
from support.audit import T0, make_record
from support.webconsole import client, login

ROW = re.compile(r'<tr[^>]*>\s*(?:<td title="([^"]*)"[^>]*>|<th>)(.*?)</tr>', re.S)
CELL = re.compile(r'<td data-column="([a-z_]+)">([^<]*)</td>')


def relay_all(env) -> None:
    """Complete the three outbound records of the console's fixture store (relayed)."""
    with AuditLog.open(env.config.audit) as log:
        for rid in (1, 2, 3):
            log.complete(Completion(record_id=rid, outcome=Fate.RELAYED,
                                    at=T0 + timedelta(hours=4)))


def table(page: str) -> dict[str, dict[str, str]]:
    """The report table: unit id ('' for the total) -> column -> cell text."""
    body = page.split('id="report"', 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    return {unit or "": dict(CELL.findall(rest)) for unit, rest in ROW.findall(body)}


def test_report_page_counts_as_the_command_line(env) -> None:
    relay_all(env)
    admin = client(env.settings)
    login(admin, "admin")
    page = admin.get("/audit/report?period=2026-11")
    assert page.status_code == 200
    rows = table(page.text)
    # every unit of the directory, zeros included, then the total
    assert list(rows) == ["ubnd", "stc", "stc-a", "sgd", ""]
    with AuditLog.open_readonly(env.config.audit.path) as log:
        report = log.report(parse_period("2026-11", zone("Asia/Ho_Chi_Minh")),
                            listed=["ubnd", "stc", "stc-a", "sgd"])
    expected = {r["unit"]: r for r in json.loads(
        render_report(report, "json", "Asia/Ho_Chi_Minh"))["rows"] if not r["mailbox"]}
    for unit, cells in rows.items():
        for column in ("sent", "received", "forgery_attempts", "documents_sent"):
            assert cells[column] == str(expected[unit][column]), (unit, column)
    assert (rows["stc"]["sent"], rows["ubnd"]["received"], rows["ubnd"]["sent"]) == (
        "1", "2", "0")
    # ubnd's inbound record claims ubnd: never its sent mail
    assert (rows[""]["sent"], rows[""]["received"]) == ("3", "3")
    assert "Sở Tài chính" in page.text and 'id="report-total"' in page.text


def test_an_auditors_report_covers_the_scope_with_zeros(env) -> None:
    relay_all(env)
    auditor = client(env.settings)
    login(auditor, "auditor-a")
    rows = table(auditor.get("/audit/report?period=2026-11").text)
    assert list(rows) == ["stc", "stc-a", ""]
    assert (rows["stc"]["sent"], rows["stc-a"]["sent"], rows[""]["sent"]) == ("1", "1", "2")
    assert rows["stc-a"]["received"] == "0"  # ubnd's inbound message is not complete


def test_record_page_shows_sent_and_claimed_apart(env) -> None:
    admin = client(env.settings)
    login(admin, "admin")
    sent = admin.get("/audit/records/1").text
    assert 'id="sent-by"' in sent and "Sở Tài chính" in sent and 'id="claimed"' not in sent
    # the fixture's inbound record carries ubnd's address in From: claimed, not sent
    claimed = admin.get("/audit/records/4").text
    assert 'id="claimed"' in claimed and 'id="sent-by"' not in claimed
    assert "Ủy ban nhân dân tỉnh Lào Cai" in claimed.split('id="claimed"', 1)[1]
    record = admin.get("/api/audit/records/4").json()
    assert record["claimed_unit"] == "ubnd" and "sender_unit" not in record
    listed = admin.get("/api/audit/records?direction=inbound").json()["items"]
    assert [(i["sender_unit"], i["claimed_unit"]) for i in listed] == [(None, "ubnd")]


def test_the_claimed_units_auditor_sees_the_record(env) -> None:
    # an auditor of sgd sees mail from outside that claimed sgd (its forgeries), as the
    # list by unit does, though the message went to stc-a
    with AuditLog.open(env.config.audit) as log:
        rid = log.record(make_record(
            direction=Direction.INBOUND, role=Role.INBOUND, listener="mx",
            sender_unit="sgd", envelope_sender="x@example.org",
            envelope_recipients=["ngansach@stc.laocai.gov.vn"], recipient_units=["stc-a"]))
    auditor = client(env.settings)
    login(auditor, "auditor-b")
    page = auditor.get(f"/audit/records/{rid}")
    assert page.status_code == 200 and 'id="claimed"' in page.text
    assert rid in {i["id"] for i in auditor.get("/api/audit/records").json()["items"]}
