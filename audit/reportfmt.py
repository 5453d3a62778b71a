"""The periodic report as CSV or JSON (for machines) and as a table or HTML page (for people).

Every format renders the same :class:`~audit.report.Report`. The machine formats keep
the English snake_case column names, unit ids in ``unit`` and times in ISO 8601 UTC;
the human formats read in Vietnamese by default, in English on request (the words in
audit/locale/, :mod:`audit.words`), and name units by the names the caller passes
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

from audit.report import Counts, Report, UnitReport
from audit.reportuse import OfficialUse, Use
from audit.words import translation
from mailbase import DEFAULT_LANGUAGE, N_, Translation, zone

Row = dict[str, Any]

#: The counted columns every row has, unit and mailbox first and the busiest
#: correspondents last; the shares are percentages of the sent (DKIM, S/MIME) or
#: DMARC-checked (dmarc_passed) messages.
COLUMNS = ["unit", "mailbox", "sent", "sent_refused", "sent_held", "received",
           "received_refused", "forgery_attempts", "documents_sent", "documents_signed",
           "documents_valid", "dkim_signed", "smime_signed", "dmarc_checked", "dmarc_passed",
           "spoof_refused", "documents_valid_gov", "documents_valid_public",
           "documents_valid_other", "documents_received", "documents_received_valid",
           "documents_received_complete", "documents_sealed", "documents_complete",
           "classified_marked", "legacy_encoded", "busiest_correspondents"]
#: The use of the roster's mailboxes: empty without a roster, and on rows of
#: addresses that are not a roster mailbox (the rates on unit and total rows only).
USE_COLUMNS = ["mailboxes", "activated", "regular", "activation_rate", "regular_rate",
               "official", "last_sent"]
#: Every column of a row, in the machine formats' order.
ROW_COLUMNS = [*COLUMNS[:-1], *USE_COLUMNS, COLUMNS[-1]]
#: CSV carries where the chain stood on every row (JSON once, under ``chain``).
CSV_COLUMNS = [*ROW_COLUMNS, "chain_seq", "chain_hash"]
SHARES = ("dkim_signed", "smime_signed", "dmarc_passed", "activation_rate", "regular_rate")
#: What each share is a share of: a share of nothing is no share, and people read "—".
SHARE_OF = {"dkim_signed": "sent", "smime_signed": "sent", "dmarc_passed": "dmarc_checked",
            "activation_rate": "mailboxes", "regular_rate": "mailboxes"}
NO_SHARE = "—"
_USE = tuple(USE_COLUMNS)
#: The keys of :func:`human_rows` that say where a row stands, not what it counts.
_LAYOUT = ("kind", "depth")

#: The same columns as people read them (English; :func:`labels` in a language).
LABELS = {
    "unit": N_("Unit"), "mailbox": N_("Mailbox"), "sent": N_("Sent"),
    "sent_refused": N_("Sent, refused"), "sent_held": N_("Sent, held"),
    "received": N_("Received"), "received_refused": N_("Received, refused"),
    "forgery_attempts": N_("Forgery attempts"), "documents_sent": N_("Documents sent"),
    "documents_signed": N_("Documents signed"),
    "documents_valid": N_("Documents validly signed"),
    "dkim_signed": N_("DKIM-signed"), "smime_signed": N_("S/MIME-signed"),
    "dmarc_checked": N_("DMARC-checked"), "dmarc_passed": N_("DMARC passed"),
    "spoof_refused": N_("Refused as forged"),
    "documents_valid_gov": N_("Valid, government CA"),
    "documents_valid_public": N_("Valid, public CA"),
    "documents_valid_other": N_("Valid, other CA"),
    "documents_received": N_("Documents received"),
    "documents_received_valid": N_("Documents received validly signed"),
    "documents_received_complete": N_("Documents received with two signatures"),
    "documents_sealed": N_("Documents with the unit's own signature"),
    "documents_complete": N_("Documents signed by the official and the unit"),
    "classified_marked": N_("Mail marked classified"),
    "legacy_encoded": N_("Mail in a legacy encoding (TCVN3, VNI)"),
    "mailboxes": N_("Officials' mailboxes"), "activated": N_("Activated"),
    "regular": N_("Used regularly"), "activation_rate": N_("Activation rate"),
    "regular_rate": N_("Regular use rate"), "official": N_("Official"),
    "last_sent": N_("Last sent"),
    "busiest_correspondents": N_("Busiest correspondents"),
}
TOTAL = N_("Total")
#: A subtotal row's unit cell, before the unit's name.
SUBTOTAL = N_("Subtotal")


def labels(lang: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """Every column's label in ``lang``, by column.

    :raises ValueError: an unknown language.
    """
    tr = translation(lang)
    return {column: tr.gettext(label) for column, label in LABELS.items()}


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
        "documents_valid_gov": counts.documents_valid_gov,
        "documents_valid_public": counts.documents_valid_public,
        "documents_valid_other": counts.documents_valid_other,
        "documents_received": counts.documents_received,
        "documents_received_valid": counts.documents_received_valid,
        "documents_received_complete": counts.documents_received_complete,
        "documents_sealed": counts.documents_sealed,
        "documents_complete": counts.documents_complete,
        "classified_marked": counts.classified_marked,
        "legacy_encoded": counts.legacy_encoded,
    }


def _use(use: Use | None) -> Row:
    """A unit's or the total's use columns (None each when no roster was given)."""
    if use is None:
        return dict.fromkeys(_USE)
    return {"mailboxes": use.mailboxes, "activated": use.activated, "regular": use.regular,
            "activation_rate": _percent(use.activation_rate),
            "regular_rate": _percent(use.regular_rate), "official": None, "last_sent": None}


def _official(official: OfficialUse | None) -> Row:
    """An official's mailbox row: it is one mailbox, activated and regular 1 or 0."""
    if official is None:
        return dict.fromkeys(_USE)
    last = official.last_sent
    return {**_use(official.use), "activation_rate": None, "regular_rate": None,
            "official": official.mailbox.full_name,
            "last_sent": last.astimezone(UTC).isoformat() if last else None}


