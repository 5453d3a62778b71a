"""The composed configuration: one TOML file, one table per package.

milter/ owns the service's own tables (``[service]``, ``[[listeners]]``,
``[next_hop]``, ``[pipeline]``, ``[limits]``, ``[metrics]``, ``[probe]``); each
capability package owns its model, composed here under its own name (``[policies]``,
``[signer]``, ``[directory]``, ``[audit]``, ``[archive]``). Relative paths anywhere in
the file are relative to the data directory (``service.data_dir``, else ``$CONGVU_VAR``, else
``./var``), so every command run from one place sees one state.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from archive import ArchiveConfig
from audit import AuditConfig
from directory import DirectoryConfig
from mailbase import check_store_url
from milter.config import (
    LimitsConfig,
    ListenerConfig,
    MetricsConfig,
    NextHopConfig,
    NextHopKind,
    PipelineConfig,
    ProbeConfig,
    Protocol,
    ServiceConfig,
)
from milter.errors import ConfigError
from milter.settings import UsersStore
from policies import PoliciesConfig
from signer import SignerConfig
from web import WebConfig, WebSettings

VAR_ENV = "CONGVU_VAR"


class StoreConfig(BaseModel):
    """The `[store]` table: the shared store of several mail servers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        default=None,
        description="PostgreSQL, postgresql://USER@HOST:PORT/DATABASE, for the stores "
        "several mail servers share (the audit log, the directory and the console's users "
        "among them; a table's own url overrides "
        "it, and a table that sets path keeps its SQLite file). Unset: every store is a "
        "SQLite file under the data directory. Never with a password in it.",
    )
    password_file: Path | None = Field(
        default=None,
        description="A file holding only the password of url's user, mode 0600, owned by "
        "root or the user congvu runs as (unset: libpq's passfile, ~/.pgpass or "
        "PGPASSFILE, or no password); relative to the data directory.",
    )

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_store_url(value)

    @model_validator(mode="after")
    def _password_needs_url(self) -> StoreConfig:
        if self.password_file is not None and self.url is None:
            raise ValueError("password_file is set but url is not: the password is for "
                             "the PostgreSQL store url names")
        return self

_Model = TypeVar("_Model", bound=BaseModel)


class CongvuConfig(BaseModel):
    """The whole file (it satisfies milter.settings.Settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ServiceConfig = Field(default_factory=ServiceConfig)
    listeners: list[ListenerConfig] = Field(
        default_factory=lambda: [ListenerConfig(name="filter")], min_length=1
    )
    next_hop: NextHopConfig = Field(default_factory=NextHopConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    policies: PoliciesConfig = Field(default_factory=PoliciesConfig)
    signer: SignerConfig = Field(default_factory=SignerConfig)
    directory: DirectoryConfig = Field(default_factory=DirectoryConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    @model_validator(mode="after")
    def _listeners_unique(self) -> CongvuConfig:
        names = [listener.name for listener in self.listeners]
        if len(set(names)) != len(names):
            raise ValueError("listener names must be unique")
        sockets = [(lst.address, lst.port) for lst in self.listeners if lst.port]
        if len(set(sockets)) != len(sockets):
            raise ValueError("two listeners use the same address and port")
        if self.next_hop.kind is NextHopKind.LMTP and any(
            lst.protocol is not Protocol.LMTP for lst in self.listeners
        ):
            raise ValueError(
                "an lmtp next hop needs every listener to speak lmtp: an SMTP client gets "
                "one reply per message and could not be told which recipients failed"
            )
        return self

    @property
    def data_dir(self) -> Path:
        """The resolved data directory (always set after :func:`load_config`)."""
        assert self.service.data_dir is not None, "use load_config()"
        return self.service.data_dir

    @property
    def users_store(self) -> UsersStore:
        """The console's users store (``[web]``) as doctor and backup see it."""
        from web import UserStore  # the console's store only where it is looked at

        return UsersStore(path=self.web.path, url=self.web.url,
                          password_file=self.web.password_file,
                          sqlite_version=UserStore.schema_version,
                          pg_schema=UserStore.pg_schema,
                          pg_migrations=UserStore.pg_migrations)


def _describe(error: Mapping[str, Any]) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"])
    if error["type"] == "extra_forbidden":
        message = "unknown key (check its spelling and the table it is in)"
    return f"{path}: {message}"


def _resolve_paths(model: _Model, base: Path) -> _Model:
    """Return ``model`` with every relative Path made absolute under ``base``."""
    updates: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        resolved = _resolve_value(value, base)
        if resolved is not value:
            updates[name] = resolved
    return model.model_copy(update=updates) if updates else model


def _resolve_value(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        return value if value.is_absolute() else base / value
    if isinstance(value, BaseModel):
        return _resolve_paths(value, base)
    if isinstance(value, list | tuple):  # tuples too: [signer] keeps its tables in tuples
        items = [_resolve_value(item, base) for item in value]
        if not any(a is not b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str = "<embedded defaults>",
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> CongvuConfig:
    """Validate a configuration mapping and resolve its paths.

    :raises ConfigError: listing every problem with its key path.
    """
    environ = os.environ if environ is None else environ
    try:
        config = CongvuConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_describe(err) for err in exc.errors()]) from exc
    cwd = cwd or Path.cwd()
    data_dir = config.service.data_dir or Path(environ.get(VAR_ENV) or "var")
    data_dir = (cwd / data_dir).resolve() if not data_dir.is_absolute() else data_dir
    service = config.service.model_copy(update={"data_dir": data_dir})
    store = config.store
    policies, signer = config.policies, config.signer
    config = config.model_copy(update={
        "service": service,
        "audit": _on_shared_store(config.audit, store),
        "archive": _on_shared_store(config.archive, store),
        "directory": _on_shared_store(config.directory, store),
        "web": _on_shared_store(config.web, store),
        "policies": policies.model_copy(update={
            "quarantine": _on_shared_store(policies.quarantine, store)}),
        "signer": signer.model_copy(update={
            "dkim": _on_shared_store(signer.dkim, store, own="state_file")}),
    })
    return _resolve_paths(config, data_dir)


def _on_shared_store(table: _Model, store: StoreConfig, *, own: str = "path") -> _Model:
    """``table`` with ``[store]`` applied: the shared store's URL unless the table names
    its own store (``own``, or a url of its own), and the shared password file unless it
    has one. Every store's table follows this one rule."""
    if store.url is None or own in table.model_fields_set:
        return table
    return table.model_copy(update={
        "url": getattr(table, "url", None) or store.url,
        "password_file": getattr(table, "password_file", None) or store.password_file,
    })


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> CongvuConfig:
    """Read and validate the TOML file at ``path``, or the embedded defaults for None.

    :raises ConfigError: the file cannot be read, is not TOML, or is invalid.
    """
    if path is None:
        return parse_config({}, environ=environ)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [f"the file is not UTF-8: {exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc
    return parse_config(data, source=str(path), environ=environ)


def web_settings(config: CongvuConfig, *, is_secure_cookie: bool = False) -> WebSettings:
    """The console's settings from the composed configuration: the other packages'
    stores, its users store (``[web]``) and its cookie key under the data directory."""
    data = config.data_dir
    return WebSettings(
        audit=config.audit,
        directory_path=config.directory.path,
        directory=config.directory,
        quarantine=config.policies.quarantine,
        users_path=config.web.path,
        users=config.web,
        keys_dir=data / "keys",
        time_zone=config.audit.time_zone,
        title=config.directory.title,
        is_secure_cookie=is_secure_cookie,
        archive=config.archive,
    )
