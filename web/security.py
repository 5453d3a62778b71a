"""Sessions, CSRF tokens, login rate limiting and the security headers.

Sessions are signed cookies (itsdangerous, HMAC-SHA1 over a key from
:func:`web.keys.cookie_key`): HttpOnly, SameSite=Strict, Secure behind TLS. Each
session carries a random CSRF token; every form posts it back and
:func:`require_csrf` compares it in constant time (OWASP's synchronizer token).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from typing import Any

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

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

    def __init__(self, key: bytes, *, is_secure: bool = False) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="congvu-web-session")
        self.is_secure = is_secure

    def load(self, cookie: str | None) -> dict[str, Any]:
        """The session in ``cookie``, or a new one (with a fresh CSRF token)."""
        if cookie:
            try:
                data = self._serializer.loads(cookie, max_age=SESSION_SECONDS)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                return data
        return {"csrf": secrets.token_urlsafe(32), "new": True}

    def dump(self, session: dict[str, Any]) -> str:
        """The cookie value for ``session``."""
        return self._serializer.dumps({k: v for k, v in session.items() if k != "new"})


def session_of(request: Request) -> dict[str, Any]:
    """The request's session (the middleware put it there)."""
    session: dict[str, Any] = request.state.session
    return session


def renew(request: Request, **values: Any) -> None:
    """Replace the session (login, logout): a new CSRF token, nothing carried over."""
    request.state.session = {"csrf": secrets.token_urlsafe(32), **values}
    request.state.session_dirty = True


async def require_csrf(request: Request) -> None:
    """Refuse a form whose ``csrf_token`` is missing or not this session's (403)."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = session_of(request).get("csrf", "")
    if not isinstance(sent, str) or not sent or not hmac.compare_digest(sent, expected):
        raise HTTPException(status_code=403, detail="csrf")


class LoginLimiter:
    """Failed logins per key (client address, user name) in a sliding window."""

    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        while found and now - found[0] > self.window:
            found.popleft()
        return found

    def is_blocked(self, *keys: str) -> bool:
        """Whether any key has used up its attempts."""
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.attempts for k in keys)

    def fail(self, *keys: str) -> None:
        """Count a failed login against each key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)

    def succeed(self, *keys: str) -> None:
        """Forget the failures of a user who logged in."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to, never another site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