def _plus(use: Use | None, more: Use | None) -> Use | None:
    return use if more is None else more if use is None else use + more


def human_rows(report: Report) -> list[Row]:
    """The rows people read, in the report's order: per unit its row and its
    mailboxes'; after the last unit below a unit with a subtotal, that subtotal (the
    unit and the units below it, each message once); last, the total. Each row says
    its ``kind`` (unit, mailbox, subtotal, total) and its ``depth`` in the tree."""
    found: list[Row] = []
    heads: list[tuple[UnitReport, Use | None]] = []  # subtrees still being listed

    def close(depth: int) -> None:
        while heads and heads[-1][0].depth >= depth:
            head, use = heads.pop()
            assert head.subtotal is not None
            found.append({"kind": "subtotal", "depth": head.depth, "unit": head.unit_id,
                          "mailbox": "", **_values(head.subtotal), **_use(use),
                          "busiest_correspondents": ""})

    for unit in report.units:
        close(unit.depth)
        heads[:] = [(head, _plus(use, unit.use)) for head, use in heads]
        if unit.subtotal is not None:
            heads.append((unit, unit.use))
        found.append({"kind": "unit", "depth": unit.depth, "unit": unit.unit_id,
                      "mailbox": "", **_values(unit.counts), **_use(unit.use),
                      "busiest_correspondents": "; ".join(
                          f"{a} ({n})" for a, n in unit.correspondents)})
        found.extend({"kind": "mailbox", "depth": unit.depth, "unit": unit.unit_id,
                      "mailbox": box.address, **_values(box.counts),
                      **_official(box.official), "busiest_correspondents": ""}
                     for box in unit.mailboxes)
    close(0)
    found.append({"kind": "total", "depth": 0, "unit": "", "mailbox": "",
                  **_values(report.total), **_use(report.use), "busiest_correspondents": ""})
    return found


