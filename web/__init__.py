"""The HTTP console: public directory, auditors' log, administrators' quarantine.

:func:`create_app` builds the ASGI application from :class:`WebSettings` and a
:class:`Releaser` (the root supplies milter/'s, which sends held mail on, signed);
:func:`commands` gives ``congvu web`` and ``congvu user ...``. The application and
the users store are imported on first use, so composing the CLI stays cheap for
every other ``congvu`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from web.cli import commands
from web.errors import CookieKeyError, UserError, WebError
from web.release import Releaser
from web.settings import WebConfig, WebSettings

if TYPE_CHECKING:
    from web.app import create_app
    from web.users import User, UserStore

__all__ = [
    "CookieKeyError",
    "Releaser",
    "User",
    "UserError",
    "UserStore",
    "WebConfig",
    "WebError",
    "WebSettings",
    "commands",
    "create_app",
]

_LAZY = {"create_app": "web.app", "User": "web.users", "UserStore": "web.users"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'web' has no attribute {name!r}")
