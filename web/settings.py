"""What the console needs to know: where the stores are.

The root builds it from congvu.toml (congvu/config.py ``web_settings``), which has no
``[web]`` table (yet): the console uses the other packages' stores, its own users
store (``<data dir>/web/users.sqlite3``) and its cookie key
(``<data dir>/keys/web-cookie.key``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from archive import ArchiveConfig
from audit import AuditConfig

if TYPE_CHECKING:
    from argon2 import Parameters


def _rfc_9106_second_option() -> Parameters:
    # argon2 imported only by the processes that build the console's settings
    from web.users import PASSWORD_HASHING

    return PASSWORD_HASHING


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The stores and secrets the console uses, all absolute paths."""

    audit: AuditConfig
    directory_path: Path
    quarantine_path: Path
    quarantine_retention_days: int
    users_path: Path
    keys_dir: Path
    time_zone: str = "Asia/Ho_Chi_Minh"
    title: str = "Danh bạ thư điện tử công vụ"
    #: set the cookies' Secure flag (behind TLS at nginx: the console binds 127.0.0.1)
    is_secure_cookie: bool = False
    #: the login throttle (web/throttle.py): failures allowed per client and user name
    #: together in ``login_window_seconds``, per client whatever the names, and per
    #: name from every client before that name is under attack (failed clients are
    #: then refused, the others delayed by ``login_backoff_seconds``, doubling)
    login_attempts: int = 5
    login_window_seconds: float = 300.0
    login_client_attempts: int = 30
    login_user_attempts: int = 20
    login_backoff_seconds: float = 1.0
    #: how long a console session lasts (it ends sooner on logout, a password change,
    #: or when the user is disabled)
    session_seconds: int = 8 * 3600
    #: the Argon2id cost of the users' password hashes (web/users.py); the tests give
    #: argon2's cheapest, which leaves every check the same and costs nothing
    password_hashing: Parameters = field(default_factory=_rfc_9106_second_option)
    #: the ``[archive]`` table: the archived messages a content grant reads (None: the
    #: console offers no message content)
    archive: ArchiveConfig | None = None
