"""The console's downloads of the report as filed (xlsx, docx): through the real web
app, the file of the viewer's scope holds what ``congvu audit report --format
xlsx|docx`` writes for the same units (an administrator: every unit; an auditor of a
unit: ``--unit UNIT --subtree``), and nothing of the units outside it."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from click.testing import CliRunner

from audit import AuditLog, Completion, Fate
from congvu.cli import main
from directory import Directory
from support.audit import T0
from support.webconsole import DOMAIN, UNITS_CSV, client, login

#: the fixture's units, stc with its code in the document exchange
CODED_UNITS = UNITS_CSV.replace("short_name,name_en\n", "short_name,name_en,organ_id\n", 1) \
    .replace("Department of Finance\n", "Department of Finance,000.01.21.H41\n") \
    .replace(",Budget Office\n", ",Budget Office,\n").replace("Committee\n", "Committee,\n") \
    .replace("Department of Education\n", "Department of Education,\n")
ROSTER = f"""address,full_name,unit,created
an@stc.{DOMAIN},Nguyễn Văn An,stc,2026-01-05
binh@stc.{DOMAIN},Trần Thị Bình,stc-a,2026-01-05
cuong@sgd.{DOMAIN},Lê Văn Cường,sgd,2026-01-05
"""
#: the date line of a filed report: the day it was written, not a figure
DATED = re.compile(r"Ngày \d\d tháng \d\d năm \d{4}")


@pytest.fixture
def filed_env(env: Any) -> Any:
    """The console's stores with the outbound mail relayed, a code and a roster."""
    with AuditLog.open(env.config.audit) as log:
        for rid in (1, 2, 3):
            log.complete(Completion(record_id=rid, outcome=Fate.RELAYED,
                                    at=T0 + timedelta(hours=4)))
    with Directory.open(env.config.directory.path) as directory:
        directory.import_csv(CODED_UNITS, actor="test")
        directory.import_mailboxes(ROSTER, actor="test")
    return env


def command_line(env: Any, tmp_path: Path, fmt: str, *args: str) -> bytes:
    """``congvu audit report --period 2026-11 --format FMT --out FILE ARGS`` on the
    console's stores."""
    config = tmp_path / "congvu.toml"
    config.write_text(f'[service]\ndata_dir = "{env.config.service.data_dir}"\n',
                      encoding="utf-8")
    out = tmp_path / f"cli-{'-'.join(args)}.{fmt}"
    result = CliRunner().invoke(main, ["audit", "report", "--period", "2026-11", "--format",
                                       fmt, "--out", str(out), "--config", str(config),
                                       *args])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def download(env: Any, user: str, fmt: str, query: str = "period=2026-11") -> Any:
    console = client(env.settings)
    login(console, user)
    return console.get(f"/audit/report.{fmt}?{query}")


def workbook_content(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cells, the date line aside."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return {ws.title: [tuple(DATED.sub("DATE", v) if isinstance(v, str) else v for v in row)
                       for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def document_content(data: bytes) -> list[str]:
    """Every paragraph and table cell, the date line aside."""
    document = docx.Document(io.BytesIO(data))
    found = [p.text for p in document.paragraphs]
    found += [cell.text for table in document.tables for row in table.rows
              for cell in row.cells]
    return [DATED.sub("DATE", text) for text in found]


CONTENT = {"xlsx": workbook_content, "docx": document_content}


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
def test_an_administrator_downloads_the_command_lines_report(filed_env: Any, tmp_path: Path,
                                                             fmt: str) -> None:
    got = download(filed_env, "admin", fmt)
    assert got.status_code == 200, got.text
    assert got.headers["content-disposition"] == f'attachment; filename="bao-cao-2026-11.{fmt}"'
    assert got.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert got.headers["cache-control"] == "no-store"
    assert CONTENT[fmt](got.content) == CONTENT[fmt](command_line(filed_env, tmp_path, fmt))


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
def test_an_auditor_downloads_the_subtree_of_the_grant_only(filed_env: Any, tmp_path: Path,
                                                            fmt: str) -> None:
    got = download(filed_env, "auditor-a", fmt)  # granted stc
    assert got.status_code == 200, got.text
    expected = command_line(filed_env, tmp_path, fmt, "--unit", "stc", "--subtree")
    assert CONTENT[fmt](got.content) == CONTENT[fmt](expected)
    if fmt == "xlsx":
        wb = openpyxl.load_workbook(io.BytesIO(got.content))
        assert wb.sheetnames == ["Tổng hợp", "Phụ lục", "Chưa sử dụng", "stc", "stc-a"]
        appendix = [row[:3] for row in wb["Phụ lục"].iter_rows(min_row=7, values_only=True)]
        # stc's code beside its name; stc sent two of the three messages (one via stc-a)
        assert appendix == [("Sở Tài chính", "000.01.21.H41", 1),
                            ("Phòng Ngân sách", None, 1), ("Toàn tỉnh", None, 2)]
    else:
        text = "\n".join(document_content(got.content))
        assert "Sở Tài chính\n000.01.21.H41" in text
        assert "Sở Giáo dục" not in text and "Ủy ban nhân dân" not in text


def test_the_report_page_links_the_files_of_its_period(filed_env: Any) -> None:
    console = client(filed_env.settings)
    login(console, "auditor-a")
    page = console.get("/audit/report?period=2026-Q4&with_predecessors=true").text
    links = re.findall(r'<a href="(/audit/report\.(?:xlsx|docx)\?[^"]+)"', page)
    assert links == ["/audit/report.xlsx?period=2026-Q4&amp;with_predecessors=true",
                     "/audit/report.docx?period=2026-Q4&amp;with_predecessors=true"]
    assert "Tải báo cáo để gửi:" in page
    got = console.get(links[0].replace("&amp;", "&"))
    assert got.status_code == 200
    assert got.headers["content-disposition"] == 'attachment; filename="bao-cao-2026-Q4.xlsx"'


def test_another_units_auditor_gets_only_that_unit(filed_env: Any) -> None:
    got = download(filed_env, "auditor-b", "xlsx")  # granted sgd
    wb = openpyxl.load_workbook(io.BytesIO(got.content))
    assert wb.sheetnames == ["Tổng hợp", "Phụ lục", "Chưa sử dụng", "sgd"]
    names = [row[0] for row in wb["Phụ lục"].iter_rows(min_row=7, values_only=True)]
    assert names == ["Sở Giáo dục và Đào tạo", "Toàn tỉnh"]


def test_bad_requests_are_refused_and_anonymous_ones_sent_to_log_in(filed_env: Any) -> None:
    assert download(filed_env, "auditor-a", "pdf").status_code == 404
    assert download(filed_env, "auditor-a", "xlsx", "period=2026-13").status_code == 400
    assert download(filed_env, "auditor-a", "xlsx", "period=").status_code == 400
    anonymous = client(filed_env.settings).get("/audit/report.xlsx?period=2026-11")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login?next=")
