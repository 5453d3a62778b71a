"""Logging in and out (/login, /logout), throttled per client and name (web/throttle.py)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.app import console_of, render
from web.security import renew, require_csrf, safe_next, session_of

router = APIRouter(include_in_schema=False)
log = logging.getLogger("congvu.web")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/audit") -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", {"next": safe_next(next, "/audit"), "error": None})


def client_of(request: Request) -> str:
    """The client's address (uvicorn takes it from X-Forwarded-For of the local proxy)."""
    return request.client.host if request.client else "?"


@router.post("/login", dependencies=[Depends(require_csrf)])
async def login(request: Request, username: str = Form(""), password: str = Form(""),
                next: str = Form("/audit")) -> Response:
    """Check the password (throttled: web/throttle.py); on success start a session in
    the users store and a new cookie (a new CSRF token too)."""
    console = console_of(request)
    client = client_of(request)
    target = safe_next(next, "/audit")
    admission = console.throttle.admit(client, username)
    if admission.refusal is not None:
        log.warning("login refused (%s) for %r from %s", admission.refusal.value, username,
                    client)
        return render(request, "login.html", {"next": target, "error": "too_many"},
                      status=429)
    if admission.delay:
        # the name is under attack from elsewhere: this client has not failed, so it
        # waits instead of being refused (an async wait holds no worker thread)
        await asyncio.sleep(admission.delay)
    user = await run_in_threadpool(console.users.authenticate, username, password)
    if user is None:
        console.throttle.failed(client, username)
        log.info("failed login for %r from %s", username, client)
        return render(request, "login.html", {"next": target, "error": "bad_login"},
                      status=401)
    console.throttle.succeeded(client, username)
    session_id = console.users.start_session(
        user.name, timedelta(seconds=console.settings.session_seconds))
    renew(request, sid=session_id)
    log.info("login %s from %s", user.name, client)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request) -> Response:
    """End the session, in the users store too (a copy of the cookie is worth nothing)."""
    session_id = session_of(request).get("sid")
    if isinstance(session_id, str):
        console_of(request).users.end_session(session_id)
    renew(request)
    return RedirectResponse("/", status_code=303)
