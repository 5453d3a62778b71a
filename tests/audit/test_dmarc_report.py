"""Inbound DMARC results and own-domain spoofing in the periodic report: counted over
the mail addressed to a unit, whatever became of it."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import click
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import Action, AuditRecord, AuthResult, Direction, Role
from audit.reportfmt import render
from audit.reportsql import SPOOF_REFUSED
from audit.store import AuditLog
from mailbase import parse_period, zone
from support.audit import T0, make_record

PERIOD = "2026-11"


def dmarc(result: str, *, disposition: str | None = None, policy: str | None = "reject",
          reason: str = "") -> AuthResult:
    return AuthResult(method="dmarc", result=result, domain="example.org", policy=policy,
                      disposition=disposition, reason=reason)


def inbound(*auth: AuthResult, to: str = "sotc", action: Action = Action.ACCEPT,
            minutes: int = 0, **overrides: Any) -> AuditRecord:
    """A message from outside to unit ``to`` with the given authentication entries."""
    address = f"vanthu@{to}.example.gov.vn"
    values: dict[str, Any] = {
        "received_at": T0 + timedelta(minutes=minutes), "listener": "mx",
        "role": Role.INBOUND, "direction": Direction.INBOUND,
        "envelope_sender": "news@example.org", "envelope_recipients": [address],
        "header_from": "news@example.org", "sender_unit": None, "recipient_units": [to],
        "recipient_unit_of": {address: to}, "attachments": [], "action": action,
        "authentication": [
            AuthResult(method="dkim", result="pass", domain="example.org"),
            AuthResult(method="spf", result="pass", domain="example.org"), *auth],
    }
    return make_record(**{**values, **overrides})


def spoof() -> AuditRecord:
    """What milter records for mail refused as spoofing: the verdict's DMARC entry and
    the stage's own, with the spoof disposition."""
    return inbound(
        dmarc("fail", policy="quarantine"),
        AuthResult(method="dmarc", result="fail", reason="From is the province's own "
                   "domain binhthuan.gov.vn but no DKIM signature aligned with it passed",
                   disposition=SPOOF_REFUSED),
        action=Action.REJECT, header_from="sotc@binhthuan.gov.vn")


def fill(config: AuditConfig) -> None:
    with AuditLog.open(config) as log:
        log.write([
            inbound(dmarc("pass")),
            inbound(dmarc("pass"), minutes=1),
            inbound(dmarc("pass"), minutes=2),
            inbound(dmarc("fail", disposition="reject"), action=Action.REJECT, minutes=3),
            inbound(dmarc("none", policy=None), minutes=4),
            spoof(),
            # inbound without any DMARC entry (verification off): not checked
            inbound(minutes=5),
            # another unit: all of its checked mail passed
            inbound(dmarc("pass"), to="ubnd", minutes=6),
            # outbound from sotc to ubnd: sent and received, never DMARC-checked
            make_record(sender_unit="sotc", recipient_units=["ubnd"]),
        ])


def report_of(config: AuditConfig) -> Any:
    with AuditLog.open(config) as log:
        return log.report(parse_period(PERIOD, zone("Asia/Ho_Chi_Minh")))


def test_share_of_inbound_mail_that_passed_dmarc_and_spoofs_refused(
        audit_config: AuditConfig) -> None:
    fill(audit_config)
    units = {u.unit_id: u for u in report_of(audit_config).units}
    sotc = units["sotc"].counts
    # pass x3, fail, none, and the spoof (it has a DMARC entry: checked, not passed)
    assert (sotc.dmarc_checked, sotc.dmarc_pass, sotc.spoof_refused) == (6, 3, 1)
    assert sotc.dmarc_share == 0.5
    ubnd = units["ubnd"].counts
    # sotc's outbound message to ubnd is not DMARC-checked
    assert (ubnd.dmarc_checked, ubnd.dmarc_pass, ubnd.spoof_refused) == (1, 1, 0)
    assert ubnd.dmarc_share == 1.0
    # per mailbox, from the received counts
    (box,) = [b for b in units["sotc"].mailboxes if b.address == "vanthu@sotc.example.gov.vn"]
    assert (box.counts.dmarc_checked, box.counts.dmarc_pass,
            box.counts.spoof_refused) == (6, 3, 1)


