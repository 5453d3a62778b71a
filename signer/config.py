"""Settings of signer/: the `[signer]` table of congvu.toml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SignerConfig(BaseModel):
    """The `[signer]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")
