"""The filed report as a Word document (python-docx), in Vietnamese (or English).

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
)
from audit.reportfmt import ACTIVATED, NEVER_SENT

FONT = "Times New Roman"
A4_WIDTH, A4_HEIGHT = Cm(21), Cm(29.7)
NAME_WIDTH = Cm(4.5)


def _figures(filed: Filed) -> dict[str, str]:
    """The province's figures, written for people, by column."""
    return {column: filed.text(column, value) for column, value in filed.total.items()}


def _use(filed: Filed, f: dict[str, str]) -> str:
    if not filed.has_roster:
        return filed.gettext("No roster of officials' mailboxes: the report could not count the "
                             "mailboxes activated and used regularly.")
    return filed.gettext("Officials given an official mailbox: {mailboxes}; mailboxes activated: "
                         "{activated}, a rate of {activation_rate}; mailboxes used regularly (at "
                         "least {minimum} messages sent a month): {regular}, a rate of "
                         "{regular_rate}.").format(minimum=filed.report.regular_min, **f)


def _documents(filed: Filed, f: dict[str, str]) -> list[str]:
    return [
        filed.gettext("Electronic documents sent: {documents_sent}, of which {documents_signed} "
                      "digitally signed, {documents_valid} with a valid digital signature "
                      "({documents_valid_gov} signed with the government's special-purpose "
                      "signature, {documents_valid_public} with a public one, "
                      "{documents_valid_other} with another); {documents_sealed} with the sending "
                      "organisation's digital signature, {documents_complete} with both the "
                      "signer's and the organisation's.").format(**f),
        filed.gettext("Electronic documents received: {documents_received}, of which "
                      "{documents_received_valid} with a valid digital signature, "
                      "{documents_received_complete} with two valid digital signatures or "
                      "more.").format(**f),
    ]


def _violations(filed: Filed, f: dict[str, str]) -> str:
    return filed.gettext("Mail sent marked classified (MẬT, TỐI MẬT, TUYỆT MẬT): "
                         "{classified_marked}; mail sent and refused: {sent_refused}; mail sent "
                         "and held in quarantine: {sent_held}; mail received and refused: "
                         "{received_refused}; mail impersonating a unit stopped: "
                         "{forgery_attempts}; mail sent typed in a legacy encoding (TCVN3, VNI) "
                         "instead of Unicode: {legacy_encoded}.").format(**f)


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
    doc.add_heading(filed.gettext("IV. Units and officials not using their official mailbox "
                                  "regularly"), level=2)
    if not filed.has_roster:
        doc.add_paragraph(filed.gettext("No roster of officials' mailboxes."))
        return
    units = ", ".join(filed.idle_units) or filed.gettext("none")
    doc.add_paragraph(filed.gettext("Units with no official using their mailbox regularly "
                                    "({count}): {units}.").format(
        count=len(filed.idle_units), units=units))
    doc.add_paragraph(filed.gettext("Officials not using their mailbox regularly (under {minimum} "
                                    "messages sent a month): {count}.").format(
        minimum=filed.report.regular_min, count=len(filed.idle)))
    if filed.idle:
        _table(doc, [filed.gettext(c) for c in NOT_USING.values()], [
            [i.unit, i.mailbox, i.official, filed.gettext(ACTIVATED[i.is_activated]),
             filed.text("sent", i.sent), f"{i.last_sent:%d/%m/%Y %H:%M}" if i.last_sent
             else filed.gettext(NEVER_SENT)] for i in filed.idle], size=10)


def _appendix(doc: Docx, filed: Filed) -> None:
    section = doc.add_section()
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = A4_HEIGHT, A4_WIDTH
    section.left_margin = section.right_margin = Cm(1.5)
    doc.add_heading(filed.gettext("Appendix: figures by unit"), level=2)
    columns = filed.columns(APPENDIX)
    # the identifier code under the name: the figures keep the page's width
    body = [[f"{unit.name}\n{unit.organ_id}" if unit.organ_id else unit.name,
             *(filed.text(c, unit.row[c]) for c in columns[1:])]
            for unit in filed.units]
    body.append([filed.gettext(PROVINCE), *(filed.text(c, filed.total[c]) for c in columns[1:])])
    header = [filed.label(c) for c in columns]
    if filed.has_organ_ids:
        header[0] = f"{header[0]}\n({filed.gettext(ORGAN_ID).lower()})"
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
    doc.core_properties.title = f"{filed.gettext(TITLE)} {filed.report.period.label}"
    doc.core_properties.created = filed.generated
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading.add_run(filed.gettext("REPORT") + "\n").bold = True
    heading.add_run(filed.gettext(TITLE)).bold = True
    for line in (filed.span, filed.dated_in_zone):
        doc.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.CENTER
    f = _figures(filed)
    doc.add_heading(filed.gettext("I. Use of official e-mail mailboxes"), level=2)
    doc.add_paragraph(_use(filed, f))
    doc.add_paragraph(filed.gettext("In the period the units sent {sent} and received {received} "
                                    "e-mail messages through the system.").format(**f))
    doc.add_heading(filed.gettext("II. Electronic documents"), level=2)
    for paragraph in _documents(filed, f):
        doc.add_paragraph(paragraph)
    doc.add_heading(filed.gettext("III. Violations"), level=2)
    doc.add_paragraph(_violations(filed, f))
    _idle(doc, filed)
    doc.add_paragraph(filed.chain)
    _appendix(doc, filed)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
