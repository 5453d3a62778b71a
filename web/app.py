"""The console as one ASGI application: :func:`create_app`.

FastAPI (Starlette) with Jinja2 templates rendered on the server; autoescaping is on
for every template, so subjects and filenames (attacker-controlled) show as text.
The only JavaScript is web/static/console.js (no inline script: the CSP forbids it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from audit import VerifyReport
from directory import Directory, DirectoryError, Unit
from web import access
from web.filters import when
from web.i18n import DEFAULT, LANGUAGES, words
from web.keys import cookie_key
from web.problems import detail_html
from web.release import Releaser
from web.security import HEADERS, LANG_COOKIE, SESSION_COOKIE, Sessions, session_of
from web.settings import WebSettings
from web.throttle import LoginThrottle
from web.users import User, UserStore

log = logging.getLogger("congvu.web")
HERE = Path(__file__).resolve().parent


class LoginRequired(Exception):
    """The page needs a logged-in user (HTML: redirect to /login; API: 401)."""


class Forbidden(Exception):
    """The user may not see this (403)."""


@dataclass
class Console:
    """What every request handler shares."""

    settings: WebSettings
    users: UserStore
    sessions: Sessions
    throttle: LoginThrottle
    templates: Jinja2Templates
    release: Releaser | None
    last_verify: tuple[datetime, VerifyReport] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def directory(self) -> Directory | None:
        """The directory store, read-only (None if there is none yet)."""
        try:
            return Directory.open(self.settings.directory_store, read_only=True)
        except DirectoryError:
            return None

    def units(self) -> list[Unit]:
        """Every unit of the directory (empty without a store)."""
        found = self.directory()
        if found is None:
            return []
        with found:
            return found.units()

    def scope(self, user: User, units: list[Unit] | None = None) -> frozenset[str] | None:
        """The units ``user`` may see (None: all, for administrators): their grants,
        the units below them and the units they succeed (:func:`access.covered`);
        ``units``: the directory's, when the caller has read them for this request."""
        if user.is_admin:
            return None
        return access.covered(self.units() if units is None else units, user.units)

    def local(self, value: datetime | str | None) -> str:
        """A UTC time as people read it: dd/mm/yyyy HH:MM in the configured zone."""
        return when(value, self.settings.time_zone)


def console_of(request: Request) -> Console:
    """The shared state of the application handling ``request``."""
    console: Console = request.app.state.console
    return console


def lang_of(request: Request) -> str:
    """The page language: the cookie's choice, else Vietnamese."""
    lang = request.cookies.get(LANG_COOKIE, DEFAULT)
    return lang if lang in LANGUAGES else DEFAULT


def current_user(request: Request) -> User | None:
    """The user of this request's session while the users store has it live (not
    logged out, expired or ended by a password change) and the user active; or None."""
    if hasattr(request.state, "user"):
        cached: User | None = request.state.user
        return cached
    session_id = session_of(request).get("sid")
    user = (console_of(request).users.session_user(session_id)
            if isinstance(session_id, str) else None)
    request.state.user = user
    return user


def require_user(request: Request) -> User:
    """The logged-in user. :raises LoginRequired: nobody is logged in."""
    user = current_user(request)
    if user is None:
        raise LoginRequired()
    return user


def require_admin(request: Request) -> User:
    """The logged-in administrator. :raises Forbidden: not an administrator."""
    user = require_user(request)
    if not user.is_admin:
        raise Forbidden()
    return user


#: a route parameter for "any logged-in user" / "an administrator"
AuditorUser = Annotated[User, Depends(require_user)]
AdminUser = Annotated[User, Depends(require_admin)]


def render(request: Request, name: str, context: dict[str, Any], status: int = 200
           ) -> HTMLResponse:
    """Render template ``name`` with the page's common context."""
    console = console_of(request)
    lang = lang_of(request)
    page_words = words(lang)
    base = {
        "request": request, "lang": lang, "user": current_user(request),
        "_": page_words.gettext, "pgettext": page_words.pgettext, "word_for": page_words.word,
        "why": page_words.reason,
        "filter_label": page_words.filter_label, "notice": page_words.notice,
        "csrf": session_of(request)["csrf"],
        "local": console.local, "title": console.settings.title,
        "path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
    }
    return console.templates.TemplateResponse(request, name, {**base, **context},
                                              status_code=status)


def create_app(settings: WebSettings, *, release: Releaser | None = None) -> FastAPI:
    """The console for the stores ``settings`` names.

    :param release: sends a held message on (the root supplies milter/'s); without it the
        quarantine can be inspected and deleted but not released.
    :raises CookieKeyError: the cookie key is unusable.
    :raises UserError: the users store cannot be opened.
    """
    from web.routes import (
        account,
        admin,
        archive_pages,
        audit_pages,
        auth,
        public,
        report_files,
    )

    app = FastAPI(
        title="congvu", version="1", docs_url=None, redoc_url=None,
        openapi_url="/api/openapi.json",
        description="The public unit directory of congvu (official e-mail).",
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.console = Console(
        settings=settings,
        users=UserStore(settings.users_store, hashing=settings.password_hashing),
        sessions=Sessions(cookie_key(settings.keys_dir),
                          is_secure=settings.is_secure_cookie,
                          max_age=settings.session_seconds),
        throttle=LoginThrottle(attempts=settings.login_attempts,
                               client_attempts=settings.login_client_attempts,
                               user_attempts=settings.login_user_attempts,
                               window=settings.login_window_seconds,
                               backoff=settings.login_backoff_seconds),
        templates=templates,
        release=release,
    )

    @app.middleware("http")
    async def sessions_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        console = console_of(request)
        request.state.session = console.sessions.load(request.cookies.get(SESSION_COOKIE))
        request.state.session_dirty = bool(request.state.session.pop("new", False))
        response = await call_next(request)
        if request.state.session_dirty:
            response.set_cookie(
                SESSION_COOKIE, console.sessions.dump(request.state.session),
                max_age=console.sessions.max_age, httponly=True, samesite="strict",
                secure=console.sessions.is_secure, path="/",
            )
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        # how long the page took to build (before streaming); the benchmark reads it
        response.headers["Server-Timing"] = (
            f"app;dur={1000 * (time.perf_counter() - started):.1f}")
        if request.url.path.startswith(("/audit", "/admin", "/api/audit")):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "login required"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "forbidden"}, status_code=403)
        return render(request, "error.html", {"message": "forbidden"}, status=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        message = {403: "forbidden", 404: "not_found"}.get(exc.status_code, "error")
        detail = detail_html(words(lang_of(request)).translation, exc)
        return render(request, "error.html", {"message": message, "detail": detail},
                      status=exc.status_code)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for router in (public.router, auth.router, account.router, audit_pages.router,
                   report_files.router, archive_pages.router, admin.router):
        app.include_router(router)
    return app
