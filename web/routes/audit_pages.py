"""The auditors' console under /audit: the log of the granted units only.

Every read goes through :func:`web.access.scoped` (list, export, API) or
:func:`web.access.may_see_record` / :func:`~web.access.may_see_trace` (one record, a
trace) before anything is rendered: hiding links is not the protection.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup, escape

from audit import (
    REPORT_COLUMNS,
    AuditError,
    AuditLog,
    Filters,
    RecordSummary,
    Report,
    report_cell,
    report_charts,
    report_human_rows,
    report_labels,
)
from directory import Unit, rolled_into
from mailbase import N_, PeriodError, parse_period, zone
from web import access
from web import filters as webfilters
from web.app import AdminUser, AuditorUser, Console, console_of, lang_of, render
from web.problems import PageProblem
from web.security import require_csrf
from web.users import User

router = APIRouter()
COLUMNS = ["id", "received_at", "direction", "envelope_sender", "subject", "recipients",
           "attachments", "action", "outcome", "dkim", "smime", "sender_unit", "claimed_unit",
           "queue_id", "message_id"]
#: a message record's fields shown folded away, each under its catalogue label
#: (the "field" family of web/i18n.py); the others are shown in the page's own words
TECHNICAL = ("decided_at", "listener", "role", "client_address", "client_helo", "queue_id",
             "message_id", "header_date", "size", "processing_ms", "archived_sha256",
             "prev_hash", "hash")


def open_log(console: Console) -> AuditLog | None:
    """The audit store, read-only; None when the filter has not created it yet."""
    try:
        return AuditLog.open_readonly(console.settings.audit)
    except AuditError:
        return None


def _parse(console: Console, params: dict[str, str], units: list[str]) -> Filters:
    filters = webfilters.parse(params, units, console.settings.time_zone)
    if params.get("subtree") and filters.units:
        # as `congvu audit query --subtree`: each asked unit and the units below it
        below = access.descendants(console.units(), filters.units)
        filters = replace(filters, units=tuple(sorted(below)))
    return filters


def _filters(request: Request, console: Console) -> Filters:
    params = dict(request.query_params)
    units = request.query_params.getlist("unit")
    try:
        return _parse(console, params, units)
    except webfilters.FilterError as exc:
        raise PageProblem(400, N_("the filter could not be read"), quoted=exc) from None


def _page(console: Console, scope: frozenset[str] | None, filters: Filters
          ) -> tuple[Any, bool]:
    log = open_log(console)
    if log is None:
        return None, False
    with log:
        return log.query(access.scoped(filters, scope)), True


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_list(request: Request, user: AuditorUser) -> HTMLResponse:
    """One page of the log, newest first, with the filters."""
    console = console_of(request)
    params = dict(request.query_params)
    units = request.query_params.getlist("unit")
    error: webfilters.FilterError | AuditError | None = None
    directory = console.units()  # read once: the scope, the names, the unit choices
    scope = console.scope(user, directory)
    try:
        filters = _parse(console, params, units)
        page, has_store = _page(console, scope, filters)
    except (webfilters.FilterError, AuditError) as exc:
        error, page, has_store = exc, None, True

    def link(**changes: object) -> str:
        return "/audit?" + webfilters.query_string(params, units, **changes)

    known = {u.id for u in directory}
    granted = [] if user.is_admin else [
        *(u.id for u in directory if u.id in user.units),
        *(g for g in user.units if g not in known)]
    return render(request, "audit_list.html", {
        "page": page, "has_store": has_store, "error": error, "params": params,
        "units": units, "link": link, "granted": granted,
        "names": {u.id: u.name for u in directory},
        "unit_options": UnitOptions(unit_choices(directory, scope)),
        "export": "/audit/export.csv?" + webfilters.query_string(params, units, page=""),
        "directions": webfilters.DIRECTIONS, "decisions": webfilters.DECISIONS,
        "outcomes": webfilters.OUTCOMES,
    }, status=400 if error else 200)


class UnitOptions:
    """The ``<option>`` elements of a unit drop-down list, escaped once a page, with the
    current one selected: the list page has three lists of every unit of the scope, and
    the template's loop over them took 18-47 ms a page at a hundred units."""

    def __init__(self, choices: list[tuple[str, str, int]]) -> None:
        self._options = [(uid, str(escape(uid)), "&nbsp;&nbsp;" * depth + str(escape(name)))
                         for uid, name, depth in choices]

    def __call__(self, current: str) -> Markup:
        return Markup("".join(
            f'<option value="{value}" title="{value}" data-value '
            f'{"selected" if uid == current else ""}>{label}</option>'
            for uid, value, label in self._options))


