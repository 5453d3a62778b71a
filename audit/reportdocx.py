"""The filed report as a Word document (python-docx), in Vietnamese.

The narrative the provinces write, with the figures filled in: the officials'
mailboxes and the two rates, documents sent and received electronically, violations,
the units and officials not using their mailbox; where the chain stood; then, on
landscape pages, the per-unit appendix (its header row repeated on every page).
Times New Roman 13 pt, as administrative documents are set.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.document import Document as Docx
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table

from audit.reportfiled import (
    APPENDIX,
    NOT_USING,
    ORGAN_ID,
    PROVINCE,
    TITLE,
    Filed,
    label,
    text,
)

FONT = "Times New Roman"
A4_WIDTH, A4_HEIGHT = Cm(21), Cm(29.7)
NAME_WIDTH = Cm(4.5)


def _figures(filed: Filed) -> dict[str, str]:
    """The province's figures, written for people, by column."""
    return {column: text(column, value) for column, value in filed.total.items()}


def _use(filed: Filed, f: dict[str, str]) -> str:
    if not filed.has_roster:
        return ("Chưa có danh sách hộp thư của cán bộ: báo cáo chưa tính được số hộp thư "
                "đã kích hoạt và sử dụng thường xuyên.")
    return (f"Tổng số cán bộ được cấp hộp thư điện tử công vụ: {f['mailboxes']}; số hộp thư "
            f"đã kích hoạt: {f['activated']}, đạt tỷ lệ {f['activation_rate']}; số hộp thư "
            f"sử dụng thường xuyên (ít nhất {filed.report.regular_min} thư gửi mỗi tháng): "
            f"{f['regular']}, đạt tỷ lệ {f['regular_rate']}.")


def _documents(f: dict[str, str]) -> list[str]:
    return [
        f"Số văn bản điện tử gửi đi: {f['documents_sent']}, trong đó {f['documents_signed']} "
        f"văn bản có chữ ký số, {f['documents_valid']} văn bản có chữ ký số hợp lệ "
        f"({f['documents_valid_gov']} ký bằng chữ ký số chuyên dùng Chính phủ, "
        f"{f['documents_valid_public']} bằng chữ ký số công cộng, "
        f"{f['documents_valid_other']} bằng chữ ký số khác); {f['documents_sealed']} văn "
        f"bản có chữ ký số của cơ quan gửi, {f['documents_complete']} văn bản đủ chữ ký số "
        "của người ký và của cơ quan.",
        f"Số văn bản điện tử nhận được: {f['documents_received']}, trong đó "
        f"{f['documents_received_valid']} văn bản có chữ ký số hợp lệ, "
        f"{f['documents_received_complete']} văn bản có hai chữ ký số hợp lệ trở lên.",
    ]


def _violations(f: dict[str, str]) -> str:
    return (f"Thư gửi đi có dấu mật (MẬT, TỐI MẬT, TUYỆT MẬT): "
            f"{f['classified_marked']}; thư gửi đi bị từ chối: {f['sent_refused']}; thư "
            f"gửi đi đang bị cách ly: {f['sent_held']}; thư gửi đến bị từ chối: "
            f"{f['received_refused']}; thư giả danh đơn vị bị chặn: "
            f"{f['forgery_attempts']}; thư gửi đi gõ bằng bảng mã cũ (TCVN3, VNI) thay vì "
            f"Unicode: {f['legacy_encoded']}.")


def _repeat_header(table: Table) -> None:
    """Mark the first row as the header Word repeats on every page (w:tblHeader)."""
    properties = table.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    properties.append(header)


def _table(doc: Docx, header: Sequence[str], body: Sequence[Sequence[str]],
           size: float) -> Table:
    table: Table = doc.add_table(rows=1 + len(body), cols=len(header))
    table.style = "Table Grid"
    for row, values in zip(table.rows, [header, *body], strict=True):
        for cell, value in zip(row.cells, values, strict=True):
            cell.text = value
            for run in cell.paragraphs[0].runs:
                run.font.size = Pt(size)
    for run in (r for cell in table.rows[0].cells for r in cell.paragraphs[0].runs):
        run.bold = True
    _repeat_header(table)
    return table


