"""Administrators: the quarantine, directory edits, users. Every act is audited."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from audit import AuditError
from directory import Directory, DirectoryError, ImportRejected
from directory.rows import yes_no
from mailbase import N_
from policies import (
    MAX_REASON,
    MissingReason,
    PolicyError,
    Quarantine,
    act_reason,
    headline,
    open_quarantine,
)
from web import actions, mailview, refusals
from web.app import AdminUser, console_of, render
from web.errors import UserError
from web.grants import stale_grants, unit_to_grant
from web.problems import PageProblem
from web.reasons import as_shown
from web.security import require_csrf
from web.users import User

router = APIRouter(include_in_schema=False)
log = logging.getLogger("congvu.web")
CSRF = [Depends(require_csrf)]


def _store(request: Request) -> Quarantine:
    settings = console_of(request).settings
    return open_quarantine(settings.quarantine)


@router.get("/admin/quarantine", response_class=HTMLResponse)
def quarantine_list(request: Request, user: AdminUser) -> HTMLResponse:
    """Every held message, oldest first: envelope, Subject, From, rule and reason."""
    return _quarantine_page(request)


def _quarantine_page(request: Request, *, done: str = "", error: str = "",
                     status: int = 200) -> HTMLResponse:
    """The list, with what became of the act just made. Rendered in the act's own
    answer, never carried in an address: a link could otherwise put any words on an
    administrator's page."""
    with _store(request) as store:
        held = [(entry, headline(store, entry)) for entry in store.list()]
    return render(request, "quarantine_list.html", {
        "held": held, "done": done, "error": error,
        "can_release": console_of(request).release is not None}, status)


@router.get("/admin/quarantine/{qid}", response_class=HTMLResponse)
def quarantine_show(request: Request, user: AdminUser, qid: str) -> HTMLResponse:
    """One held message: what and why, its headers and parts (shown as text only), and
    the form to release or delete it (a reason and a confirmation required)."""
    return _held_page(request, qid)


def _held_page(request: Request, qid: str, *, error: str = "", reason: str = "",
               status: int = 200) -> HTMLResponse:
    with _store(request) as store:
        try:
            entry = store.get(qid)
            raw = store.read(qid)
            head = headline(store, entry)
        except PolicyError as exc:
            raise PageProblem(404, N_("the held message could not be read"),
                              quoted=exc) from None
    return render(request, "quarantine_show.html", {
        "entry": entry, "head": head, "headers": mailview.headers(raw),
        "parts": mailview.parts(raw), "error": error, "reason": reason,
        "max_reason": MAX_REASON,
        "can_release": console_of(request).release is not None}, status=status)


def _asked(request: Request, qid: str, reason: str, confirm: str) -> str | HTMLResponse:
    """The reason for acting on ``qid``, or its page again saying what is missing."""
    try:
        if confirm != "yes":
            raise MissingReason("the act was not confirmed")
        return act_reason(reason)
    except MissingReason as exc:
        return _held_page(request, qid, error=str(exc), reason=reason, status=400)


@router.post("/admin/quarantine/{qid}/release", dependencies=CSRF)
async def quarantine_release(request: Request, user: AdminUser, qid: str,
                             reason: str = Form(""), confirm: str = Form("")) -> Response:
    """Send a held message on (signed, audited with the reason) through milter's
    release, once confirmed."""
    release = console_of(request).release
    if release is None:
        raise PageProblem(501, N_("release is not configured"))
    asked = _asked(request, qid, reason, confirm)
    if isinstance(asked, HTMLResponse):
        return asked
    try:
        reply = await run_in_threadpool(release, qid, user.name, asked)
    except Exception as exc:  # the releaser's failure is shown; the message stays held
        log.warning("release of %s by %s failed: %s", qid, user.name, exc)
        return _quarantine_page(request, error=f"{qid}: {exc}", status=502)
    log.info("released %s by %s (%s): %s", qid, user.name, asked, reply)
    return _quarantine_page(request, done=f"{qid}: {reply}")


@router.post("/admin/quarantine/{qid}/delete", dependencies=CSRF)
def quarantine_delete(request: Request, user: AdminUser, qid: str,
                      reason: str = Form(""), confirm: str = Form("")) -> Response:
    """Delete a held message for good (audited first, with the reason), once confirmed."""
    asked = _asked(request, qid, reason, confirm)
    if isinstance(asked, HTMLResponse):
        return asked
    try:
        actions.delete_held(console_of(request).settings, qid, actor=user.name,
                            reason=asked)
    except (PolicyError, AuditError) as exc:
        return _quarantine_page(request, error=f"{qid}: {exc}", status=400)
    log.info("deleted %s by %s (%s)", qid, user.name, asked)
    return _quarantine_page(request, done=f"{qid}: deleted")


# -- directory ------------------------------------------------------------------


@router.get("/admin/units/{unit_id}", response_class=HTMLResponse)
def unit_edit_page(request: Request, user: AdminUser, unit_id: str, done: str = "") -> HTMLResponse:
    """Edit one unit (or create it), with its change history."""
    return _unit_form(request, unit_id, None, None, done=bool(done))


