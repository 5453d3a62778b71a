"""One's own account: changing one's password (/account/password).

The current password is asked again (a session left open is not enough to take the
account over) and its failures count in the login throttle like a failed login. A
change ends every session of the user, on every server; this browser gets a new one.
It is audited as a ``user-grant`` event with ``details.action`` = password.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from audit import AuditError
from web import actions
from web.app import AuditorUser, console_of, render
from web.errors import UserError
from web.reasons import as_shown
from web.routes.auth import client_of
from web.security import renew, require_csrf
from web.users import MIN_PASSWORD

router = APIRouter(include_in_schema=False)
log = logging.getLogger("congvu.web")


def _page(request: Request, *, error: str | None = None,
          detail: str | Mapping[str, Any] = "", done: bool = False, status: int = 200
          ) -> HTMLResponse:
    # ``detail``: the audit store's English words, or the users store's refusal by its
    # code and values (said in the page's language; web/refusals.py)
    return render(request, "account_password.html",
                  {"error": error, "detail": detail, "done": done,
                   "min_password": MIN_PASSWORD}, status=status)


@router.get("/account/password", response_class=HTMLResponse)
def password_page(request: Request, user: AuditorUser, done: str = "") -> HTMLResponse:
    """The form to change one's own password."""
    return _page(request, done=bool(done))


@router.post("/account/password", dependencies=[Depends(require_csrf)])
async def password_change(request: Request, user: AuditorUser, current: str = Form(""),
                          new: str = Form(""), confirm: str = Form("")) -> Response:
    """Change one's own password after checking the current one; end every session."""
    console = console_of(request)
    client = client_of(request)
    admission = console.throttle.admit(client, user.name)
    if admission.refusal is not None:
        log.warning("password change refused (%s) for %s from %s",
                    admission.refusal.value, user.name, client)
        return _page(request, error="too_many", status=429)
    if await run_in_threadpool(console.users.authenticate, user.name, current) is None:
        console.throttle.failed(client, user.name)
        log.info("password change with a wrong current password for %s from %s",
                 user.name, client)
        return _page(request, error="wrong_current", status=400)
    if new != confirm:
        return _page(request, error="password_mismatch", status=400)
    if len(new) < MIN_PASSWORD:
        return _page(request, error="password_short", status=400)
    try:
        ended = await run_in_threadpool(console.users.set_password, user.name, new)
    except UserError as exc:
        return _page(request, error="error", detail=as_shown(exc.problem), status=400)
    session_id = console.users.start_session(
        user.name, timedelta(seconds=console.settings.session_seconds))
    renew(request, sid=session_id)
    log.info("password changed by %s from %s; %d sessions ended", user.name, client, ended)
    try:
        actions.user_event(console.settings, actor=user.name, target=user.name,
                           action="password")
    except AuditError as exc:
        return _page(request, error="not_audited", detail=str(exc), status=500)
    return RedirectResponse("/account/password?done=1", status_code=303)
