"""The report as filed, downloaded from the console: the Excel workbook and the Word
document of ``congvu audit report --format xlsx|docx``, for the viewer's scope.

The figures come from audit/'s one report (``AuditLog.report``) over the units the
viewer may see (:meth:`web.app.Console.scope`: an auditor's granted units, the units
below them and those they succeed; every unit for an administrator), with the roster,
the regular-use threshold and the zone the command line uses, and are written by the
same writer (``audit.render_report_file``): an auditor of a unit downloads what
``audit report --unit UNIT --subtree`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import Response

from audit import (
    REPORT_FILE_FORMATS,
    AuditError,
    Report,
    RosterMailbox,
    render_report_file,
)
from directory import DirectoryError, Mailbox, Unit, rolled_into
from mailbase import N_, PeriodError, parse_period, zone
from web.app import AuditorUser, Console, console_of
from web.problems import PageProblem
from web.routes.audit_pages import open_log
from web.users import User

router = APIRouter()

MEDIA_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def roster_of(mailboxes: Sequence[Mailbox]) -> list[RosterMailbox] | None:
    """The roster as the report reads it (None when there is none: the use columns are
    then left out, as on the command line)."""
    return [RosterMailbox(address=m.address.key, unit_id=m.unit_id, full_name=m.full_name,
                          is_active=m.is_active, created=m.created, last_login=m.last_login)
            for m in mailboxes] or None


def _directory(console: Console) -> tuple[list[Unit], list[RosterMailbox] | None]:
    store = console.directory()
    if store is None:
        return [], None
    try:
        with store:
            return store.units(), roster_of(store.mailboxes())
    except DirectoryError as exc:
        raise PageProblem(503, N_("the directory could not be read"), quoted=exc) from None


def filed_report(console: Console, user: User, period_text: str, *,
                 with_predecessors: bool = False) -> tuple[Report, list[Unit]]:
    """The report of ``user``'s scope for ``period_text``, counted as ``congvu audit
    report`` counts it, and the directory's units (for names and codes).

    :raises PeriodError: the period is not one.
    :raises AuditError: the log cannot be read.
    :raises HTTPException: 404 without an audit store.
    """
    audit = console.settings.audit
    tz = zone(audit.time_zone)
    period = parse_period(period_text, tz)
    units, roster = _directory(console)
    log = open_log(console)
    if log is None:
        raise PageProblem(404, N_("no audit store"))
    scope = console.scope(user, units)
    known = [u.id for u in units]
    shown = known if scope is None else [u for u in known if u in scope]
    rolled = {p: s for p, s in rolled_into(units, shown).items()
              if scope is None or p in scope} if with_predecessors else {}
    named = () if scope is None else tuple(u for u in sorted(scope) if u not in rolled)
    with log:
        report = log.report(period, named, listed=[u for u in shown if u not in rolled],
                            roster=roster, regular_min=audit.regular_use_min_messages,
                            tz=tz, parents={u.id: u.parent for u in units}, rolled=rolled)
    return report, units


@router.get("/audit/report.{fmt}", include_in_schema=False)
def report_file(request: Request, user: AuditorUser, fmt: str, period: str = "",
                with_predecessors: bool = False) -> Response:
    """The report as filed (``xlsx`` or ``docx``) of the viewer's units for ``period``."""
    if fmt not in REPORT_FILE_FORMATS:
        raise PageProblem(404, N_("no report as {format}"), format=fmt)
    console = console_of(request)
    if not period.strip():
        raise PageProblem(400, N_("a period is needed (YYYY-MM, YYYY-Qn, YYYY or "
                                   "YYYY-YTD)"))
    try:
        report, units = filed_report(console, user, period.strip(),
                                     with_predecessors=with_predecessors)
    except PeriodError as exc:
        raise PageProblem(400, N_("the period could not be read"), quoted=exc) from None
    except AuditError as exc:
        raise PageProblem(503, N_("the audit log could not be read"), quoted=exc) from None
    data = render_report_file(
        report, fmt, console.settings.audit.time_zone, {u.id: u.name for u in units},
        organ_ids={u.id: u.organ_id for u in units if u.organ_id})
    label = "".join(c for c in report.period.label if c.isascii() and (c.isalnum() or c == "-"))
    name = f"bao-cao-{label}.{fmt}"
    return Response(data, media_type=MEDIA_TYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
