"""Settings of audit/: the `[audit]` table of congvu.toml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AuditConfig(BaseModel):
    """The `[audit]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")
