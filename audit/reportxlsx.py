"""The filed report as an Excel workbook (openpyxl), in Vietnamese (or English).

Sheets: ``Tổng hợp`` (Summary: the title, the period, the date, where the chain stood,
and the province's figures by section), ``Phụ lục`` (Appendix: one row per unit and the
province's total), ``Chưa sử dụng`` (Not in use: the units and officials not using
their mailbox) and one
sheet per unit (its own row and a row per mailbox), named by the unit's id (Excel
allows 31 characters and no ``[]:*?/\\`` in a sheet's name; the full name is the
sheet's first line). Counts are numbers, shares are fractions shown as percentages,
times are the report zone's; every table's header row is frozen.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

from audit.reportfiled import (
    APPENDIX,
    NOT_USING,
    ORGAN_ID,
    PROVINCE,
    TITLE,
    UNIT_ROW,
    UNIT_TABLE,
    Filed,
)
from audit.reportfmt import ACTIVATED, NEVER_SENT, SHARES, Row
from mailbase import N_, zone

PERCENT = "0.0%"
WHEN = "dd/mm/yyyy hh:mm"
BOLD = Font(bold=True)
#: columns of addresses, names and times, wider than a count's
_WIDE = frozenset({"mailbox", "official", "last_sent"})
WIDE = 28
#: what Excel refuses in a sheet's name, and its length limit
_NOT_IN_NAME = str.maketrans({c: "_" for c in "[]:*?/\\"})
_NAME_MAX = 31


def _cell(column: str, value: Any, filed: Filed) -> Any:
    """A value as the workbook stores it: shares as fractions, times as local times
    (Excel has no zones), the rest as it is."""
    if value is None or value == "":
        return None
    if column in SHARES:
        return float(value) / 100
    if column == "last_sent":
        local = datetime.fromisoformat(value).astimezone(zone(filed.tz_name))
        return local.replace(tzinfo=None)
    return value


def _format(ws: Any, row: int, columns: Sequence[str], first_column: int = 1) -> None:
    for offset, column in enumerate(columns):
        if column in SHARES:
            ws.cell(row=row, column=first_column + offset).number_format = PERCENT
        elif column == "last_sent":
            ws.cell(row=row, column=first_column + offset).number_format = WHEN


def _table(ws: Any, header: Sequence[str], columns: Sequence[str],
           body: Iterable[Sequence[Any]]) -> None:
    """A header row (bold, frozen with the lines above it and the first column), then
    the body, with the share and time columns formatted."""
    ws.append(list(header))
    top = ws.max_row
    for cell in ws[top]:
        cell.font = BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for values in body:
        ws.append(list(values))
        _format(ws, ws.max_row, columns)
    ws.freeze_panes = ws.cell(row=top + 1, column=2)
    ws.column_dimensions["A"].width = 36
    for index, column in enumerate(columns[1:], start=2):
        ws.column_dimensions[get_column_letter(index)].width = \
            WIDE if column in _WIDE else 14
    # printed: landscape, one page wide, the header row on every page
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.print_title_rows = f"{top}:{top}"


def _heading(ws: Any, filed: Filed, title: str) -> None:
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([filed.span])
    ws.append([filed.dated_in_zone])
    ws.append([filed.chain])
    ws.append([])


def _summary(wb: Any, filed: Filed) -> None:
    ws = wb.active
    ws.title = filed.gettext(N_("Summary"))
    _heading(ws, filed, filed.gettext(TITLE))
    ws.append([filed.gettext("Indicator"), filed.gettext(PROVINCE)])
    header = ws.max_row
    ws.cell(row=header, column=1).font = ws.cell(row=header, column=2).font = BOLD
    for title, columns in filed.summary_sections():
        ws.append([filed.gettext(title)])
        ws.cell(row=ws.max_row, column=1).font = BOLD
        for column in columns:
            ws.append([filed.label(column), _cell(column, filed.total[column], filed)])
            _format(ws, ws.max_row, [column], first_column=2)
    if not filed.has_roster:
        ws.append([filed.gettext("No roster of officials' mailboxes: their use could not be "
                                 "counted.")])
    ws.freeze_panes = ws.cell(row=header + 1, column=1)
    ws.column_dimensions["A"].width = 48
    ws.column_dimensions["B"].width = 16


def _appendix(wb: Any, filed: Filed) -> None:
    ws = wb.create_sheet(filed.gettext("Appendix"))
    _heading(ws, filed, filed.gettext("Appendix: figures by unit"))
    columns = filed.columns(APPENDIX)
    # the identifier code beside the name, to join the figures with the exchange's
    coded = ["unit", "organ_id"] if filed.has_organ_ids else ["unit"]
    body = [[unit.name, *([unit.organ_id] if filed.has_organ_ids else []),
             *(_cell(c, unit.row[c], filed) for c in columns[1:])]
            for unit in filed.units]
    body.append([filed.gettext(PROVINCE), *([None] if filed.has_organ_ids else []),
                 *(_cell(c, filed.total[c], filed) for c in columns[1:])])
    header = [filed.label("unit"), *([filed.gettext(ORGAN_ID)] if filed.has_organ_ids else []),
              *(filed.label(c) for c in columns[1:])]
    _table(ws, header, [*coded, *columns[1:]], body)
    for cell in ws[ws.max_row]:
        cell.font = BOLD


def _idle(wb: Any, filed: Filed) -> None:
    ws = wb.create_sheet(filed.gettext("Not in use"))
    _heading(ws, filed, filed.gettext("Units and officials not using their official mailbox "
                                      "regularly"))
    if not filed.has_roster:
        ws.append([filed.gettext("No roster of officials' mailboxes.")])
        return
    ws.append([filed.gettext("Units with no official using their mailbox regularly: {units}")
               .format(units=len(filed.idle_units))])
    for name in filed.idle_units:
        ws.append([None, name])
    ws.append([filed.gettext("Officials not using their mailbox regularly (under {minimum} "
                             "messages sent a month): {count}").format(
        minimum=filed.report.regular_min, count=len(filed.idle))])
    body = [[i.unit, i.mailbox, i.official, filed.gettext(ACTIVATED[i.is_activated]), i.sent,
             i.last_sent.replace(tzinfo=None) if i.last_sent else filed.gettext(NEVER_SENT)]
            for i in filed.idle]
    _table(ws, [filed.gettext(c) for c in NOT_USING.values()], list(NOT_USING), body)


def _unit_row(row: Row, columns: Sequence[str], filed: Filed) -> list[Any]:
    return [filed.gettext(UNIT_ROW), *(_cell(c, row[c], filed) for c in columns[1:])]


def _units(wb: Any, filed: Filed) -> None:
    taken = {ws.title.casefold() for ws in wb.worksheets}
    columns = filed.columns(UNIT_TABLE)
    for unit in filed.units:
        ws = wb.create_sheet(_sheet_name(unit.unit_id, taken))
        code = f", {filed.gettext(ORGAN_ID).lower()} {unit.organ_id}" if unit.organ_id else ""
        _heading(ws, filed, f"{unit.name} ({unit.unit_id}{code})")
        body = [_unit_row(unit.row, columns, filed)]
        body += [[_cell(c, row[c], filed) for c in columns] for row in unit.mailboxes]
        _table(ws, [filed.label(c) for c in columns], columns, body)
        for cell in ws[ws.max_row - len(unit.mailboxes)]:
            cell.font = BOLD


def _sheet_name(unit_id: str, taken: set[str]) -> str:
    """A sheet name Excel accepts for ``unit_id``, unlike any name already ``taken``."""
    base = unit_id.translate(_NOT_IN_NAME).strip("'")[:_NAME_MAX] or "_"
    name, n = base, 1
    while name.casefold() in taken:
        n += 1
        suffix = f"~{n}"
        name = base[:_NAME_MAX - len(suffix)] + suffix
    taken.add(name.casefold())
    return name


def workbook(filed: Filed) -> bytes:
    """The filed report as the bytes of an .xlsx workbook."""
    wb = Workbook()
    wb.properties.creator = "congvu"
    wb.properties.title = f"{filed.gettext(TITLE)} {filed.report.period.label}"
    wb.properties.created = wb.properties.modified = (
        filed.generated.astimezone(UTC).replace(tzinfo=None))  # the file says UTC
    _summary(wb, filed)
    _appendix(wb, filed)
    _idle(wb, filed)
    _units(wb, filed)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
