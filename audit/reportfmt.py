"""The periodic report as a table, CSV, or an HTML page with charts (pygal SVG).

pygal draws the charts (a chart library, as issue 7 asks, pure Python, SVG inlined
so the page works offline; its tooltip script is left out).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from html import escape

import pygal  # type: ignore[import-untyped]

from audit.report import Counts, Report
from mailbase import zone


def _pct(counts: Counts, part: int) -> str:
    return f"{100 * counts.share(part):.1f}%"


def _rows(report: Report) -> list[dict[str, str | int]]:
    rows: list[dict[str, str | int]] = []
    for unit in report.units:
        rows.append({
            "unit": unit.unit_id, "mailbox": "", "sent": unit.sent.messages,
            "received": unit.received.messages, "documents_sent": unit.sent.documents,
            **_documents(unit.sent),
            "dkim_signed": _pct(unit.sent, unit.sent.dkim_signed),
            "smime_signed": _pct(unit.sent, unit.sent.smime_signed),
            "rejected": unit.sent.rejected + unit.received.rejected,
            "quarantined": unit.sent.quarantined + unit.received.quarantined,
            **_dmarc(unit.received),
            "busiest_correspondents": "; ".join(f"{a} ({n})" for a, n in unit.correspondents),
        })
        for box in unit.mailboxes:
            rows.append({
                "unit": unit.unit_id, "mailbox": box.address, "sent": box.sent.messages,
                "received": box.received.messages, "documents_sent": box.sent.documents,
                **_documents(box.sent),
                "dkim_signed": _pct(box.sent, box.sent.dkim_signed),
                "smime_signed": _pct(box.sent, box.sent.smime_signed),
                "rejected": box.sent.rejected + box.received.rejected,
                "quarantined": box.sent.quarantined + box.received.quarantined,
                **_dmarc(box.received),
                "busiest_correspondents": "",
            })
    return rows


COLUMNS = ["unit", "mailbox", "sent", "received", "documents_sent", "pdf_office_sent",
           "documents_signed", "documents_validly_signed", "dkim_signed", "smime_signed",
           "rejected", "quarantined", "dmarc_checked", "dmarc_passed", "spoof_refused",
           "busiest_correspondents"]


def _dmarc(received: Counts) -> dict[str, str | int]:
    """Issue 12: of the mail received, how much was DMARC-checked, the share of those
    that passed, and how many were refused as spoofing a provincial domain."""
    return {"dmarc_checked": received.dmarc_checked,
            "dmarc_passed": f"{100 * received.dmarc_share:.1f}%",
            "spoof_refused": received.spoof_refused}


def _documents(sent: Counts) -> dict[str, str | int]:
    """Issue 11: of the PDF and Office documents sent, how many were signed, and validly."""
    return {"pdf_office_sent": sent.documents_checked,
            "documents_signed": sent.documents_signed,
            "documents_validly_signed": sent.documents_valid}


def _span(report: Report, tz_name: str) -> str:
    tz = zone(tz_name)
    start = report.period.start.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    end = report.period.end.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return f"{report.period.label}: {start} to {end} ({tz_name})"


def render(report: Report, fmt: str, tz_name: str) -> str:
    """Render ``report`` as ``table``, ``csv`` or ``html``."""
    rows = _rows(report)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    if fmt == "html":
        return _html(report, rows, tz_name)
    cols = COLUMNS[:-1]
    cells = [[str(r[c]) for c in cols] for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(cols)]
    lines = [f"Report {_span(report, tz_name)}",
             "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    if not rows:
        lines.append("(no mail in this period)")
    return "\n".join(line.rstrip() for line in lines)


def _chart(chart: pygal.Graph) -> str:
    return str(chart.render(is_unicode=True))


def _html(report: Report, rows: list[dict[str, str | int]], tz_name: str) -> str:
    tz = zone(tz_name)
    units = [u.unit_id for u in report.units]
    style = {"js": [], "disable_xml_declaration": True, "width": 800,
             "height": max(240, 60 + 40 * len(units)), "legend_at_bottom": True}
    volume = pygal.HorizontalBar(title="Messages sent and received", **style)
    volume.x_labels = units
    volume.add("sent", [u.sent.messages for u in report.units])
    volume.add("received", [u.received.messages for u in report.units])
    volume.add("documents sent", [u.sent.documents for u in report.units])
    volume.add("validly signed documents", [u.sent.documents_valid for u in report.units])
    volume.add("refused as spoofing", [u.received.spoof_refused for u in report.units])
    signed = pygal.HorizontalBar(title="Share of sent mail signed (%)", range=(0, 100), **style)
    signed.x_labels = units
    signed.add("DKIM", [round(100 * u.sent.share(u.sent.dkim_signed), 1) for u in report.units])
    signed.add("S/MIME",
               [round(100 * u.sent.share(u.sent.smime_signed), 1) for u in report.units])
    inbound = pygal.HorizontalBar(title="Share of DMARC-checked inbound mail that passed (%)",
                                  range=(0, 100), **style)
    inbound.x_labels = units
    inbound.add("DMARC", [round(100 * u.received.dmarc_share, 1) for u in report.units])
    # issue 12: only when the period holds DMARC-checked inbound mail (no empty chart)
    checked = (f"<figure>{_chart(inbound)}</figure>"
               if any(u.received.dmarc_checked for u in report.units) else "")
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{escape(str(r[c]))}</td>" for c in COLUMNS) + "</tr>"
        for r in rows
    )
    generated = datetime.now(UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="vi"><head><meta charset="utf-8">
<title>Báo cáo sử dụng thư điện tử công vụ {escape(report.period.label)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}</style></head>
<body><h1>Official e-mail report {escape(report.period.label)}</h1>
<p>{escape(_span(report, tz_name))}. Generated {generated} ({escape(tz_name)}).</p>
<figure>{_chart(volume)}</figure>
<figure>{_chart(signed)}</figure>
{checked}
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table></body></html>"""
