"""Settings of directory/: the `[directory]` table of congvu.toml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from directory.errors import StoreError
from directory.model import InvalidAddress, parse_domain
from directory.problems import STORE_PASSWORD
from mailbase import check_store_url


class DirectoryConfig(BaseModel):
    """The `[directory]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(
        default=Path("directory.sqlite3"),
        description="The directory store (SQLite); relative to the data directory. Not "
        "together with url.",
    )
    url: str | None = Field(
        default=None,
        description="The directory store in PostgreSQL, postgresql://USER@HOST:PORT/DATABASE "
        "(never with a password: see [store] password_file), shared by several mail "
        "servers: the units, their history and the roster, in the database's schema "
        "`directory`. Overrides [store] url for the directory; not together with path.",
    )
    password_file: Path | None = Field(
        default=None,
        description="The PostgreSQL password of url's user, alone in a file of mode 0600 "
        "(default: [store] password_file, else libpq's passfile ~/.pgpass); relative to the "
        "data directory.",
    )
    domains: tuple[str, ...] = Field(
        default=(),
        description="The province's own mail domains besides those of the units' "
        "addresses (e.g. a domain with no unit yet). Unicode or ASCII.",
    )
    title: str = Field(
        default="Danh bạ thư điện tử công vụ",
        min_length=1,
        description="Heading of the published HTML page.",
    )
    ldap_base: str | None = Field(
        default=None,
        description="Base DN of the published LDIF (the units go under ou=units,BASE); "
        "default: the root unit's domain as dc= components.",
    )

    def password(self) -> str | None:
        """The PostgreSQL password in ``password_file`` (None: libpq's passfile, or none).

        :raises StoreError: the file is open to group or others, owned by another user,
            unreadable, not UTF-8, or empty.
        """
        from mailbase.pgconn import read_password  # psycopg with it: only when one is read

        try:
            return read_password(self.password_file)
        except ValueError as exc:
            raise StoreError(str(self.url), STORE_PASSWORD(detail=str(exc))) from exc

    def is_present(self) -> bool:
        """Whether there is a store to open without creating one: a PostgreSQL store is
        asked when opened; a file must exist."""
        return self.url is not None or self.path.exists()

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_store_url(value)

    @model_validator(mode="after")
    def _one_store(self) -> DirectoryConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("path and url name two directory stores: set one of them (path "
                             "for SQLite on this server, url for a shared PostgreSQL store)")
        return self

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(parse_domain(domain) for domain in value)
        except InvalidAddress as exc:
            raise ValueError(f"{exc.value!r} is not a valid domain: {exc.reason}") from None
