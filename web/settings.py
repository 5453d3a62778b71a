"""What the console needs to know: where the stores are, built from congvu.toml.

congvu.toml has no ``[web]`` table (yet): the console uses the other packages'
stores, its own users store (``<data dir>/web/users.sqlite3``) and its cookie key
(``<data dir>/keys/web-cookie.key``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audit import AuditConfig
from milter.config import CongvuConfig


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
    #: failed logins allowed per client address and per user name in ``login_window``
    login_attempts: int = 5
    login_window_seconds: float = 300.0

    @classmethod
    def from_config(cls, config: CongvuConfig, *, is_secure_cookie: bool = False
                    ) -> WebSettings:
        """The console's settings from the composed configuration."""
        data = config.data_dir
        return cls(
            audit=config.audit,
            directory_path=config.directory.path,
            quarantine_path=config.policies.quarantine.path,
            quarantine_retention_days=config.policies.quarantine.retention_days,
            users_path=data / "web" / "users.sqlite3",
            keys_dir=data / "keys",
            time_zone=config.audit.time_zone,
            title=config.directory.title,
            is_secure_cookie=is_secure_cookie,
        )
