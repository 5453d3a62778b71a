"""The HTTP console: public directory, auditors' log, administrators' quarantine.

:func:`create_app` builds the ASGI application from :class:`WebSettings` and a
:class:`Releaser` (the root supplies milter/'s, which sends held mail on, signed);
:func:`commands` gives ``congvu web`` and ``congvu user ...``. The application and
the users store are imported on first use, so composing the CLI stays cheap for
every other ``congvu`` command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from web.app import create_app
    from web.cli import commands
    from web.errors import CookieKeyError, UserError, WebError
    from web.release import Releaser
    from web.settings import WebConfig, WebSettings
    from web.users import User, UserStore
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "web.app": ("create_app",),
        "web.cli": ("commands",),
        "web.errors": ("CookieKeyError", "UserError", "WebError"),
        "web.release": ("Releaser",),
        "web.settings": ("WebConfig", "WebSettings"),
        "web.users": ("User", "UserStore"),
    })

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
