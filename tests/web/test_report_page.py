"""The console's report and record pages read the log as the command line does: one
report definition (audit/), and a unit's sent mail only from its trusted path; the
record page says what became of a message and who signed what, in words."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from audit import (
    REPORT_COLUMNS,
    Attachment,
    AuditLog,
    Completion,
    Direction,
    DocumentSignatureRecord,
    Fate,
    Role,
    report_labels,
)
from congvu.cli import main
from support.audit import T0, make_record, sha
from support.webconsole import client, login

ROW = re.compile(r'<tr class="([a-z]+)" data-kind="[a-z]+" data-unit="([^"]*)">\s*'
                 r'<th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', re.S)
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
    return [(kind, unit, re.sub("<[^>]+>", "", name), cells)
            for kind, unit, name, cells in ROW.findall(body)]


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
    labels = report_labels("vi")
    assert headings == [(c, labels[c]) for c in REPORT_COLUMNS[2:-1]]
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


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SIGNED = [
    Attachment(path="2", filename="Quyết định 12.pdf", declared_type="application/pdf",
               detected_type="application/pdf", size=5000, sha256=sha("qd12"),
               document="valid", complete=True, signatures=[
                   DocumentSignatureRecord(
                       verdict="valid", signer="Nguyễn Văn A", organisation="Sở Tài chính",
                       signer_role="person", signer_unit="stc", root_family="gov",
                       signing_time="2026-11-03T02:00:00+00:00"),
                   DocumentSignatureRecord(
                       verdict="valid", signer="Sở Tài chính tỉnh Lào Cai",
                       signer_role="organisation", signer_unit="stc", root_family="gov")]),
    Attachment(path="3", filename="Dự thảo.docx", size=300, sha256=sha("draft"),
               detected_type=DOCX, document="modified-after-signing", signatures=[
                   DocumentSignatureRecord(verdict="modified-after-signing", signer="Lê Thị B",
                                           reason="the document changed after signing")]),
]


def visible_words(page: str) -> str:
    """The page's text a person reads as words: without tags, data values and code."""
    main_part = page.split("<main>", 1)[1]
    main_part = re.sub(r"<span data-value>.*?</span>|<code>.*?</code>", " ", main_part, flags=re.S)
    return re.sub(r"<[^>]+>", " ", main_part)


def test_record_page_says_who_sent_what_to_whom_and_what_became_of_it(env) -> None:
    with AuditLog.open(env.config.audit) as log:
        rid = log.record(make_record(received_at=T0 + timedelta(hours=5), attachments=SIGNED))
        log.complete(Completion(record_id=rid, outcome=Fate.TEMPFAILED, reply="451 4.4.1 later",
                                at=T0 + timedelta(hours=5, minutes=1)))
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED,
                                reply="250 2.0.0 Ok: queued as ABC",
                                at=T0 + timedelta(hours=5, minutes=9)))
    admin = client(env.settings)
    login(admin, "admin")
    page = admin.get(f"/audit/records/{rid}").text
    summary = page.split('id="record-summary"', 1)[1].split("</table>", 1)[0]
    # the record id under its name, times as people write them in the province's zone
    assert re.search(rf"Mã bản ghi</th><td>{rid}</td>", summary)
    assert "03/11/2026 14:30" in summary and "Thư đi" in summary  # 07:30 UTC
    assert re.search(r'id="record-fate">Đã chuyển đi, 03/11/2026 14:39<', summary)
    assert "250 2.0.0 Ok: queued as ABC" in summary and "Chấp nhận" in summary
    assert '<span class="unit" title="stc" data-value>Sở Tài chính</span>' in summary
    assert ('<span class="unit" title="ubnd" data-value>Ủy ban nhân dân tỉnh Lào Cai'
            '</span>') in summary
    # the message's signatures and each document's verdict, signer, role and unit
    mail = page.split('id="signatures"', 1)[1].split("</table>", 1)[0]
    assert mail.count("Ký khi gửi đi") == 2 and mail.count("Đạt") == 2
    first = page.split('id="document-1"', 1)[1].split("</section>", 1)[0]
    assert "Quyết định 12.pdf" in first and "Đủ chữ ký cá nhân và cơ quan" in first
    rows = re.findall(r'<td class="signer">\s*(.*?)</td>.*?<td class="role">(.*?)</td>\s*'
                      r'<td>(.*?)</td><td class="verdict">(.*?)</td><td>(.*?)</td>', first, re.S)
    assert [(re.sub("<[^>]+>", "", s).strip(), r, re.sub("<[^>]+>", "", u), v, when)
            for s, r, u, v, when in rows] == [
        ("Nguyễn Văn A", "Cá nhân", "Sở Tài chính", "Hợp lệ", "03/11/2026 09:00"),
        ("Sở Tài chính tỉnh Lào Cai", "Cơ quan, tổ chức", "Sở Tài chính", "Hợp lệ", "")]
    second = page.split('id="document-2"', 1)[1].split("</section>", 1)[0]
    assert "Bị sửa sau khi ký" in second and "Lê Thị B" in second
    # the technical details folded away under their labels; no raw field names, no None
    details = page.split('<details id="technical">', 1)[1].split("</details>", 1)[0]
    assert "Mã băm của sự kiện trước trong chuỗi" in details and "Postfix" in details
    assert "Tạm hoãn, máy gửi sẽ gửi lại" in details  # the first attempt
    words = visible_words(page)
    record = admin.get(f"/api/audit/records/{rid}").json()
    for key in [*record, "None", "null", "relayed", "person", "organisation", "valid"]:
        assert not re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", words), key
    # and in English on the switch
    admin.get("/lang/en")
    english = admin.get(f"/audit/records/{rid}").text
    assert "Record id" in english and "Relayed, 03/11/2026 14:39" in english
    assert "Changed after signing" in english and "Organisation" in english


def test_an_administrative_event_reads_in_words(env) -> None:
    admin = client(env.settings)
    login(admin, "admin")
    page = admin.get("/audit/records/5").text  # the fixture's key rotation
    assert re.search(r'id="record-kind">Thay khóa<', page) and "Mã bản ghi" in page
    assert "None" not in visible_words(page)