def unit_choices(units: list[Unit], scope: frozenset[str] | None
                 ) -> list[tuple[str, str, int]]:
    """The units a filter may name (the scope's), in the directory's order: id, name,
    and depth below the nearest unit listed (for indenting a drop-down list)."""
    shown = [u for u in units if scope is None or u.id in scope]
    parent = {u.id: u.parent for u in shown}
    found = []
    for unit in shown:
        depth, above, seen = 0, unit.parent, {unit.id}
        while above in parent and above not in seen:  # a loop ends the walk
            depth, seen, above = depth + 1, seen | {above}, parent[above]
        found.append((unit.id, unit.name, depth))
    return found


def _record(console: Console, scope: frozenset[str] | None, record_id: int
            ) -> dict[str, Any]:
    log = open_log(console)
    if log is None:
        raise PageProblem(404, N_("no audit store"))
    with log:
        try:
            record = log.show(record_id)
        except AuditError:
            raise PageProblem(404, N_("no record {record}"), record=record_id) from None
    # Same answer for "no such record" and "not yours": no probing of other units.
    if not access.may_see_record(record, scope):
        raise PageProblem(404, N_("no record {record}"), record=record_id)
    return record


@router.get("/audit/records/{record_id}", response_class=HTMLResponse,
            include_in_schema=False)
def audit_record(request: Request, user: AuditorUser, record_id: int) -> HTMLResponse:
    """One record in full: envelope, headers, attachments, signatures, decisions."""
    console = console_of(request)
    directory = console.units()
    record = _record(console, console.scope(user, directory), record_id)
    attachments = record.get("attachments") or []
    completions = record.get("completions") or []
    addresses = record.get("envelope_recipients") or []
    units = record.get("envelope_recipient_units") or []
    return render(request, "audit_record.html", {
        "record": record, "auth": record.get("authentication") or [],
        "attachments": attachments, "violations": record.get("violations") or [],
        # the documents signer/ judged (a verdict, or signatures found)
        "documents": [a for a in attachments
                      if a.get("document") is not None or a.get("signatures")],
        "completions": completions, "last": completions[-1] if completions else None,
        "recipients": [(a, units[i] if i < len(units) else None)
                       for i, a in enumerate(addresses)],
        "technical": [(key, record[key]) for key in TECHNICAL
                      if record.get(key) not in (None, "")],
        "names": {u.id: u.name for u in directory},
    })


def _cell(value: Any) -> Any:
    # A cell a spreadsheet would run as a formula (CSV injection) is kept as text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv_rows(console: Console, user: User, filters: Filters) -> Iterator[str]:
    log = open_log(console)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore",
                            lineterminator="\r\n")
    writer.writeheader()
    yield "\ufeff" + out.getvalue()
    if log is None:
        return
    scope = console.scope(user)
    with log:
        page = 1
        while True:
            result = log.query(access.scoped(
                Filters(**{**_fields(filters), "page": page, "page_size": 1000}), scope))
            out.seek(0)
            out.truncate()
            for item in result.items:
                writer.writerow({k: _cell(v) for k, v in _summary(item).items()})
            yield out.getvalue()
            if not result.has_more:
                return
            page += 1


def _fields(filters: Filters) -> dict[str, Any]:
    return {f.name: getattr(filters, f.name) for f in fields(filters)}


