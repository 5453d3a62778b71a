"""The console's report and record pages read the log as the command line does: one
report definition (audit/), and a unit's sent mail only from its trusted path."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from audit import REPORT_COLUMNS, REPORT_LABELS, AuditLog, Completion, Direction, Fate, Role
from congvu.cli import main
from support.audit import T0, make_record
from support.webconsole import client, login

ROW = re.compile(r'<tr class="([a-z]+)" data-kind="[a-z]+" data-unit="([^"]*)">\s*'
                 r'<th scope="row"[^>]*>([^<]*)</th>(.*?)</tr>', re.S)
CELL = re.compile(r'<td data-column="([a-z_]+)">([^<]*)</td>')


def relay_all(env) -> None:
    """Complete the three outbound records of the console's fixture store (relayed)."""
    with AuditLog.open(env.config.audit) as log:
        for rid in (1, 2, 3):
            log.complete(Completion(record_id=rid, outcome=Fate.RELAYED,
                                    at=T0 + timedelta(hours=4)))


def table(page: str) -> dict[str, dict[str, str]]:
    """The report table's unit and total rows: unit id ('' for the total) -> column ->
    cell text, and '_name' -> the row's heading as shown."""
    return {unit: {**dict(CELL.findall(rest)), "_name": name}
            for kind, unit, name, rest in rows_of(page) if kind != "subtotal"}


def rows_of(page: str) -> list[tuple[str, str, str, str]]:
    """Every row of the report table in order: kind, unit id, heading, cells."""
    body = page.split('id="report"', 1)[1].split("<tbody>", 1)[1].split("</table>", 1)[0]
    return ROW.findall(body)


def command_line_report(env, tmp_path: Path, fmt: str) -> str:
    """``congvu audit report --period 2026-11`` on the console's stores."""
    config = tmp_path / "congvu.toml"
    config.write_text(f'[service]\ndata_dir = "{env.config.service.data_dir}"\n',
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["audit", "report", "--period", "2026-11", "--format",
                                       fmt, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_report_page_counts_as_the_command_line(env, tmp_path: Path) -> None:
    relay_all(env)
    admin = client(env.settings)
    login(admin, "admin")
    page = admin.get("/audit/report?period=2026-11")
    assert page.status_code == 200
    # every unit of the directory, zeros included, in the tree's order; stc's subtotal
    # after the unit below it; ubnd's subtree is the whole report: its total only
    assert [(kind, unit) for kind, unit, _, _ in rows_of(page.text)] == [
        ("unit", "ubnd"), ("unit", "stc"), ("unit", "stc-a"), ("subtotal", "stc"),
        ("unit", "sgd"), ("total", "")]
    rows = table(page.text)
    headings = re.findall(r'<th scope="col" data-column="([a-z_]+)">([^<]*)</th>', page.text)
    # the same words as the command line's, for every column it counts
    assert headings == [(c, REPORT_LABELS[c]) for c in REPORT_COLUMNS[2:-1]]
    data = json.loads(command_line_report(env, tmp_path, "json"))
    expected = {r["unit"]: r for r in data["rows"] if not r["mailbox"]}
    assert list(expected) == ["ubnd", "stc", "stc-a", "sgd", ""]
    shares = {"dkim_signed": "sent", "smime_signed": "sent", "dmarc_passed": "dmarc_checked"}
    for unit, cells in rows.items():
        for column in REPORT_COLUMNS[2:-1]:
            value = expected[unit][column]
            if column in shares:
                shown = "—" if not expected[unit][shares[column]] else f"{value:.1f}%"
            else:
                shown = str(value)
            assert cells[column] == shown, (unit, column)
    [subtotal] = data["subtotals"]
    stc = {c: cells for kind, unit, _, rest in rows_of(page.text) if kind == "subtotal"
           for c, cells in CELL.findall(rest)}
    assert subtotal["unit"] == "stc" and stc["sent"] == str(subtotal["sent"]) == "2"
    assert (rows["stc"]["sent"], rows["ubnd"]["received"], rows["ubnd"]["sent"]) == (
        "1", "2", "0")
    # a unit that sent nothing has no signed share: "—", not 0.0 %
    assert rows["ubnd"]["dkim_signed"] == "—" and rows["stc"]["dkim_signed"] == "100.0%"
    # ubnd's inbound record claims ubnd: never its sent mail
    assert (rows[""]["sent"], rows[""]["received"]) == ("3", "3")
    # units by name, the id on hover
    assert rows["stc"]["_name"] == "Sở Tài chính" and 'title="stc"' in page.text
    assert rows["ubnd"]["_name"] == "Ủy ban nhân dân tỉnh Lào Cai"
    assert rows[""]["_name"] == "Tổng cộng"
    # the period in the province's zone, as people write dates
    assert "Từ 01/11/2026 00:00 đến trước 01/12/2026 00:00" in page.text


def test_the_command_lines_table_is_the_same_tree(env, tmp_path: Path) -> None:
    relay_all(env)
    table_text = command_line_report(env, tmp_path, "table").splitlines()
    header = table_text[2]
    width = header.index("Hộp thư")  # the unit column; a mailbox row leaves it blank
    names = [line[:width].rstrip() for line in table_text[3:] if line[:width].strip()]
    assert names == ["Ủy ban nhân dân tỉnh Lào Cai", "  Sở Tài chính", "    Phòng Ngân sách",
                     "  Cộng: Sở Tài chính", "  Sở Giáo dục và Đào tạo", "Tổng cộng"]
    # the table's ubnd row: sent nothing, so no signed share
    ubnd = next(line for line in table_text if line.startswith("Ủy ban"))
    assert "—" in ubnd and "0.0%" not in ubnd


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
