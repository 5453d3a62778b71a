"""The HTTP console: public directory, auditors' log, administrators' quarantine (issue 10).

:func:`create_app` builds the ASGI application from :class:`WebSettings` and a
:class:`Releaser` (milter/ supplies the one that sends held mail on, signed);
:func:`commands` gives ``congvu web`` and ``congvu user ...``.
"""

from web.app import Releaser, create_app
from web.cli import commands
from web.errors import CookieKeyError, UserError, WebError
from web.settings import WebSettings
from web.users import User, UserStore

__all__ = [
    "CookieKeyError",
    "Releaser",
    "User",
    "UserError",
    "UserStore",
    "WebError",
    "WebSettings",
    "commands",
    "create_app",
]