def _summary(item: RecordSummary) -> dict[str, Any]:
    row = asdict(item)
    row["received_at"] = item.received_at.isoformat()
    row["outcome"] = item.outcome or "incomplete"
    return row


@router.get("/audit/export.csv", include_in_schema=False)
def audit_export(request: Request, user: AuditorUser) -> Response:
    """Every record of the current filter (all pages) as CSV."""
    console = console_of(request)
    filters = _filters(request, console)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(_csv_rows(console, user, filters), media_type="text/csv; "
                             "charset=utf-8", headers={
                                 "Content-Disposition":
                                 f'attachment; filename="congvu-audit-{stamp}.csv"'})


@router.get("/api/audit/records", tags=["audit"])
def api_records(request: Request, user: AuditorUser) -> dict[str, Any]:
    """One page of the log of the caller's units (login required), with the filters of
    ``congvu audit query`` as query parameters."""
    console = console_of(request)
    page, has_store = _page(console, console.scope(user), _filters(request, console))
    if not has_store:
        return {"total": 0, "page": 1, "items": []}
    return {"total": page.total, "page": page.page, "page_size": page.page_size,
            "items": [_summary(i) for i in page.items]}


@router.get("/api/audit/records/{record_id}", tags=["audit"])
def api_record(request: Request, user: AuditorUser, record_id: int) -> dict[str, Any]:
    """One record in full (login required; 404 outside the caller's units)."""
    console = console_of(request)
    return _record(console, console.scope(user), record_id)


@router.get("/audit/trace", response_class=HTMLResponse, include_in_schema=False)
def audit_trace(request: Request, user: AuditorUser, sha256: str = "") -> HTMLResponse:
    """Every sending of one document, by its SHA-256 (within the user's units)."""
    console = console_of(request)
    directory: list[Unit] = []
    entries, error = None, None
    digest = sha256.strip().lower()
    if digest:
        log = open_log(console)
        try:
            if log is None:
                entries = []
            else:
                with log:
                    found = log.trace(digest)
                    # the directory only when there is something to show by its names
                    directory = console.units() if found else []
                    scope = console.scope(user, directory) if found else None
                    entries = [e for e in found if access.may_see_trace(e, scope)]
        except AuditError as exc:
            error = str(exc)
    return render(request, "audit_trace.html", {
        "sha256": digest, "entries": entries, "error": error,
        "names": {u.id: u.name for u in directory}}, status=400 if error else 200)


@router.post("/audit/trace", dependencies=[Depends(require_csrf)], include_in_schema=False)
async def audit_trace_upload(request: Request, user: AuditorUser, document: UploadFile) -> Response:
    """Hash an uploaded document (not stored) and show its trace."""
    digest = hashlib.sha256()
    while chunk := await document.read(1 << 20):
        digest.update(chunk)
    return RedirectResponse(f"/audit/trace?sha256={digest.hexdigest()}", status_code=303)


def _report(console: Console, user: User, period_text: str,
            with_predecessors: bool = False) -> tuple[Any, Report | None]:
    """The report of the user's scope, by audit/'s one definition (as the command
    line's): every unit of the scope shown, zeros included, in the directory's order;
    ``with_predecessors``: each merged unit of the scope counted in its successor's row
    (as ``audit report --with-predecessors``)."""
    period = parse_period(period_text, zone(console.settings.time_zone))
    log = open_log(console)
    if log is None:
        return period, None
    scope = console.scope(user)
    units = console.units()
    parents = {u.id: u.parent for u in units}
    known = [u.id for u in units]
    shown = known if scope is None else [u for u in known if u in scope]
    rolled = {p: s for p, s in rolled_into(units, shown).items()
              if scope is None or p in scope} if with_predecessors else {}
    listed = [u for u in shown if u not in rolled]
    with log:
        if scope is None:
            return period, log.report(period, listed=listed, parents=parents, rolled=rolled)
        return period, log.report(period, [u for u in sorted(scope) if u not in rolled],
                                  parents=parents, listed=listed, rolled=rolled)


