"""Settings of directory/: the `[directory]` table of congvu.toml."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from directory.model import InvalidAddress, parse_domain


class DirectoryConfig(BaseModel):
    """The `[directory]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(
        default=Path("directory.sqlite3"),
        description="The directory store (SQLite); relative to the data directory.",
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

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(parse_domain(domain) for domain in value)
        except InvalidAddress as exc:
            raise ValueError(f"{exc.value!r} is not a valid domain: {exc.reason}") from None
