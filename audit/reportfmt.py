"""The periodic report as CSV or JSON (for machines) and as a table or HTML page (for people).

Every format renders the same :class:`~audit.report.Report`. The machine formats keep
the English snake_case column names, unit ids in ``unit`` and times in ISO 8601 UTC;
the human formats read in Vietnamese and name units by the names the caller passes
(audit/ has no directory). pygal draws the charts (pure Python, SVG inlined so the
page works offline; its tooltip script is left out).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

import pygal  # type: ignore[import-untyped]

from audit.report import Counts, Report
from mailbase import zone

Row = dict[str, Any]

#: Columns of the machine formats; the shares are percentages of the sent (DKIM,
#: S/MIME) or DMARC-checked (dmarc_passed) messages.
COLUMNS = ["unit", "mailbox", "sent", "sent_refused", "sent_held", "received",
           "received_refused", "forgery_attempts", "documents_sent", "documents_signed",
           "documents_valid", "dkim_signed", "smime_signed", "dmarc_checked", "dmarc_passed",
           "spoof_refused", "busiest_correspondents"]
SHARES = ("dkim_signed", "smime_signed", "dmarc_passed")

#: The same columns as people read them.
LABELS = {
    "unit": "Đơn vị", "mailbox": "Hộp thư", "sent": "Đã gửi",
    "sent_refused": "Gửi bị từ chối", "sent_held": "Gửi đang cách ly",
    "received": "Đã nhận", "received_refused": "Nhận bị từ chối",
    "forgery_attempts": "Bị giả mạo", "documents_sent": "Văn bản đã gửi",
    "documents_signed": "Văn bản có chữ ký số", "documents_valid": "Văn bản ký số hợp lệ",
    "dkim_signed": "Ký DKIM", "smime_signed": "Ký S/MIME", "dmarc_checked": "Kiểm tra DMARC",
    "dmarc_passed": "Đạt DMARC", "spoof_refused": "Từ chối giả mạo",
    "busiest_correspondents": "Trao đổi nhiều nhất",
}
TOTAL = "Tổng cộng"


def _percent(share: float) -> float:
    return round(100 * share, 1)


def _values(counts: Counts) -> Row:
    """One row's counts, under the machine column names."""
    return {
        "sent": counts.sent, "sent_refused": counts.sent_refused,
        "sent_held": counts.sent_held, "received": counts.received,
        "received_refused": counts.received_refused,
        "forgery_attempts": counts.forgery_attempts,
        "documents_sent": counts.documents_sent, "documents_signed": counts.documents_signed,
        "documents_valid": counts.documents_valid,
        "dkim_signed": _percent(counts.dkim_share), "smime_signed": _percent(counts.smime_share),
        "dmarc_checked": counts.dmarc_checked, "dmarc_passed": _percent(counts.dmarc_share),
        "spoof_refused": counts.spoof_refused,
    }


def rows(report: Report) -> list[Row]:
    """Per unit a row (empty ``mailbox``), then its mailboxes; last, the total row
    (empty ``unit`` and ``mailbox``: it counts each message once)."""
    found: list[Row] = []
    for unit in report.units:
        found.append({"unit": unit.unit_id, "mailbox": "", **_values(unit.counts),
                      "busiest_correspondents": "; ".join(
                          f"{a} ({n})" for a, n in unit.correspondents)})
        found.extend({"unit": unit.unit_id, "mailbox": box.address, **_values(box.counts),
                      "busiest_correspondents": ""} for box in unit.mailboxes)
    found.append({"unit": "", "mailbox": "", **_values(report.total),
                  "busiest_correspondents": ""})
    return found


def _csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows(report):
        writer.writerow({k: f"{v:.1f}%" if k in SHARES else v for k, v in row.items()})
    return out.getvalue().rstrip("\n")


def _json(report: Report, tz_name: str) -> str:
    return json.dumps({
        "period": report.period.label,
        "start": report.period.start.astimezone(UTC).isoformat(),
        "end": report.period.end.astimezone(UTC).isoformat(),
        "time_zone": tz_name,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": rows(report),
    }, ensure_ascii=False, indent=2)