def _idle(doc: Docx, filed: Filed) -> None:
    doc.add_heading("IV. Đơn vị, cán bộ chưa sử dụng hộp thư điện tử công vụ thường xuyên",
                    level=2)
    if not filed.has_roster:
        doc.add_paragraph("Chưa có danh sách hộp thư của cán bộ.")
        return
    units = ", ".join(filed.idle_units) or "không có"
    doc.add_paragraph(f"Đơn vị chưa có cán bộ sử dụng thường xuyên "
                      f"({len(filed.idle_units)}): {units}.")
    doc.add_paragraph(f"Cán bộ chưa sử dụng thường xuyên (dưới {filed.report.regular_min} "
                      f"thư gửi mỗi tháng): {len(filed.idle)}.")
    if filed.idle:
        _table(doc, list(NOT_USING.values()), [
            [i.unit, i.mailbox, i.official, "có" if i.is_activated else "chưa",
             text("sent", i.sent), f"{i.last_sent:%d/%m/%Y %H:%M}" if i.last_sent
             else "chưa gửi"] for i in filed.idle], size=10)


def _appendix(doc: Docx, filed: Filed) -> None:
    section = doc.add_section()
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = A4_HEIGHT, A4_WIDTH
    section.left_margin = section.right_margin = Cm(1.5)
    doc.add_heading("Phụ lục: số liệu theo đơn vị", level=2)
    columns = filed.columns(APPENDIX)
    # the identifier code under the name: the figures keep the page's width
    body = [[f"{unit.name}\n{unit.organ_id}" if unit.organ_id else unit.name,
             *(text(c, unit.row[c]) for c in columns[1:])]
            for unit in filed.units]
    body.append([PROVINCE, *(text(c, filed.total[c]) for c in columns[1:])])
    header = [label(c) for c in columns]
    if filed.has_organ_ids:
        header[0] = f"{header[0]}\n({ORGAN_ID.lower()})"
    table = _table(doc, header, body, size=8)
    # the units' names wide enough to read, the figures share the rest of the line
    table.autofit = False
    rest = (A4_HEIGHT - Cm(3) - NAME_WIDTH) // (len(columns) - 1)
    for row in table.rows:
        for index, cell in enumerate(row.cells):
            cell.width = NAME_WIDTH if index == 0 else rest
    for run in (r for cell in table.rows[-1].cells for r in cell.paragraphs[0].runs):
        run.bold = True


def document(filed: Filed) -> bytes:
    """The filed report as the bytes of a .docx document."""
    doc = Document()
    # A4 and the margins of administrative documents (top and bottom 2 cm, left 3, right 2)
    first = doc.sections[0]
    first.page_width, first.page_height = A4_WIDTH, A4_HEIGHT
    first.top_margin = first.bottom_margin = first.right_margin = Cm(2)
    first.left_margin = Cm(3)
    style = doc.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(13)
    doc.core_properties.author = "congvu"
    doc.core_properties.title = f"{TITLE} {filed.report.period.label}"
    doc.core_properties.created = filed.generated
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading.add_run("BÁO CÁO\n").bold = True
    heading.add_run(TITLE).bold = True
    for line in (filed.span, f"{filed.dated} (giờ {filed.tz_name})"):
        doc.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.CENTER
    f = _figures(filed)
    doc.add_heading("I. Tình hình sử dụng hộp thư điện tử công vụ", level=2)
    doc.add_paragraph(_use(filed, f))
    doc.add_paragraph(f"Trong kỳ, các đơn vị đã gửi {f['sent']} thư và nhận {f['received']} "
                      "thư điện tử qua hệ thống.")
    doc.add_heading("II. Văn bản điện tử", level=2)
    for paragraph in _documents(f):
        doc.add_paragraph(paragraph)
    doc.add_heading("III. Vi phạm", level=2)
    doc.add_paragraph(_violations(f))
    _idle(doc, filed)
    doc.add_paragraph(filed.chain)
    _appendix(doc, filed)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
