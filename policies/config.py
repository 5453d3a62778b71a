"""Settings of policies/: the `[policies]` table of congvu.toml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PoliciesConfig(BaseModel):
    """The `[policies]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")