def rows(report: Report) -> list[Row]:
    """Per unit a row (empty ``mailbox``), then its mailboxes; last, the total row
    (empty ``unit`` and ``mailbox``: it counts each message once). The machine
    formats' rows: no subtotals (JSON gives them apart), no ``kind`` or ``depth``."""
    return [{k: v for k, v in row.items() if k not in _LAYOUT}
            for row in human_rows(report) if row["kind"] != "subtotal"]


def subtotals(report: Report) -> list[Row]:
    """Each subtotal row (``unit``: the unit heading it), as JSON gives them."""
    return [{k: v for k, v in row.items() if k not in _LAYOUT and k != "mailbox"}
            for row in human_rows(report) if row["kind"] == "subtotal"]


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}%"


def _csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    head = report.head
    chain = {"chain_seq": head.seq if head else 0, "chain_hash": head.hash if head else ""}
    for row in rows(report):
        writer.writerow({**{k: _share(v) if k in SHARES else v for k, v in row.items()},
                         **chain})
    return out.getvalue().rstrip("\n")


def _not_using(report: Report) -> list[Row]:
    """The officials not using their mailbox regularly, for the machine formats."""
    return [{"unit": o.mailbox.unit_id, "mailbox": o.mailbox.address,
             "official": o.mailbox.full_name, "activated": o.is_activated, "sent": o.sent,
             "last_sent": o.last_sent.astimezone(UTC).isoformat() if o.last_sent else None}
            for o in report.not_using]


def _json(report: Report, tz_name: str) -> str:
    head = report.head
    return json.dumps({
        "period": report.period.label,
        "start": report.period.start.astimezone(UTC).isoformat(),
        "end": report.period.end.astimezone(UTC).isoformat(),
        "time_zone": tz_name,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "chain": {"seq": head.seq, "hash": head.hash} if head else None,
        "regular_use_min_messages": report.regular_min,
        "rows": rows(report),
        "subtotals": subtotals(report),
        "not_using": _not_using(report) if report.use is not None else None,
        "units_not_using": [u.unit_id for u in _idle_units(report)],
    }, ensure_ascii=False, indent=2)


def _idle_units(report: Report) -> list[Any]:
    """The units with roster mailboxes none of which was used regularly."""
    return [u for u in report.units if u.use is not None and u.use.mailboxes
            and not u.use.regular]


def _chain_line(report: Report, tr: Translation) -> str:
    head = report.head
    if head is None:
        return tr.gettext("The log holds no event yet.")
    return tr.gettext("Figures read from the log up to event {seq}, hash {hash}.").format(
        seq=head.seq, hash=head.hash)


def _span(report: Report, tz_name: str, tr: Translation) -> str:
    tz = zone(tz_name)
    start = report.period.start.astimezone(tz).strftime("%d/%m/%Y %H:%M")
    end = report.period.end.astimezone(tz).strftime("%d/%m/%Y %H:%M")
    return tr.gettext("{label}: from {start} until before {end} ({zone})").format(
        label=report.period.label, start=start, end=end, zone=tz_name)


def _local(value: str | None, tz_name: str) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(zone(tz_name)).strftime("%d/%m/%Y %H:%M")


def cell(row: Row, column: str) -> str:
    """One counted cell of a row for people: a number, a share as a percentage ("—"
    for a share of nothing: no mail sent, none checked, no mailbox), or nothing for a
    column the row has no value in."""
    value = row[column]
    if value is None:
        return ""
    if column in SHARES:
        return NO_SHARE if not row[SHARE_OF[column]] else _share(value)
    return str(value)


def unit_label(row: Row, names: Mapping[str, str], tr: Translation) -> str:
    """The unit cell of a unit, subtotal or total row for people (the unit's name)."""
    value = row["unit"]
    if not value:
        return tr.gettext(TOTAL)
    name = names.get(value, value)
    return f"{tr.gettext(SUBTOTAL)}: {name}" if row.get("kind") == "subtotal" else name


def _human(row: Row, names: Mapping[str, str], column: str, tz_name: str,
           tr: Translation) -> str:
    """One cell for people: unit names, shares as percentages, the total row named,
    times in the report's zone, nothing for a column the row has no value in."""
    if column == "unit":
        return "" if row["mailbox"] else unit_label(row, names, tr)
    if column == "last_sent":
        return _local(row[column], tz_name)
    return cell(row, column)


