"""Archived messages in the console: the download of one message with its proof, and
the search of the archive's text, for users with a grant of content only.

Reading content is an act the chain shows: each download and each search is an
``archive-read`` administrative event with the user, written before anything is
sent back; when it cannot be written, nothing is (503). A record the user may not see
is answered as one that does not exist (404), as on the record page; a record the
user sees without a grant of its content is refused (403).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from archive import Archive, ArchiveError, ArchiveReadError
from audit import AdminEvent, AdminKind, AuditError, AuditLog
from mailbase import N_, PeriodError, parse_period, zone
from web import access
from web.actions import audit_admin
from web.app import AuditorUser, Console, console_of, lang_of, render
from web.archived import (
    MATCHES_MAX,
    content_scope,
    message_units,
    proof_zip,
    query_words,
    search,
)
from web.i18n import words
from web.problems import PageProblem, detail_html
from web.routes.audit_pages import open_log
from web.users import User

log = logging.getLogger("congvu.web")
router = APIRouter()


def _archive(console: Console) -> Archive:
    config = console.settings.archive
    if config is None:
        raise PageProblem(404, N_("this console has no archive"))
    try:
        return Archive.from_config(config, create=False)
    except ArchiveError as exc:
        raise PageProblem(503, N_("the archive could not be opened"), quoted=exc) from None


def _recorded(console: Console, user: User, target: str, unit_id: str | None,
              details: dict[str, str | int | float | bool | None]) -> None:
    """Write the ``archive-read`` event, or answer 503 (nothing is shown then)."""
    try:
        audit_admin(console.settings, AdminEvent(
            kind=AdminKind.ARCHIVE_READ, actor=user.name, target=target, unit_id=unit_id,
            details={"via": "web", **details}))
    except AuditError as exc:
        raise PageProblem(503, N_("not shown: the read could not be recorded in the audit "
                                  "log"), quoted=exc) from None


def _downloadable(console: Console, user: User, record_id: int) -> tuple[dict[str, Any], str]:
    """The record and the SHA-256 of its archived message, when ``user`` may read it."""
    units = console.units()
    log_ro = open_log(console)
    if log_ro is None:
        raise PageProblem(404, N_("no audit store"))
    with log_ro:
        try:
            record = log_ro.show(record_id)
        except AuditError:
            raise PageProblem(404, N_("no record {record}"), record=record_id) from None
    if not access.may_see_record(record, console.scope(user, units)):
        raise PageProblem(404, N_("no record {record}"), record=record_id)
    if not message_units(record) & content_scope(user, units):
        raise PageProblem(403, N_("reading a message's content needs a grant of content for "
                                  "its unit ({command})"),
                          command="congvu user grant NAME UNIT --content")
    sha256 = record.get("archived_sha256")
    if not sha256:
        raise PageProblem(404, N_("record {record} names no archived message (refused, or "
                                  "not a unit's mail)"), record=record_id)
    return record, str(sha256)


@router.get("/audit/records/{record_id}/archived.zip", include_in_schema=False)
def archived_download(request: Request, user: AuditorUser, record_id: int) -> Response:
    """The message of record ``record_id`` as it was relayed, with its proof (the bundle
    of ``congvu archive proof``), zipped."""
    console = console_of(request)
    record, sha256 = _downloadable(console, user, record_id)
    try:
        message = _archive(console).get(sha256)
    except ArchiveReadError as exc:
        raise PageProblem(404 if exc.problem == "missing" else 500,
                          N_("the archived message could not be read"), quoted=exc) from None
    except ArchiveError as exc:
        raise PageProblem(503, N_("the archive could not be read"), quoted=exc) from None
    try:
        with AuditLog.open(console.settings.audit) as writable:
            proof = writable.proof(record_id)  # signs a checkpoint when none covers it
    except (AuditError, LookupError) as exc:
        raise PageProblem(503, N_("no proof of record {record}"), quoted=exc,
                          record=record_id) from None
    data = proof_zip(record_id, message, proof)
    _recorded(console, user, str(record_id), record.get("sender_unit"),
              {"action": "download", "sha256": sha256})
    log.info("archive read: %s downloaded record %s (%s)", user.name, record_id, sha256)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="congvu-{record_id}.zip"'})


def _search(console: Console, user: User, q: str, period: str) -> dict[str, Any]:
    """A search of the archived text within ``user``'s content grants, recorded first.

    :raises HTTPException: 400 (no words, a bad period), 403 (no grant of content),
        404 (no archive), 503 (the log cannot be read, or the search recorded).
    """
    try:
        words = query_words(q)
        span = parse_period(period.strip(), zone(console.settings.time_zone)) \
            if period.strip() else None
    except (ValueError, PeriodError) as exc:
        raise PageProblem(400, N_("the search could not be read"), quoted=exc) from None
    units = console.units()
    scope = content_scope(user, units)
    if not scope:
        raise PageProblem(403, N_("searching messages' content needs a grant of content "
                                  "({command})"), command="congvu user grant NAME UNIT --content")
    store = _archive(console)
    log_ro = open_log(console)
    if log_ro is None:
        return {"query": q, "items": [], "scanned": 0, "candidates": 0, "complete": True,
                "unreadable": 0, "indexed": store.index is not None, "unindexed": 0,
                "waiting": 0, "limit": MATCHES_MAX}
    try:
        with log_ro:
            found = search(log_ro, store, scope, words,
                           since=span.start if span else None, until=span.end if span else None)
            records = [log_ro.show(rid) for rid in found.record_ids]
    except (AuditError, ArchiveError) as exc:
        raise PageProblem(503, N_("the archive could not be searched"), quoted=exc) from None
    _recorded(console, user, q, None, {
        "action": "search", "query": q, "period": period.strip() or None,
        "matches": len(found.record_ids), "scanned": found.scanned,
        "records": ",".join(map(str, found.record_ids))})
    return {
        "query": q, "scanned": found.scanned, "candidates": found.candidates,
        "complete": found.is_complete, "unreadable": found.unreadable,
        "indexed": found.is_indexed, "unindexed": found.unindexed,
        "waiting": found.waiting, "limit": MATCHES_MAX,
        "items": [{"id": r["id"], "received_at": r["received_at"],
                   "subject": r.get("subject"), "envelope_sender": r.get("envelope_sender"),
                   "sender_unit": r.get("sender_unit"),
                   "recipient_units": r.get("recipient_units") or [],
                   "download": f"/audit/records/{r['id']}/archived.zip"} for r in records],
    }


@router.get("/api/audit/archive", tags=["audit"])
async def archive_search(request: Request, user: AuditorUser, q: str = "",
                         period: str = "") -> dict[str, Any]:
    """The archived messages of the caller's content grants whose subject, text parts or
    PDF text hold every word of ``q`` (case and diacritics ignored), newest first;
    ``period`` (YYYY-MM, YYYY-Qn, YYYY, YYYY-YTD) narrows them."""
    found: dict[str, Any] = await run_in_threadpool(
        _search, console_of(request), user, q, period)
    return found


@router.get("/audit/archive", response_class=HTMLResponse, include_in_schema=False)
async def archive_page(request: Request, user: AuditorUser, q: str = "",
                       period: str = "") -> HTMLResponse:
    """The search form and, once words are given, what the search found."""
    console = console_of(request)
    units = console.units()
    if not content_scope(user, units):
        raise PageProblem(403, N_("searching messages' content needs a grant of content "
                                  "({command})"), command="congvu user grant NAME UNIT --content")
    found, error, status = None, None, 200
    if q.strip():
        try:
            found = await run_in_threadpool(_search, console, user, q, period)
        except HTTPException as exc:
            if exc.status_code not in (400, 503):
                raise
            error, status = detail_html(words(lang_of(request)).translation, exc), exc.status_code
    return render(request, "archive_search.html", {
        "q": q, "period": period, "found": found, "error": error,
        "names": {u.id: u.name for u in units}}, status=status)
