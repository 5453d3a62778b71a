"""What the console needs to know: where the stores are.

The root builds it from congvu.toml (congvu/config.py ``web_settings``): the console
uses the other packages' stores, its own users store (``[web]``: by default
``<data dir>/web/users.sqlite3``, or PostgreSQL shared by several servers) and its
cookie key (``<data dir>/keys/web-cookie.key``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from archive import ArchiveConfig
from audit import AuditConfig
from directory import DirectoryConfig
from mailbase import check_store_url
from policies import QuarantineConfig

if TYPE_CHECKING:
    from argon2 import Parameters


def _rfc_9106_second_option() -> Parameters:
    # argon2 imported only by the processes that build the console's settings
    from web.users import PASSWORD_HASHING

    return PASSWORD_HASHING


class WebConfig(BaseModel):
    """The `[web]` table: the console's users store (users, grants, sessions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(
        default=Path("web/users.sqlite3"),
        description="The console's users, their grants and their sessions (SQLite); "
        "relative to the data directory. Not together with url.",
    )
    url: str | None = Field(
        default=None,
        description="The console's users store in PostgreSQL, "
        "postgresql://USER@HOST:PORT/DATABASE (never with a password: see [store] "
        "password_file), shared by the consoles of several mail servers, so a logout or "
        "a disabled user ends the session on every one; in the database's schema "
        "`console`. Overrides [store] url for the users; not together with path.",
    )
    password_file: Path | None = Field(
        default=None,
        description="The PostgreSQL password of url's user, alone in a file of mode 0600 "
        "(default: [store] password_file, else libpq's passfile ~/.pgpass); relative to the "
        "data directory.",
    )

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_store_url(value)

    @model_validator(mode="after")
    def _one_store(self) -> WebConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("path and url name two users stores: set one of them (path for "
                             "SQLite on this server, url for a shared PostgreSQL store)")
        return self


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The stores and secrets the console uses, all absolute paths."""

    audit: AuditConfig
    directory_path: Path
    #: the quarantine the filter holds into (a directory, or the shared PostgreSQL store)
    quarantine: QuarantineConfig
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
    #: the ``[directory]`` table: when it names a url, the directory is read there
    #: rather than from ``directory_path``
    directory: DirectoryConfig | None = None
    #: the ``[web]`` table: when it names a url, the users store is there rather than
    #: at ``users_path``
    users: WebConfig | None = None

    @property
    def directory_store(self) -> Path | DirectoryConfig:
        """Where the directory is, as :meth:`directory.Directory.open` takes it."""
        if self.directory is not None and self.directory.url is not None:
            return self.directory
        return self.directory_path

    @property
    def users_store(self) -> Path | WebConfig:
        """Where the users are, as :class:`web.users.UserStore` takes it."""
        if self.users is not None and self.users.url is not None:
            return self.users
        return self.users_path

    def has_directory(self) -> bool:
        """Whether a directory store exists (a shared one always may: it is asked)."""
        return isinstance(self.directory_store, DirectoryConfig) or self.directory_path.exists()
