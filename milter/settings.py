"""What the service reads of the whole configuration.

The composed configuration (congvu/config.py, one TOML file) is built by the root
package, which imports milter/; milter/ must not import it back. The service, doctor,
probe and backup are typed against :class:`Settings` instead: the tables they read,
read-only. The root's ``CongvuConfig`` has every one of them, so mypy checks at the
root's call sites that it satisfies this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from archive import ArchiveConfig
from audit import AuditConfig
from directory import DirectoryConfig
from milter.config import (
    LimitsConfig,
    ListenerConfig,
    MetricsConfig,
    NextHopConfig,
    PipelineConfig,
    ServiceConfig,
)
from policies import PoliciesConfig
from signer import SignerConfig

if TYPE_CHECKING:
    from milter.config import ProbeConfig


@dataclass(frozen=True, slots=True)
class UsersStore:
    """The console's users store as ``doctor`` and ``backup`` see it. web/ owns the store
    and milter/ does not import web/, so the root fills this in: where the store is, and
    the schema this release writes to it."""

    #: the SQLite file (when ``url`` is None)
    path: Path
    #: the PostgreSQL database, and the file of its password
    url: str | None
    password_file: Path | None
    #: the SQLite file's ``PRAGMA user_version`` this release writes
    sqlite_version: int
    #: the PostgreSQL schema, and its migrations this release knows, by name
    pg_schema: str
    pg_migrations: tuple[str, ...]


class Settings(Protocol):
    """The configuration as the service reads it: every table it uses, read-only."""

    @property
    def service(self) -> ServiceConfig: ...
    @property
    def listeners(self) -> Sequence[ListenerConfig]: ...
    @property
    def next_hop(self) -> NextHopConfig: ...
    @property
    def pipeline(self) -> PipelineConfig: ...
    @property
    def limits(self) -> LimitsConfig: ...
    @property
    def metrics(self) -> MetricsConfig: ...
    @property
    def policies(self) -> PoliciesConfig: ...
    @property
    def signer(self) -> SignerConfig: ...
    @property
    def directory(self) -> DirectoryConfig: ...
    @property
    def audit(self) -> AuditConfig: ...
    @property
    def archive(self) -> ArchiveConfig: ...
    @property
    def probe(self) -> ProbeConfig: ...
    @property
    def users_store(self) -> UsersStore:
        """The console's users store (the ``[web]`` table), as doctor and backup see it."""
    @property
    def data_dir(self) -> Path:
        """The data directory, resolved: every relative path is under it."""


SettingsLoader = Callable[[Path | None], Settings]
"""The configuration ``--config`` names (None: the root's rule); the root supplies it.

:raises ConfigError: the source cannot be read or is invalid.
"""


@dataclass(frozen=True, slots=True)
class Reload:
    """How ``serve`` reads its configuration again on SIGHUP: from where it first came
    (the root supplies it; milter/ does not know the file's rule)."""

    #: the source as messages name it: the file, or ``<embedded defaults>``
    name: str
    #: reads and validates it again; raises ConfigError when it cannot
    read: Callable[[], Settings]
