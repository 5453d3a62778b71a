"""Settings of audit/: the `[audit]` table of congvu.toml."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit.errors import AuditError
from mailbase import DEFAULT_ZONE, PeriodError, UnsafeFileError, check_store_url, read_secret, zone

if TYPE_CHECKING:  # audit/keys.py brings the chain and cryptography: read where used
    from audit.keys import KeyTrust


class AuditConfig(BaseModel):
    """The `[audit]` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path = Field(
        default=Path("audit.sqlite3"),
        description="The audit store (SQLite); relative to the data directory. Not "
        "together with url.",
    )
    url: str | None = Field(
        default=None,
        description="The audit store in PostgreSQL, postgresql://USER@HOST:PORT/DATABASE "
        "(never with a password: see [store] password_file), shared by several mail "
        "servers writing one chain. Overrides [store] url for the audit log; not together "
        "with path.",
    )
    password_file: Path | None = Field(
        default=None,
        description="The PostgreSQL password of url's user, alone in a file of mode 0600 "
        "(default: [store] password_file, else libpq's passfile ~/.pgpass); relative to the "
        "data directory.",
    )
    keys_dir: Path = Field(
        default=Path("keys"),
        description="Where the checkpoint signing key audit-checkpoint.key lives "
        "(generated on first use, mode 0600); relative to the data directory.",
    )
    checkpoint_every_records: int = Field(
        default=1000, ge=1, description="Write a signed checkpoint after this many events."
    )
    checkpoint_every_seconds: float = Field(
        default=60.0, gt=0, description="Write a signed checkpoint at least this often "
        "(seconds) while events are being written.",
    )
    checkpoint_public_keys: list[str] = Field(
        default_factory=list,
        description="The Ed25519 keys whose checkpoints count, each sha256:<hex> (as "
        "`congvu audit checkpoint export` prints it) or the raw public key in hex. "
        "Empty: this server's own audit-checkpoint.key, plus keys the store enrolled "
        "under a checkpoint of a key that counts (verify names them; doctor warns). "
        "A checkpoint signed by any other key is reported as tampering.",
    )
    time_zone: str = Field(
        default=DEFAULT_ZONE,
        description="IANA zone for reports and for command-line dates without an offset.",
    )
    regular_use_min_messages: int = Field(
        default=4, ge=1, le=10_000,
        description="The report's regular use: an official's mailbox is used regularly in "
        "a period when it sent at least this many messages in each month of it (the months "
        "since the mailbox was made); receiving does not count.",
    )
    group_commit_max_batch: int = Field(
        default=256, ge=1, le=100_000,
        description="Most writes committed together in one fsync'd transaction.",
    )
    group_commit_max_wait_ms: float = Field(
        default=2.0, ge=0, le=1000,
        description="Most milliseconds the writer waits for more writes to join a batch "
        "once one is pending: it commits as soon as as many have joined as the last batch "
        "carried (0: commit whatever is queued at once).",
    )
    commit_delay_ms: float = Field(
        default=2.0, ge=0, le=1000,
        description="Most milliseconds the writer holds a batch it is about to commit "
        "while other messages of this worker wait for their completion (their record "
        "committed in the last second, the completion not yet written, and due within "
        "the delay by the usual time from a record to its completion), for those "
        "completions to join the same fsync'd transaction; it commits as soon as as many "
        "writes have joined as there are such messages. A lone message never waits "
        "(0: off).",
    )
    busy_timeout_ms: int = Field(
        default=10_000, ge=0,
        description="Milliseconds a writer waits for another process's lock.",
    )

    def password(self) -> str | None:
        """The PostgreSQL password in ``password_file`` (None: libpq's passfile, or none).

        :raises AuditError: the file is open to group or others, owned by another user,
            unreadable, not UTF-8, or empty.
        """
        if self.password_file is None:
            return None
        where = f"store password file {self.password_file}"
        try:
            text = read_secret(self.password_file).decode("utf-8").strip("\r\n")
        except UnsafeFileError as exc:
            raise AuditError(f"{where}: {exc.reason}") from exc
        except UnicodeDecodeError as exc:
            raise AuditError(f"{where}: not UTF-8 text") from exc
        if not text:
            raise AuditError(f"{where}: empty")
        return text

    def key_trust(self) -> KeyTrust:
        """The checkpoint keys verify trusts: the pins, else this server's own key.

        :raises KeyFileError: no pins, and the own key exists but cannot be read.
        """
        from audit.keys import KeyTrust

        return KeyTrust.from_config(self.checkpoint_public_keys, self.keys_dir)

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str | None) -> str | None:
        return None if value is None else check_store_url(value)

    @model_validator(mode="after")
    def _one_store(self) -> AuditConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("path and url name two audit stores: set one of them (path for "
                             "SQLite on this server, url for a shared PostgreSQL store)")
        return self

    @field_validator("checkpoint_public_keys")
    @classmethod
    def _pins_are_keys(cls, value: list[str]) -> list[str]:
        from audit.keys import parse_pin

        return [parse_pin(pin) for pin in value]

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except PeriodError as exc:
            raise ValueError(str(exc)) from exc
        return value
