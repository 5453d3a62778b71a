"""Settings of directory/: the `[directory]` table of congvu.toml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DirectoryConfig(BaseModel):
    """The `[directory]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")