def _human_columns(report: Report) -> list[str]:
    """The columns people read: the use columns only when a roster was given."""
    return [c for c in ROW_COLUMNS[:-1] if report.use is not None or c not in _USE]


#: The list of officials not using their mailbox regularly, as people read it.
IDLE_COLUMNS = {"unit": N_("Unit"), "mailbox": N_("Mailbox"), "official": N_("Official"),
                "activated": N_("Activated"), "sent": N_("Sent in the period"),
                "last_sent": N_("Last sent")}
#: whether an official's mailbox was activated, and a last sending that never was
ACTIVATED = {True: N_("yes"), False: N_("not yet")}
NEVER_SENT = N_("never sent")


def _idle_cells(report: Report, names: Mapping[str, str], tz_name: str,
                tr: Translation) -> list[list[str]]:
    return [[names.get(r["unit"], r["unit"]), r["mailbox"], r["official"],
             tr.gettext(ACTIVATED[bool(r["activated"])]), str(r["sent"]),
             _local(r["last_sent"], tz_name) or tr.gettext(NEVER_SENT)]
            for r in _not_using(report)]


def _idle_title(report: Report, names: Mapping[str, str], tr: Translation) -> list[str]:
    units = ", ".join(names.get(u.unit_id, u.unit_id) for u in _idle_units(report))
    return [tr.gettext("Officials not using their mailbox regularly (under {minimum} "
                       "messages sent a month): {count}").format(
                minimum=report.regular_min, count=len(report.not_using)),
            tr.gettext("Units with no official using their mailbox regularly: {units}").format(
                units=units or tr.gettext("none"))]


def _aligned(header: list[str], cells: list[list[str]]) -> list[str]:
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return lines


def _indent(row: Row, column: str) -> str:
    """Two spaces a level before a unit's name, so the table reads as the tree."""
    return "  " * row["depth"] if column == "unit" and not row["mailbox"] else ""


def _table(report: Report, tz_name: str, names: Mapping[str, str], tr: Translation) -> str:
    cols = _human_columns(report)
    lines = [tr.gettext("Report {span}").format(span=_span(report, tz_name, tr)),
             _chain_line(report, tr),
             *_aligned([tr.gettext(LABELS[c]) for c in cols],
                       [[_indent(r, c) + _human(r, names, c, tz_name, tr) for c in cols]
                        for r in human_rows(report)])]
    if report.use is not None:
        lines += ["", *_idle_title(report, names, tr),
                  *_aligned([tr.gettext(c) for c in IDLE_COLUMNS.values()],
                            _idle_cells(report, names, tz_name, tr))]
    return "\n".join(line.rstrip() for line in lines)


def render(report: Report, fmt: str, tz_name: str,
           names: Mapping[str, str] | None = None, *, lang: str = DEFAULT_LANGUAGE) -> str:
    """Render ``report`` as ``table``, ``csv``, ``json`` or ``html``.

    :param names: unit id -> the unit's name, for the human formats (ids otherwise).
    :param lang: the human formats' language, ``vi`` or ``en`` (CSV and JSON have none).
    :raises ValueError: an unknown language.
    """
    names = names or {}
    if fmt == "csv":
        return _csv(report)
    if fmt == "json":
        return _json(report, tz_name)
    tr = translation(lang)
    if fmt == "html":
        return _html(report, tz_name, names, tr)
    return _table(report, tz_name, names, tr)


def _chart(chart: pygal.Graph) -> str:
    return str(chart.render(is_unicode=True))


