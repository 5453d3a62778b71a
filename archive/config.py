"""Settings of archive/: the `[archive]` table of congvu.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ArchivedDirection = Literal["inbound", "outbound"]


def _both() -> list[ArchivedDirection]:
    return ["inbound", "outbound"]


class ArchiveConfig(BaseModel):
    """The `[archive]` table: which relayed messages are kept, and where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        default=True,
        description="Keep the exact bytes of every relayed message sent or received by a "
        "provincial unit (the `archive` stage, after DKIM signing), with their SHA-256 in "
        "the message's audit record. A message that cannot be archived is answered 451 "
        "and relayed nowhere, like one whose record cannot be written.",
    )
    path: Path = Field(
        default=Path("archive"),
        description="The archive directory (created 0700; messages under "
        "objects/ab/<sha256>.eml.zst, 0600, zstd-compressed); relative to the data "
        "directory.",
    )
    directions: list[ArchivedDirection] = Field(
        default_factory=_both, min_length=1,
        description="Which messages are kept: outbound (sent by a unit on the trusted "
        "path, including mail between units) and inbound (received by a unit). To keep "
        "none, set enabled = false.",
    )
    units: list[str] = Field(
        default_factory=list,
        description="Keep only the mail of these units and the units below them (unit "
        "ids of the directory). Empty: every provincial unit. Mail that no unit sent or "
        "received is never kept.",
    )
    compression_level: int = Field(
        default=3, ge=1, le=19,
        description="zstd compression level of stored messages (3: zstd's default, fast; "
        "higher levels save a little space for much more CPU per message).",
    )

    @field_validator("directions", "units")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))
