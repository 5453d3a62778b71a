"""The report as the provinces file it: an Excel workbook and a Word document whose
figures are the report's (audit/reportfiled.py), read back with openpyxl and
python-docx and, where LibreOffice is installed, converted to PDF and read with
pdftotext, and compared with a count made by hand of the mail written here."""

from __future__ import annotations

import io
import re
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
import docx
import openpyxl
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import Attachment, AuditRecord, Completion, Direction, Fate, Role
from audit.report import Report
from audit.reportfiled import render_file
from audit.reportuse import RosterMailbox
from audit.store import AuditLog
from mailbase import parse_period, zone
from support.audit import make_record, sha
from support.office import need_libreoffice, pdf_text

TZ = zone("Asia/Ho_Chi_Minh")
D = "example.gov.vn"
NAMES = {"stc": "Sở Tài chính", "ubnd": "Ủy ban nhân dân tỉnh"}
ROSTER = [
    RosterMailbox(f"a@stc.{D}", "stc", "Nguyễn Văn An", created=date(2026, 1, 5)),
    RosterMailbox(f"b@stc.{D}", "stc", "Trần Thị Bình"),
    RosterMailbox(f"c@stc.{D}", "stc", "Lê Văn Cường"),
    RosterMailbox(f"d@ubnd.{D}", "ubnd", "Phạm Thị Dung"),
]
GENERATED = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 2 December in Hà Nội


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=TZ)


def pdf(n: int, *, signed: bool) -> Attachment:
    signatures = [{"verdict": "valid", "reason": "chained to a trust anchor",
                   "signer": "Nguyễn Văn An", "issuer": "CN=CA", "serial": f"{n:x}",
                   "chain": ["CN=leaf", "CN=root"], "is_timestamp": False,
                   "root_family": "gov"}] if signed else None
    return Attachment(path=str(n), filename=f"cv{n}.pdf", detected_type="application/pdf",
                      size=1000, sha256=sha(f"{n}"), document="valid" if signed
                      else "unsigned", signatures=signatures)


def sent(sender: str, when: datetime, attachments: list[Attachment]) -> AuditRecord:
    return make_record(received_at=when, envelope_sender=sender, header_from=sender,
                       envelope_recipients=[f"vanthu@ubnd.{D}"],
                       recipient_unit_of={f"vanthu@ubnd.{D}": "ubnd"},
                       attachments=attachments)


def inbound(when: datetime) -> AuditRecord:
    return make_record(received_at=when, envelope_sender="x@example.com",
                       header_from="x@example.com", sender_unit=None, listener="mx",
                       role=Role.INBOUND, direction=Direction.INBOUND,
                       envelope_recipients=[f"vanthu@ubnd.{D}"],
                       recipient_unit_of={f"vanthu@ubnd.{D}": "ubnd"}, attachments=[])


#: The month, counted by hand: a sends four messages, each with a signed and an
#: unsigned PDF (regular); b one with an unsigned PDF, and one refused (activated);
#: c and d send nothing; three messages come from outside to ubnd, one refused.
#: stc: sent 5, refused 1, documents 9 (4 valid, under the government's root);
#: ubnd: received 5 + 2, refused 1 + 1 (b's), documents received 9.
MAIL = [
    *[(sent(f"a@stc.{D}", at(d), [pdf(2 * d, signed=True), pdf(2 * d + 1, signed=False)]),
       Fate.RELAYED) for d in (3, 10, 17, 24)],
    (sent(f"b@stc.{D}", at(5), [pdf(100, signed=False)]), Fate.RELAYED),
    (sent(f"b@stc.{D}", at(6), []), Fate.REJECTED),
    (inbound(at(7)), Fate.RELAYED), (inbound(at(8)), Fate.RELAYED),
    (inbound(at(9)), Fate.REJECTED),
]


