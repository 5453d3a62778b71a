"""Logging in and out (/login, /logout), with rate limiting per address and name."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web.app import console_of, render
from web.security import renew, require_csrf, safe_next

router = APIRouter(include_in_schema=False)
log = logging.getLogger("congvu.web")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/audit") -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", {"next": safe_next(next, "/audit"), "error": None})


@router.post("/login", dependencies=[Depends(require_csrf)])
def login(request: Request, username: str = Form(""), password: str = Form(""),
          next: str = Form("/audit")) -> Response:
    """Check the password; on success start a new session (a new CSRF token too)."""
    console = console_of(request)
    client = request.client.host if request.client else "?"
    keys = (f"ip:{client}", f"user:{username}")
    if console.limiter.is_blocked(*keys):
        log.warning("login refused (rate limit) for %r from %s", username, client)
        return render(request, "login.html", {"next": safe_next(next, "/audit"),
                                              "error": "too_many"}, status=429)
    user = console.users.authenticate(username, password)
    if user is None:
        console.limiter.fail(*keys)
        log.info("failed login for %r from %s", username, client)
        return render(request, "login.html", {"next": safe_next(next, "/audit"),
                                              "error": "bad_login"}, status=401)
    console.limiter.succeed(f"user:{username}")
    renew(request, user=user.name)
    log.info("login %s from %s", user.name, client)
    return RedirectResponse(safe_next(next, "/audit"), status_code=303)


@router.post("/logout", dependencies=[Depends(require_csrf)])
def logout(request: Request) -> Response:
    """End the session."""
    renew(request)
    return RedirectResponse("/", status_code=303)