def test_a_spoof_that_somehow_passed_dmarc_is_not_counted_as_passed(
        audit_config: AuditConfig) -> None:
    # SPF-aligned but not DKIM-aligned: DMARC passes, own-domain protection refuses.
    with AuditLog.open(audit_config) as log:
        log.record(inbound(dmarc("pass"), AuthResult(
            method="dmarc", result="fail", disposition=SPOOF_REFUSED), action=Action.REJECT))
    sotc = report_of(audit_config).units[0].counts
    assert (sotc.dmarc_checked, sotc.dmarc_pass, sotc.spoof_refused) == (1, 0, 1)


def test_signing_entries_and_lookalike_text_are_not_dmarc_results(
        audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        log.record(inbound(
            AuthResult(method="dmarc", operation="sign", result="pass"),
            AuthResult(method="spf", result="fail",
                       reason='"method":"dmarc" "disposition":"spoof-refused"')))
        report = log.report(parse_period(PERIOD, zone("Asia/Ho_Chi_Minh")), ["sotc"])
    sotc = report.units[0].counts
    assert (sotc.dmarc_checked, sotc.dmarc_pass, sotc.spoof_refused) == (0, 0, 0)
    assert sotc.dmarc_share == 0.0


def test_no_mail_in_the_period_gives_zero_counts(audit_config: AuditConfig) -> None:
    fill(audit_config)
    with AuditLog.open(audit_config) as log:
        report = log.report(parse_period("2026-10", zone("Asia/Ho_Chi_Minh")), ["sotc"])
    (sotc,) = report.units
    assert (sotc.counts.dmarc_checked, sotc.counts.spoof_refused) == (0, 0)
    assert sotc.counts.dmarc_share == 0.0


def cli(config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: config, descendants=lambda unit: [unit])
    assert isinstance(group, click.Group)
    return group


def test_report_csv_and_table_columns(audit_config: AuditConfig) -> None:
    fill(audit_config)
    result = CliRunner().invoke(cli(audit_config), ["report", "--period", PERIOD,
                                                    "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = {(r["unit"], r["mailbox"]): r for r in csv.DictReader(io.StringIO(result.output))}
    sotc = rows[("sotc", "")]
    assert (sotc["dmarc_checked"], sotc["dmarc_passed"], sotc["spoof_refused"]) == (
        "6", "50.0%", "1")
    assert rows[("ubnd", "")]["dmarc_passed"] == "100.0%"
    assert rows[("sotc", "vanthu@sotc.example.gov.vn")]["spoof_refused"] == "1"
    table = CliRunner().invoke(cli(audit_config), ["report", "--period", PERIOD]).output
    header, first = table.splitlines()[2:4]  # after the title and the chain's position
    assert "Kiểm tra DMARC  Đạt DMARC  Từ chối giả mạo  " in header
    assert first.split()[0] == "sotc" and re.search(r" 6 +50\.0% +1 ", first)


def test_report_html_has_the_dmarc_chart_and_columns(audit_config: AuditConfig) -> None:
    fill(audit_config)
    page = render(report_of(audit_config), "html", "Asia/Ho_Chi_Minh")
    assert "Tỷ lệ thư đến đạt DMARC (%)" in page
    assert "<th>Đạt DMARC</th>" in page and "<td>50.0%</td>" in page
    assert "<th>Từ chối giả mạo</th>" in page


def test_report_html_leaves_out_the_dmarc_chart_without_dmarc_results(
        audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        log.record(make_record())
    page = render(report_of(audit_config), "html", "Asia/Ho_Chi_Minh")
    assert "đạt DMARC" not in page and page.count("<svg") == 2