@pytest.fixture
def store(audit_config: AuditConfig) -> AuditConfig:
    with AuditLog.open(audit_config) as log:
        ids = log.write([record for record, _ in MAIL])
        log.write([Completion(record_id=rid, outcome=fate, reply="250 2.0.0 Ok")
                   for rid, (_, fate) in zip(ids, MAIL, strict=True)])
    return audit_config


def report(config: AuditConfig, *, roster: bool = True) -> Report:
    with AuditLog.open_readonly(config.path) as log:
        return log.report(parse_period("2026-11", TZ), roster=ROSTER if roster else None,
                          tz=TZ)


def head(config: AuditConfig) -> tuple[int, str]:
    conn = sqlite3.connect(config.path)
    try:
        seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC").fetchone()
    finally:
        conn.close()
    return int(seq), str(digest)


def workbook(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def labelled(sheet: Any) -> dict[str, Any]:
    """A two-column sheet's values by label (first column)."""
    return {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if len(row) > 1
            and row[0] and row[1] is not None}


def table(sheet: Any, header_first: str) -> list[dict[str, Any]]:
    """The rows under the header row whose first cell is ``header_first``."""
    values = list(sheet.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(values) if row[0] == header_first)
    header = values[start]
    return [dict(zip(header, row, strict=True)) for row in values[start + 1:]]


def test_the_workbook_has_the_figures_counted_by_hand(store: AuditConfig) -> None:
    wb = workbook(render_file(report(store), "xlsx", "Asia/Ho_Chi_Minh", NAMES,
                              generated=GENERATED))
    assert wb.sheetnames == ["Tổng hợp", "Phụ lục", "Chưa sử dụng", "stc", "ubnd"]
    summary = wb["Tổng hợp"]
    seq, digest = head(store)
    lines = [row[0] for row in summary.iter_rows(values_only=True, max_col=1)]
    assert "Ngày 02 tháng 12 năm 2026 (giờ Asia/Ho_Chi_Minh)" in lines
    assert any(f"sự kiện số {seq}, mã băm SHA-256 {digest}" in (x or "") for x in lines)
    figures = labelled(summary)
    assert {k: figures[k] for k in (
        "Hộp thư cá nhân", "Đã kích hoạt", "Tỷ lệ kích hoạt", "Sử dụng thường xuyên",
        "Tỷ lệ sử dụng thường xuyên", "Văn bản đã gửi", "Văn bản ký số hợp lệ",
        "Hợp lệ, CA chuyên dùng Chính phủ", "Văn bản đã nhận", "Đã gửi", "Đã nhận",
        "Gửi bị từ chối", "Nhận bị từ chối")} == {
        "Hộp thư cá nhân": 4, "Đã kích hoạt": 2, "Tỷ lệ kích hoạt": 0.5,
        "Sử dụng thường xuyên": 1, "Tỷ lệ sử dụng thường xuyên": 0.25,
        "Văn bản đã gửi": 9, "Văn bản ký số hợp lệ": 4,
        "Hợp lệ, CA chuyên dùng Chính phủ": 4, "Văn bản đã nhận": 9, "Đã gửi": 5,
        "Đã nhận": 7, "Gửi bị từ chối": 1, "Nhận bị từ chối": 2}
    rate = next(row[1] for row in summary.iter_rows() if row[0].value == "Tỷ lệ kích hoạt")
    assert rate.number_format == "0.0%"
    assert summary.freeze_panes is not None

    appendix = {r["Đơn vị"]: r for r in table(wb["Phụ lục"], "Đơn vị")}
    assert list(appendix) == ["Sở Tài chính", "Ủy ban nhân dân tỉnh", "Toàn tỉnh"]
    stc, ubnd = appendix["Sở Tài chính"], appendix["Ủy ban nhân dân tỉnh"]
    assert (stc["Hộp thư cá nhân"], stc["Đã kích hoạt"], stc["Sử dụng thường xuyên"],
            stc["Đã gửi"], stc["Gửi bị từ chối"], stc["Văn bản đã gửi"]) == (3, 2, 1, 5, 1, 9)
    assert stc["Tỷ lệ kích hoạt"] == pytest.approx(2 / 3, abs=0.0005)
    assert (ubnd["Đã nhận"], ubnd["Nhận bị từ chối"], ubnd["Văn bản đã nhận"],
            ubnd["Đã kích hoạt"]) == (7, 2, 9, 0)
    assert appendix["Toàn tỉnh"]["Tỷ lệ sử dụng thường xuyên"] == 0.25
    assert wb["Phụ lục"].freeze_panes == "B7"  # five heading lines, the header row

    sheet = {r["Hộp thư"]: r for r in table(wb["stc"], "Hộp thư")}
    assert sheet["Cả đơn vị"]["Đã gửi"] == 5
    assert (sheet[f"a@stc.{D}"]["Cán bộ"], sheet[f"a@stc.{D}"]["Đã gửi"],
            sheet[f"a@stc.{D}"]["Sử dụng thường xuyên"]) == ("Nguyễn Văn An", 4, 1)
    assert sheet[f"a@stc.{D}"]["Lần gửi cuối"] == datetime(2026, 11, 24, 9)  # local time
    assert sheet[f"c@stc.{D}"]["Đã gửi"] == 0

    idle = {r["Hộp thư"]: r for r in table(wb["Chưa sử dụng"], "Đơn vị")}
    assert list(idle) == [f"b@stc.{D}", f"c@stc.{D}", f"d@ubnd.{D}"]
    assert (idle[f"b@stc.{D}"]["Đã kích hoạt"], idle[f"b@stc.{D}"]["Thư đã gửi trong kỳ"],
            idle[f"d@ubnd.{D}"]["Lần gửi cuối"]) == ("có", 1, "chưa gửi")
    units = [row[1] for row in wb["Chưa sử dụng"].iter_rows(values_only=True)
             if len(row) > 1 and row[0] is None and row[1]]
    assert units == ["Ủy ban nhân dân tỉnh"]


def document_text(data: bytes) -> tuple[str, Any]:
    document = docx.Document(io.BytesIO(data))
    return "\n".join(p.text for p in document.paragraphs), document


def test_the_document_fills_the_narrative_and_the_appendix(store: AuditConfig) -> None:
    text, document = document_text(render_file(report(store), "docx", "Asia/Ho_Chi_Minh",
                                               NAMES, generated=GENERATED))
    seq, digest = head(store)
    assert "Ngày 02 tháng 12 năm 2026" in text
    assert "từ ngày 01/11/2026 đến hết ngày 30/11/2026" in text
    assert ("Tổng số cán bộ được cấp hộp thư điện tử công vụ: 4; số hộp thư đã kích hoạt: "
            "2, đạt tỷ lệ 50,0%; số hộp thư sử dụng thường xuyên (ít nhất 4 thư gửi mỗi "
            "tháng): 1, đạt tỷ lệ 25,0%.") in text
    assert "đã gửi 5 thư và nhận 7 thư" in text
    assert "Số văn bản điện tử gửi đi: 9, trong đó 4 văn bản có chữ ký số, 4 văn bản" in text
    assert "(4 ký bằng chữ ký số chuyên dùng Chính phủ, 0 bằng" in text
    assert "Số văn bản điện tử nhận được: 9, trong đó 4 văn bản có chữ ký số hợp lệ, 0 " \
           "văn bản có hai" in text
    assert "Thư gửi đi có dấu mật (MẬT, TỐI MẬT, TUYỆT MẬT): 0; thư gửi đi bị từ chối: 1; " \
           "thư gửi đi đang bị cách ly: 0; thư gửi đến bị từ chối: 2" in text
    assert "Đơn vị chưa có cán bộ sử dụng thường xuyên (1): Ủy ban nhân dân tỉnh." in text
    assert "Cán bộ chưa sử dụng thường xuyên (dưới 4 thư gửi mỗi tháng): 3." in text
    assert f"sự kiện số {seq}, mã băm SHA-256 {digest}" in text

    idle, appendix = document.tables
    assert [c.text for c in idle.rows[1].cells] == [
        "Sở Tài chính", f"b@stc.{D}", "Trần Thị Bình", "có", "1", "05/11/2026 09:00"]
    assert [c.text for c in idle.rows[3].cells][-1] == "chưa gửi"
    header = [c.text for c in appendix.rows[0].cells]
    rows = {r.cells[0].text: dict(zip(header, (c.text for c in r.cells), strict=True))
            for r in appendix.rows[1:]}
    assert list(rows) == ["Sở Tài chính", "Ủy ban nhân dân tỉnh", "Toàn tỉnh"]
    assert (rows["Sở Tài chính"]["Tỷ lệ kích hoạt"], rows["Sở Tài chính"]["Đã gửi"],
            rows["Toàn tỉnh"]["Đã nhận"]) == ("66,7%", "5", "7")
    # the appendix is on landscape pages, its header row repeated on each
    assert document.sections[-1].page_width > document.sections[-1].page_height
    assert appendix.rows[0]._tr.trPr.xpath("./w:tblHeader")


def test_without_a_roster_the_files_say_so(store: AuditConfig) -> None:
    result = report(store, roster=False)
    text, _ = document_text(render_file(result, "docx", "Asia/Ho_Chi_Minh", NAMES))
    assert "Chưa có danh sách hộp thư của cán bộ: báo cáo chưa tính được" in text
    wb = workbook(render_file(result, "xlsx", "Asia/Ho_Chi_Minh", NAMES))
    header = next(r for r in wb["Phụ lục"].iter_rows(values_only=True) if r[0] == "Đơn vị")
    assert "Hộp thư cá nhân" not in header and "Đã gửi" in header
    assert "Hộp thư cá nhân" not in labelled(wb["Tổng hợp"])


def test_a_unit_id_excel_refuses_gets_a_sheet_name_it_takes(audit_config: AuditConfig
                                                           ) -> None:
    with AuditLog.open(audit_config) as log:
        records = [make_record(sender_unit=unit, received_at=at(3))
                   for unit in ("so/ban:1", "so-ban-1", "x" * 40, "x" * 40 + "y", "Tổng hợp")]
        ids = log.write(records)
        log.write([Completion(record_id=rid, outcome=Fate.RELAYED) for rid in ids])
    wb = workbook(render_file(report(audit_config, roster=False), "xlsx", "Asia/Ho_Chi_Minh"))
    assert wb.sheetnames[3:] == ["Tổng hợp~2", "so-ban-1", "so_ban_1", "ubnd", "x" * 31,
                                 "x" * 29 + "~2"]


def cli(config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: config, roster=lambda: ROSTER,
                       unit_names=lambda: NAMES)
    assert isinstance(group, click.Group)
    return group


def test_the_command_writes_the_files_and_wants_out(store: AuditConfig,
                                                    tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli(store), ["report", "--period", "2026-11", "--format", "xlsx"])
    assert result.exit_code == 2
    assert "--format xlsx writes a file: give it with --out FILE" in result.output
    out = tmp_path / "bao-cao.docx"
    result = runner.invoke(cli(store), ["report", "--period", "2026-11", "--format", "docx",
                                        "--out", str(out)])
    assert result.exit_code == 0, result.output
    text, _ = document_text(out.read_bytes())
    assert "Ủy ban nhân dân tỉnh" in text and "đạt tỷ lệ 50,0%" in text




@pytest.mark.interop
def test_libreoffice_prints_every_unit_and_the_totals(store: AuditConfig,
                                                      tmp_path: Path) -> None:
    need_libreoffice()
    result = report(store)
    for fmt in ("docx", "xlsx"):
        source = tmp_path / f"bao-cao.{fmt}"
        source.write_bytes(render_file(result, fmt, "Asia/Ho_Chi_Minh", NAMES))
        printed = re.sub(r"\s+", " ", pdf_text(source, tmp_path))
        assert "Sở Tài chính" in printed and "Ủy ban nhân dân tỉnh" in printed, fmt
        assert re.search(r"Toàn (tỉnh )?4 2 50[,.]0 ?% 1 25[,.]0 ?% 5 7 9 4 4", printed), (
            fmt, printed)


def test_the_units_identifier_codes_are_in_the_appendix(store: AuditConfig,
                                                        tmp_path: Path) -> None:
    # the directory gives stc a code and ubnd none; the command passes them through
    [group] = commands(lambda _path: store, roster=lambda: ROSTER, unit_names=lambda: NAMES,
                       organ_ids=lambda: {"stc": "000.01.21.H41"})
    out = tmp_path / "bao-cao.xlsx"
    result = CliRunner().invoke(group, ["report", "--period", "2026-11", "--format", "xlsx",
                                        "--out", str(out)])
    assert result.exit_code == 0, result.output
    wb = workbook(out.read_bytes())
    appendix = {r["Đơn vị"]: r for r in table(wb["Phụ lục"], "Đơn vị")}
    assert [(name, row["Mã định danh"]) for name, row in appendix.items()] == [
        ("Sở Tài chính", "000.01.21.H41"), ("Ủy ban nhân dân tỉnh", None), ("Toàn tỉnh", None)]
    assert appendix["Sở Tài chính"]["Đã gửi"] == 5  # the figures keep their columns
    assert wb["stc"]["A1"].value == "Sở Tài chính (stc, mã định danh 000.01.21.H41)"
    assert wb["ubnd"]["A1"].value == "Ủy ban nhân dân tỉnh (ubnd)"

    _, document = document_text(render_file(report(store), "docx", "Asia/Ho_Chi_Minh", NAMES,
                                             organ_ids={"stc": "000.01.21.H41"}))
    rows = [r.cells[0].text for r in document.tables[-1].rows]
    assert rows == ["Đơn vị\n(mã định danh)", "Sở Tài chính\n000.01.21.H41",
                    "Ủy ban nhân dân tỉnh", "Toàn tỉnh"]


def test_without_codes_the_appendix_has_no_code_column(store: AuditConfig) -> None:
    wb = workbook(render_file(report(store), "xlsx", "Asia/Ho_Chi_Minh", NAMES))
    header = next(r for r in wb["Phụ lục"].iter_rows(values_only=True) if r[0] == "Đơn vị")
    assert "Mã định danh" not in header and header[1] == "Hộp thư cá nhân"


def test_subtree_needs_a_unit_and_the_directory(store: AuditConfig) -> None:
    runner = CliRunner()
    result = runner.invoke(cli(store), ["report", "--period", "2026-11", "--subtree"])
    assert (result.exit_code, "--subtree needs at least one --unit") == (
        2, result.output.strip().splitlines()[-1].removeprefix("Error: "))
    result = runner.invoke(cli(store), ["report", "--period", "2026-11", "--unit", "stc",
                                        "--subtree"])
    assert result.exit_code == 2
    assert "--subtree needs the directory (run through congvu)" in result.output


def test_subtree_of_a_unit_the_directory_lacks_is_a_usage_error(store: AuditConfig) -> None:
    def descendants(unit: str) -> list[str]:
        if unit not in NAMES:
            raise LookupError(f"unknown unit {unit!r} (not in the directory)")
        return [unit]

    for command in (["report", "--period", "2026-11"], ["query"]):
        [group] = commands(lambda _path: store, descendants=descendants,
                           unit_tree=lambda: [("ubnd", None), ("stc", "ubnd")])
        result = CliRunner().invoke(group, [*command, "--unit", "nope", "--subtree"])
        assert result.exit_code == 2, (command, result.output)
        assert "unknown unit 'nope' (not in the directory)" in result.output
