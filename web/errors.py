"""Errors of web/.

    WebError
     ├── UserError       a user store problem (unknown user, duplicate, bad password)
     └── CookieKeyError  the cookie key file is unusable (permissions, size)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbase import Reason


class WebError(Exception):
    """The console could not do what was asked."""


class UserError(WebError):
    """A user store or grant refused: ``problem`` says which user or unit and why (a
    code of web/refusals.py with its values), the message is its English text."""

    def __init__(self, problem: Reason) -> None:
        super().__init__(problem.text)
        self.problem = problem


class CookieKeyError(WebError):
    """The cookie key file cannot be used; ``path`` names it."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cookie key {path}: {reason}")
        self.path = path
        self.reason = reason
