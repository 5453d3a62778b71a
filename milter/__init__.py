"""The congvu service: a content filter beside Postfix.

milter/ speaks SMTP and LMTP to Postfix as an after-queue content filter (Postfix's
``content_filter`` and reinjection listener); despite its name it does not speak the
Sendmail milter protocol. It owns the SMTP side, the pipeline of stages, the next hop,
the worker processes and signals, and the commands that operate it (doctor, probe,
backup, quarantine release). The composed configuration and the root ``congvu``
command are congvu/'s; milter/ reads the configuration through :class:`Settings`.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from milter.config import Direction, Role
    from milter.errors import ConfigError, MilterError, NextHopError
    from milter.settings import Reload, Settings
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "milter.config": ("Direction", "Role"),
        "milter.errors": ("ConfigError", "MilterError", "NextHopError"),
        "milter.settings": ("Reload", "Settings"),
    })

__all__ = [
    "ConfigError",
    "Direction",
    "MilterError",
    "NextHopError",
    "Reload",
    "Role",
    "Settings",
]
