"""Settings of signer/: the ``[signer]`` table of congvu.toml and its sub-tables."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DkimConfig(_Strict):
    """The ``[signer.dkim]`` table: keys, signing and verification."""


class SmimeConfig(_Strict):
    """The ``[signer.smime]`` table: identities, trust anchors, CRLs."""


class SignerConfig(_Strict):
    """The ``[signer]`` table."""

    dkim: DkimConfig = Field(default_factory=DkimConfig)
    smime: SmimeConfig = Field(default_factory=SmimeConfig)
