"""Errors of web/.

    WebError
     ├── UserError       a user store problem (unknown user, duplicate, bad password)
     └── CookieKeyError  the cookie key file is unusable (permissions, size)
"""

from __future__ import annotations


class WebError(Exception):
    """The console could not do what was asked."""


class UserError(WebError):
    """A user store problem; the message says which user and why."""


class CookieKeyError(WebError):
    """The cookie key file cannot be used; ``path`` names it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cookie key {path}: {reason}")
        self.path = path
        self.reason = reason