def _default_period(console: Console) -> str:
    return datetime.now(UTC).astimezone(zone(console.settings.time_zone)).strftime("%Y-%m")


@router.get("/audit/report", response_class=HTMLResponse, include_in_schema=False)
def audit_report(request: Request, user: AuditorUser, period: str = "",
                 with_predecessors: bool = False) -> HTMLResponse:
    """The periodic report of the user's units, with its charts."""
    console = console_of(request)
    period = period.strip() or _default_period(console)
    try:
        span, report = _report(console, user, period, with_predecessors)
    except (PeriodError, AuditError) as exc:
        return render(request, "audit_report.html", {
            "period": period, "report": None, "error": str(exc),
            "is_period_error": isinstance(exc, PeriodError)}, status=400)
    names = {u.id: u.name for u in console.units()}
    # units, subtotals and the total; the mailboxes are the command line's detail
    rows = [r for r in report_human_rows(report) if r["kind"] != "mailbox"] if report else []
    return render(request, "audit_report.html", {
        "period": period, "report": report, "span": span, "error": None, "names": names,
        "rows": rows, "columns": REPORT_COLUMNS[2:-1], "cell": report_cell,
        "labels": report_labels(lang_of(request)),
        "with_predecessors": with_predecessors,
        "has_dmarc": bool(report and report.total.dmarc_checked)})


@router.get("/audit/report/{chart}.svg", include_in_schema=False)
def audit_report_chart(request: Request, user: AuditorUser, chart: str,
                       period: str = "", with_predecessors: bool = False) -> Response:
    """A chart of the report as an SVG image (no inline script or style in the page):
    the same charts as ``congvu audit report --format html``."""
    console = console_of(request)
    if chart not in ("volume", "signed", "dmarc"):
        raise PageProblem(404, N_("no such chart"))
    try:
        _, report = _report(console, user, period.strip() or _default_period(console),
                            with_predecessors)
    except (PeriodError, AuditError) as exc:
        raise PageProblem(400, N_("the report could not be made"), quoted=exc) from None
    if report is None:
        raise PageProblem(404, N_("no audit store"))
    graphs = report_charts(report, {u.id: u.name for u in console.units()}, lang_of(request))
    if chart not in graphs:
        raise PageProblem(404, N_("no DMARC-checked mail in this period"))
    return Response(str(graphs[chart].render(is_unicode=True)), media_type="image/svg+xml")


@router.get("/audit/chain", response_class=HTMLResponse, include_in_schema=False)
def audit_chain(request: Request, user: AuditorUser) -> HTMLResponse:
    """The last signed checkpoint and the last verification's result."""
    console = console_of(request)
    log = open_log(console)
    checkpoint = None
    if log is not None:
        with log:
            checkpoint = log.latest_checkpoint()
    return render(request, "audit_chain.html", {
        "checkpoint": checkpoint, "has_store": log is not None,
        "verified": console.last_verify,
    })


@router.post("/audit/chain/verify", dependencies=[Depends(require_csrf)],
             include_in_schema=False)
async def audit_chain_verify(request: Request, user: AuditorUser) -> Response:
    """Walk the whole chain now (as ``congvu audit verify``) and keep the result."""
    console = console_of(request)

    def verify() -> None:
        log = open_log(console)
        if log is None:
            return
        with log:
            trust = console.settings.audit.key_trust()  # pins, else the own key
            console.last_verify = (datetime.now(UTC), log.verify(trust=trust))

    await run_in_threadpool(verify)
    return RedirectResponse("/audit/chain", status_code=303)


@router.get("/audit/events", response_class=HTMLResponse, include_in_schema=False)
def audit_events(request: Request, user: AdminUser) -> HTMLResponse:
    """Administrative events (releases, deletions, directory and user changes)."""
    log = open_log(console_of(request))
    events: list[dict[str, Any]] = []
    if log is not None:
        with log:
            events = log.admin_events(limit=500)
    names = {u.id: u.name for u in console_of(request).units()}
    return render(request, "audit_events.html", {"events": events, "names": names})