def _span(report: Report, tz_name: str) -> str:
    tz = zone(tz_name)
    start = report.period.start.astimezone(tz).strftime("%d/%m/%Y %H:%M")
    end = report.period.end.astimezone(tz).strftime("%d/%m/%Y %H:%M")
    return f"{report.period.label}: từ {start} đến trước {end} ({tz_name})"


def _human(row: Row, names: Mapping[str, str], column: str) -> str:
    """One cell for people: unit names, shares as percentages, the total row named."""
    value = row[column]
    if column == "unit":
        if row["mailbox"]:
            return ""
        return names.get(value, value) if value else TOTAL
    return f"{value:.1f}%" if column in SHARES else str(value)


def _table(report: Report, tz_name: str, names: Mapping[str, str]) -> str:
    cols = COLUMNS[:-1]
    header = [LABELS[c] for c in cols]
    cells = [[_human(r, names, c) for c in cols] for r in rows(report)]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    lines = [f"Báo cáo {_span(report, tz_name)}",
             "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def render(report: Report, fmt: str, tz_name: str,
           names: Mapping[str, str] | None = None) -> str:
    """Render ``report`` as ``table``, ``csv``, ``json`` or ``html``.

    :param names: unit id -> the unit's name, for the human formats (ids otherwise).
    """
    names = names or {}
    if fmt == "csv":
        return _csv(report)
    if fmt == "json":
        return _json(report, tz_name)
    if fmt == "html":
        return _html(report, tz_name, names)
    return _table(report, tz_name, names)


def _chart(chart: pygal.Graph) -> str:
    return str(chart.render(is_unicode=True))


def charts(report: Report, names: Mapping[str, str]) -> dict[str, pygal.Graph]:
    """The report's charts, in Vietnamese: volume, signed shares, and (only when the
    period holds DMARC-checked mail) the DMARC pass share. The console serves the same."""
    labels = [names.get(u.unit_id, u.unit_id) for u in report.units]
    style = {"js": [], "disable_xml_declaration": True, "width": 800,
             "height": max(240, 60 + 40 * len(labels)), "legend_at_bottom": True}
    units = [u.counts for u in report.units]
    volume = pygal.HorizontalBar(title="Thư gửi và nhận", **style)
    volume.x_labels = labels
    for column in ("sent", "received", "forgery_attempts", "documents_sent",
                   "documents_valid"):
        volume.add(LABELS[column], [getattr(c, column) for c in units])
    signed = pygal.HorizontalBar(title="Tỷ lệ thư gửi đi được ký (%)", range=(0, 100),
                                 **style)
    signed.x_labels = labels
    signed.add("DKIM", [_percent(c.dkim_share) for c in units])
    signed.add("S/MIME", [_percent(c.smime_share) for c in units])
    found = {"volume": volume, "signed": signed}
    if any(c.dmarc_checked for c in units):
        dmarc = pygal.HorizontalBar(title="Tỷ lệ thư đến đạt DMARC (%)", range=(0, 100),
                                    **style)
        dmarc.x_labels = labels
        dmarc.add("DMARC", [_percent(c.dmarc_share) for c in units])
        found["dmarc"] = dmarc
    return found


def _html_cell(row: Row, names: Mapping[str, str], column: str) -> str:
    text = escape(_human(row, names, column))
    if column == "unit" and row["unit"] and not row["mailbox"]:
        return f'<td title="{escape(row["unit"])}">{text}</td>'
    return f"<td>{text}</td>"


def _html(report: Report, tz_name: str, names: Mapping[str, str]) -> str:
    figures = "\n".join(f"<figure>{_chart(c)}</figure>" for c in charts(report, names).values())
    head = "".join(f"<th>{escape(LABELS[c])}</th>" for c in COLUMNS)
    body = "\n".join(
        "<tr>" + "".join(_html_cell(r, names, c) for c in COLUMNS) + "</tr>"
        for r in rows(report))
    generated = datetime.now(UTC).astimezone(zone(tz_name)).strftime("%d/%m/%Y %H:%M")
    label = escape(report.period.label)
    return f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo sử dụng thư điện tử công vụ {label}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}</style></head>
<body><h1>Báo cáo sử dụng thư điện tử công vụ {label}</h1>
<p>{escape(_span(report, tz_name))}. Lập lúc {generated} ({escape(tz_name)}).</p>
{figures}
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table></body></html>"""