def _unit_form(request: Request, unit_id: str, values: dict[str, str] | None,
               errors: Sequence[str | Mapping[str, Any]] | None, *, done: bool = False,
               status: int = 200) -> HTMLResponse:
    settings = console_of(request).settings
    with Directory.open(settings.directory_store) as directory:
        _, row = actions.unit_row(directory, unit_id)
        history = directory.history(unit_id)
    shown = values or row
    return render(request, "unit_edit.html", {
        "unit_id": unit_id, "row": shown, "fields": actions.EDITABLE,
        "is_active": _is_active(shown.get("active", "")),
        "history": list(reversed(history)), "errors": errors, "done": done,
        "is_new": not row.get("name"),
    }, status=status)


def _is_active(cell: str) -> bool | None:
    """The ``active`` cell as the import reads it; None: a value it refuses (shown as
    typed, so the form's error names it)."""
    try:
        return yes_no(cell)
    except ValueError:
        return None


@router.post("/admin/units/{unit_id}", dependencies=CSRF)
async def unit_edit(request: Request, user: AdminUser, unit_id: str) -> Response:
    """Save one unit through the directory's import checks; audited."""
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in actions.EDITABLE}
    settings = console_of(request).settings
    try:
        await run_in_threadpool(actions.edit_unit, settings, unit_id, values,
                                actor=user.name)
    except ImportRejected as exc:
        # each refused cell by its column and coded problem, said in the page's language
        return _unit_form(request, unit_id, {"id": unit_id, **values},
                          [{"column": e.column, "reason": e.reason, **e.problem.as_json()}
                           for e in exc.errors], status=400)
    except (DirectoryError, AuditError) as exc:
        return _unit_form(request, unit_id, {"id": unit_id, **values}, [str(exc)], status=400)
    return RedirectResponse(f"/admin/units/{unit_id}?done=1", status_code=303)


@router.get("/admin/history", response_class=HTMLResponse)
def directory_history(request: Request, user: AdminUser) -> HTMLResponse:
    """Every change of the directory, newest first (imports, console edits)."""
    settings = console_of(request).settings
    try:
        with Directory.open(settings.directory_store, read_only=True) as directory:
            history = directory.history()
            names = {u.id: u.name for u in directory.units()}
    except DirectoryError:
        history, names = [], {}
    return render(request, "history.html", {"history": list(reversed(history[-1000:])),
                                            "names": names})


@router.get("/admin/new-unit")
def unit_new(request: Request, user: AdminUser, id: str = "") -> Response:
    """Go to the form of a new unit id."""
    unit_id = id.strip()
    if not unit_id:
        raise PageProblem(400, N_("a unit id is needed"))
    from urllib.parse import quote
    return RedirectResponse(f"/admin/units/{quote(unit_id)}", status_code=303)


# -- users ----------------------------------------------------------------------


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: AdminUser) -> HTMLResponse:
    """Every user, their grants (those that match no unit of the directory flagged:
    they show nothing), and the forms to change them."""
    return _users_page(request)


def _users_page(request: Request, refused: UserError | AuditError | None = None
                ) -> HTMLResponse:
    """The users page; after a refused act, saying why in the act's own answer (400):
    a refusal by its code and values, said in the page's language, the audit store's
    problem in its English words. Never carried in an address, where a link could put
    any words on an administrator's page."""
    console = console_of(request)
    users = console.users.users()
    status = 200 if refused is None else 400
    try:
        stale = stale_grants(console.settings, {unit for u in users for unit in u.units})
    except UserError as exc:  # the directory cannot be read: said, the page still shown
        stale = frozenset()
        refused = refused or exc
    error, refusal = "", None
    if isinstance(refused, UserError):
        error, refusal = str(refused), as_shown(refused.problem)
    elif refused is not None:
        error = str(refused)
    return render(request, "users.html", {"users": users, "error": error, "stale": stale,
                                          "refusal": refusal,
                                          "names": {u.id: u.name for u in console.units()}},
                  status)


def _user_act(request: Request, actor: User, target: str, action: str,
              unit_id: str | None = None) -> Response:
    console = console_of(request)
    users = console.users
    try:
        if action == "grant":
            unit_id = unit_to_grant(console.settings, unit_id or "").unit_id
            users.grant(target, unit_id)
        elif action == "revoke":
            users.revoke(target, unit_id or "")
        elif action == "disable":
            if target == actor.name:
                raise UserError(refusals.DISABLE_ONESELF())
            users.set_active(target, False)
        elif action == "enable":
            users.set_active(target, True)
        actions.user_event(console.settings, actor=actor.name, target=target, action=action,
                           unit_id=unit_id)
    except (UserError, AuditError) as exc:
        return _users_page(request, exc)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users", dependencies=CSRF)
def user_add(request: Request, user: AdminUser, name: str = Form(""),
             password: str = Form(""), is_admin: str = Form("")) -> Response:
    """Create a user (an auditor unless 'administrator' is ticked)."""
    console = console_of(request)
    try:
        created = console.users.add(name, password, is_admin=bool(is_admin))
        actions.user_event(console.settings, actor=user.name, target=created.name,
                           action="add-admin" if created.is_admin else "add")
    except (UserError, AuditError) as exc:
        return _users_page(request, exc)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{name}/{action}", dependencies=CSRF)
def user_change(request: Request, user: AdminUser, name: str, action: str,
                unit: str = Form("")) -> Response:
    """Grant or revoke a unit, disable or enable a user."""
    if action not in ("grant", "revoke", "disable", "enable"):
        raise PageProblem(404, N_("no such action"))
    return _user_act(request, user, name, action, unit.strip() or None)


