"""Session cookies, CSRF tokens and the security headers.

The cookie is signed (itsdangerous, HMAC-SHA1 over a key from
:func:`web.keys.cookie_key`): HttpOnly, SameSite=Strict, Secure behind TLS. It holds
a random CSRF token and, once logged in, the session id, which means something only
while the users store has that session live (:meth:`web.users.UserStore.session_user`):
logging out, a password change or disabling the user ends it on every server. Every
form posts the CSRF token back and :func:`require_csrf` compares it in constant time
(OWASP's synchronizer token).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from mailbase import N_
from web.problems import PageProblem

SESSION_COOKIE = "congvu_session"
LANG_COOKIE = "congvu_lang"
SESSION_SECONDS = 8 * 3600

#: No inline script or style anywhere (this policy forbids it); charts are SVG images.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class Sessions:
    """Reads and writes the signed session cookie."""

    def __init__(self, key: bytes, *, is_secure: bool = False,
                 max_age: int = SESSION_SECONDS) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="congvu-web-session")
        self.is_secure = is_secure
        self.max_age = max_age

    def load(self, cookie: str | None) -> dict[str, Any]:
        """The session in ``cookie`` (its CSRF token and session id only: a cookie of
        the previous release, which named the user, logs nobody in), or a new one."""
        if cookie:
            try:
                data = self._serializer.loads(cookie, max_age=self.max_age)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                session = {"csrf": data["csrf"]}
                if isinstance(data.get("sid"), str):
                    session["sid"] = data["sid"]
                return session
        return {"csrf": secrets.token_urlsafe(32), "new": True}

    def dump(self, session: dict[str, Any]) -> str:
        """The cookie value for ``session``."""
        return self._serializer.dumps({k: v for k, v in session.items() if k != "new"})


def session_of(request: Request) -> dict[str, Any]:
    """The request's session (the middleware put it there)."""
    session: dict[str, Any] = request.state.session
    return session


def renew(request: Request, **values: Any) -> None:
    """Replace the session (login, logout, a password change): a new CSRF token,
    nothing carried over."""
    request.state.session = {"csrf": secrets.token_urlsafe(32), **values}
    request.state.session_dirty = True


async def require_csrf(request: Request) -> None:
    """Refuse a form whose ``csrf_token`` is missing or not this session's (403)."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = session_of(request).get("csrf", "")
    if not isinstance(sent, str) or not sent or not hmac.compare_digest(sent, expected):
        raise PageProblem(403, N_("the form has expired or did not come from this console: "
                          "reload the page and try again"))


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to, never another site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
