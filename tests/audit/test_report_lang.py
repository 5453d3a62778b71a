"""The report a person reads comes out in Vietnamese (the default) or in English
(``--lang en``): the table, the HTML page with its charts, the workbook and the Word
document, each with the same figures; CSV and JSON have no language."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import click
import docx
import openpyxl
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from support.audit import make_record

WHEN = datetime(2026, 11, 3, 2, tzinfo=UTC)


@pytest.fixture
def store(audit_config: AuditConfig) -> AuditConfig:
    with AuditLog.open(audit_config) as log:
        rid = log.record(make_record(received_at=WHEN))
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED, reply="250 2.0.0 Ok",
                                at=WHEN))
    return audit_config


def run(config: AuditConfig, *args: str) -> str:
    cli = click.Group(commands=commands(lambda _path: config))
    result = CliRunner().invoke(cli, ["audit", "report", "--period", "2026-11", *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_table_reads_in_either_language(store: AuditConfig) -> None:
    vietnamese, default = run(store, "--lang", "vi"), run(store)
    english = run(store, "--lang", "en")
    assert default == vietnamese
    assert "Tổng cộng" in vietnamese and "Đã gửi" in vietnamese
    assert "Báo cáo 2026-11: từ" in vietnamese
    assert "Total" in english and "Sent" in english and "Report 2026-11: from" in english
    assert "Tổng cộng" not in english and "Total" not in vietnamese
    # the same figures under either language's labels
    assert [line.split()[-3:] for line in vietnamese.splitlines()[3:]] == [
        line.split()[-3:] for line in english.splitlines()[3:]]


def test_the_html_page_and_its_charts_in_english(store: AuditConfig) -> None:
    page = run(store, "--format", "html", "--lang", "en")
    assert '<html lang="en">' in page and "Official e-mail use report 2026-11" in page
    assert "Mail sent and received" in page  # the chart's title
    vietnamese = run(store, "--format", "html")
    assert '<html lang="vi">' in vietnamese and "Thư gửi và nhận" in vietnamese
    assert "Mail sent and received" not in vietnamese


def test_csv_and_json_have_no_language(store: AuditConfig) -> None:
    assert run(store, "--format", "csv", "--lang", "en") == run(store, "--format", "csv")
    english = json.loads(run(store, "--format", "json", "--lang", "en"))
    vietnamese = json.loads(run(store, "--format", "json"))
    assert english["rows"] == vietnamese["rows"]


def test_the_filed_files_in_english(store: AuditConfig, tmp_path: Path) -> None:
    run(store, "--format", "xlsx", "--lang", "en", "--out", str(tmp_path / "r.xlsx"))
    wb = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert wb.sheetnames[:3] == ["Summary", "Appendix", "Not in use"]
    cells = [c for row in wb["Summary"].iter_rows(values_only=True) for c in row if c]
    assert "Report on the use of official e-mail mailboxes" in cells
    assert "Indicator" in cells and "The whole province" in cells

    run(store, "--format", "docx", "--lang", "en", "--out", str(tmp_path / "r.docx"))
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(
        (tmp_path / "r.docx").read_bytes())).paragraphs)
    assert "REPORT\nReport on the use of official e-mail mailboxes" in text
    assert "In the period the units sent 1 and received 1 e-mail messages" in text
    assert "Reporting period 2026-11: from 01/11/2026 to the end of 30/11/2026" in text

    run(store, "--format", "docx", "--out", str(tmp_path / "vi.docx"))
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(
        (tmp_path / "vi.docx").read_bytes())).paragraphs)
    assert "BÁO CÁO\nBáo cáo tình hình sử dụng hộp thư điện tử công vụ" in text


def test_an_unknown_language_is_refused(store: AuditConfig) -> None:
    cli = click.Group(commands=commands(lambda _path: store))
    result = CliRunner().invoke(cli, ["audit", "report", "--period", "2026-11", "--lang",
                                      "fr"])
    assert result.exit_code == 2 and "'fr' is not one of 'vi', 'en'" in result.output