def charts(report: Report, names: Mapping[str, str], lang: str = DEFAULT_LANGUAGE
           ) -> dict[str, pygal.Graph]:
    """The report's charts, in ``lang`` (Vietnamese by default): volume, signed shares,
    and (only when the period holds DMARC-checked mail) the DMARC pass share. The console
    serves the same.

    :raises ValueError: an unknown language.
    """
    tr = translation(lang)
    # pygal draws a horizontal bar chart's first label at the bottom: the units go in
    # reversed, so that the chart reads top down in the report's (the tree's) order
    shown = report.units[::-1]
    labels = [names.get(u.unit_id, u.unit_id) for u in shown]
    style = {"js": [], "disable_xml_declaration": True, "width": 800,
             "height": max(240, 60 + 40 * len(labels)), "legend_at_bottom": True}
    units = [u.counts for u in shown]
    volume = pygal.HorizontalBar(title=tr.gettext("Mail sent and received"), **style)
    volume.x_labels = labels
    for column in ("sent", "received", "forgery_attempts", "documents_sent",
                   "documents_valid"):
        volume.add(tr.gettext(LABELS[column]), [getattr(c, column) for c in units])
    signed = pygal.HorizontalBar(title=tr.gettext("Share of sent mail signed (%)"),
                                 range=(0, 100), **style)
    signed.x_labels = labels
    # a unit that sent nothing has no share: no bar, rather than a bar at 0 %
    signed.add("DKIM", [_percent(c.dkim_share) if c.sent else None for c in units])
    signed.add("S/MIME", [_percent(c.smime_share) if c.sent else None for c in units])
    found = {"volume": volume, "signed": signed}
    if any(c.dmarc_checked for c in units):
        dmarc = pygal.HorizontalBar(title=tr.gettext("Share of received mail passing DMARC (%)"),
                                    range=(0, 100), **style)
        dmarc.x_labels = labels
        dmarc.add("DMARC", [_percent(c.dmarc_share) if c.dmarc_checked else None
                            for c in units])
        found["dmarc"] = dmarc
    return found


def _html_cell(row: Row, names: Mapping[str, str], column: str, tz_name: str,
               tr: Translation) -> str:
    text = escape(_human(row, names, column, tz_name, tr))
    if column == "unit" and row["unit"] and not row["mailbox"]:
        indent = f' style="padding-left:{0.5 + 1.5 * row["depth"]}em"' if row["depth"] else ""
        return f'<td title="{escape(row["unit"])}"{indent}>{text}</td>'
    return f"<td>{text}</td>"


def _html(report: Report, tz_name: str, names: Mapping[str, str], tr: Translation) -> str:
    figures = "\n".join(f"<figure>{_chart(c)}</figure>"
                        for c in charts(report, names, tr.lang).values())
    cols = [*_human_columns(report), COLUMNS[-1]]
    head = "".join(f"<th>{escape(tr.gettext(LABELS[c]))}</th>" for c in cols)
    body = "\n".join(
        f'<tr class="{r["kind"]}">'
        + "".join(_html_cell(r, names, c, tz_name, tr) for c in cols)
        + "</tr>" for r in human_rows(report))
    idle = ""
    if report.use is not None:
        title, units = (escape(line) for line in _idle_title(report, names, tr))
        idle_head = "".join(f"<th>{escape(tr.gettext(c))}</th>" for c in IDLE_COLUMNS.values())
        idle_body = "\n".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>"
                              for r in _idle_cells(report, names, tz_name, tr))
        idle = (f"<h2>{title}</h2>\n<p>{units}</p>\n<table><thead><tr>{idle_head}</tr>"
                f"</thead><tbody>\n{idle_body}\n</tbody></table>")
    generated = datetime.now(UTC).astimezone(zone(tz_name)).strftime("%d/%m/%Y %H:%M")
    title = escape(tr.gettext("Official e-mail use report {label}").format(
        label=report.period.label))
    made = escape(tr.gettext("Made at {generated} ({zone}).").format(
        generated=generated, zone=tz_name))
    return f"""<!DOCTYPE html>
<html lang="{tr.lang}"><head><meta charset="utf-8">
<title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #999;padding:.2em .5em;text-align:left}}
tr.subtotal,tr.total{{font-weight:bold}}</style></head>
<body><h1>{title}</h1>
<p>{escape(_span(report, tz_name, tr))}. {made}
{escape(_chain_line(report, tr))}</p>
{figures}
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
{idle}</body></html>"""
