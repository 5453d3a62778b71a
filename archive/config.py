"""Settings of archive/: the `[archive]` table of congvu.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from archive.errors import ArchiveError
from mailbase import check_store_url

ArchivedDirection = Literal["inbound", "outbound"]


Years = int | Literal["permanent"]


def _both() -> list[ArchivedDirection]:
    return ["inbound", "outbound"]


class RetentionClass(BaseModel):
    """One retention class: whose mail, in which direction, is kept how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="What the class is called (shown by "
                      "`congvu archive prune` and recorded in its ledger).")
    years: Years = Field(description='Years a message is kept after it was received, or '
                         '"permanent".')
    units: list[str] = Field(
        default_factory=list,
        description="The units (and the units below them) whose mail the class covers; "
        "empty: every unit.")
    directions: list[ArchivedDirection] = Field(
        default_factory=_both, min_length=1,
        description="outbound (a unit's sent mail), inbound (received), or both.")

    @field_validator("years")
    @classmethod
    def _positive(cls, value: Years) -> Years:
        if isinstance(value, int) and not 1 <= value <= 500:
            raise ValueError('years must be 1 to 500, or "permanent"')
        return value


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
        "directory. Not together with url.",
    )
    url: str | None = Field(
        default=None,
        description="The archive in PostgreSQL, postgresql://USER@HOST:PORT/DATABASE "
        "(never with a password: see [store] password_file), shared by several mail "
        "servers: each message's bytes a row named by its SHA-256, compressed (and "
        "encrypted) as on disk. Overrides [store] url for the archive; not together with "
        "path. With encrypt, every server needs the same key_file.",
    )
    password_file: Path | None = Field(
        default=None,
        description="The PostgreSQL password of url's user, alone in a file of mode 0600 "
        "(default: [store] password_file, else libpq's passfile ~/.pgpass); relative to the "
        "data directory.",
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
    keep_years: Years = Field(
        default="permanent",
        description='Years a message no retention class covers is kept, or "permanent" '
        "(the default: `congvu archive prune` removes nothing until classes or this say "
        "so).",
    )
    retention: list[RetentionClass] = Field(
        default_factory=list,
        description="The retention classes (`[[archive.retention]]`): a message is kept as "
        "long as the longest class covering its direction and any of its units (sender "
        "unit outbound, recipient units) says; `congvu archive prune` removes what has "
        "expired and records it.",
    )
    encrypt: bool = Field(
        default=False,
        description="Encrypt each message stored from now on with AES-256-GCM under the "
        "key in key_file (generated on first use; keep a copy of it offline: without it "
        "the archive cannot be read). Messages stored before stay as they were; both "
        "kinds are read.",
    )
    index: bool | None = Field(
        default=None,
        description="Keep a text index of the archived messages for the console's search "
        "(subject, From, To and Cc, attachments' names, text and HTML parts, the text of "
        "PDFs up to 5 MB; case and diacritics ignored; at most 64 KiB of words a "
        "message): index.sqlite3 beside the "
        "objects (SQLite FTS5), or a table beside them in PostgreSQL. The index holds "
        "those words in clear, so by default it is on when encrypt is off and off when "
        "encrypt is on (the search then reads at most the newest 2,000 messages); true "
        "with encrypt keeps the words of encrypted messages readable to anyone who can "
        "read the index. `congvu archive index rebuild` indexes messages stored before.",
    )
    key_file: Path = Field(
        default=Path("keys/archive.key"),
        description="The archive's encryption key (mode 0600, read only when owned by "
        "root or congvu's user); relative to the data directory.",
    )
    compression_level: int = Field(
        default=3, ge=1, le=19,
        description="zstd compression level of stored messages (3: zstd's default, fast; "
        "higher levels save a little space for much more CPU per message).",
    )

    @property
    def is_indexed(self) -> bool:
        """Whether the archive keeps its text index: ``index`` when set, else on
        exactly when messages are not encrypted."""
        return self.index if self.index is not None else not self.encrypt

    def password(self) -> str | None:
        """The PostgreSQL password in ``password_file`` (None: libpq's passfile, or none).

        :raises ArchiveError: the file is open to group or others, owned by another user,
            unreadable, not UTF-8, or empty.
        """
        from mailbase.pgconn import read_password  # psycopg with it: only when one is read

        try:
            return read_password(self.password_file)
        except ValueError as exc:
            raise ArchiveError(str(exc)) from exc

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_store_url(value)

    @model_validator(mode="after")
    def _one_store(self) -> ArchiveConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("path and url name two archives: set one of them (path for a "
                             "directory on this server, url for a shared PostgreSQL store)")
        return self

    @field_validator("directions", "units")
    @classmethod
    def _each_once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("keep_years")
    @classmethod
    def _default_positive(cls, value: Years) -> Years:
        return RetentionClass._positive(value)

    @model_validator(mode="after")
    def _class_names_unique(self) -> ArchiveConfig:
        names = [c.name for c in self.retention]
        if len(set(names)) != len(names):
            raise ValueError("retention class names must be unique")
        return self
