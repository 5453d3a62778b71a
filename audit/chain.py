"""The hash chain and its signed checkpoints.

Each row of ``events`` carries ``hash = SHA-256(canonical JSON of its hashed columns,
prev_hash included)``; the canonical form is JSON with sorted keys, no whitespace,
UTF-8, and columns that are NULL left out (so a nullable column added by a later
migration does not change old rows' hashes). ``seq`` is not hashed: order is what
``prev_hash`` proves, and gaps in ``seq`` are checked separately.

A checkpoint is the chain head (``seq``, ``hash``) at a time, signed with Ed25519 by a
key of its own, kept under ``<data dir>/keys/audit-checkpoint.key`` (mode 0600,
generated on first use). Exported, it proves that nothing up to it was removed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audit.errors import AuditError, KeyFileError
from audit.schema import HASHED_COLUMNS
from mailbase import UnsafeFileError, create_private, private_dir, read_secret

GENESIS = "0" * 64
KEY_FILE = "audit-checkpoint.key"


# one encoder for every call: json.dumps with these options builds a new one each time,
# about a microsecond of every row's hash
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical(value: Any) -> str:
    """The canonical JSON text of a value (sorted keys, compact, Unicode kept)."""
    return _CANONICAL.encode(value)


def row_hash(row: Mapping[str, Any]) -> str:
    """The hash a row of ``events`` must carry, from its hashed columns."""
    content = {name: row[name] for name in HASHED_COLUMNS if row.get(name) is not None}
    return hashlib.sha256(canonical(content).encode("utf-8", "surrogatepass")).hexdigest()


def tuple_hash(values: Sequence[Any]) -> str:
    """:func:`row_hash` for a tuple in :data:`HASHED_COLUMNS` order (the fast path)."""
    content = {
        name: value for name, value in zip(HASHED_COLUMNS, values, strict=True)
        if value is not None
    }
    return hashlib.sha256(canonical(content).encode("utf-8", "surrogatepass")).hexdigest()


def link_of(hashes: Iterable[str]) -> str:
    """The link of consecutive rows: ``x = SHA-256(x + hash)`` over their hashes (hex,
    ASCII) from 64 zeros. A checkpoint signs the link of the rows after ``link_from`` up
    to its own, so one row can be shown in full and the others as their hashes only."""
    link = GENESIS
    for value in hashes:
        link = hashlib.sha256(f"{link}{value}".encode("ascii")).hexdigest()
    return link


@dataclass(frozen=True, slots=True)
class Schedule:
    """The checkpoint schedule in force, signed into each checkpoint."""

    every_records: int
    every_seconds: float


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed chain head: every event up to ``seq`` hashes to ``hash``.

    Checkpoints written since schedules are signed also carry the schedule in force
    (``every_records``, ``every_seconds``) and ``batch_from``, the first record of the
    transaction that signed it (``seq + 1`` when it signed no new record). They are
    signed only when present, so older checkpoints keep verifying.
    """

    seq: int
    hash: str
    at: str
    public_key: str
    signature: str
    every_records: int | None = None
    every_seconds: float | None = None
    batch_from: int | None = None
    link_from: int | None = None
    link: str | None = None
    link_signature: str | None = None

    @property
    def schedule(self) -> Schedule | None:
        """The signed schedule, or None for a checkpoint written before schedules."""
        if self.every_records is None or self.every_seconds is None:
            return None
        return Schedule(self.every_records, self.every_seconds)

    def _content(self) -> dict[str, object]:
        content: dict[str, object] = {"at": self.at, "hash": self.hash, "seq": self.seq}
        for name in ("every_records", "every_seconds", "batch_from"):
            value = getattr(self, name)
            if value is not None:
                content[name] = value
        return content

    def payload(self) -> bytes:
        """The bytes the signature covers."""
        return canonical(self._content()).encode()

    def link_payload(self) -> bytes:
        """The bytes the link signature covers: the payload's fields plus ``link`` and
        ``link_from`` (keys the payload never has, so neither signature stands for
        the other). Empty for a checkpoint without a link."""
        if self.link is None or self.link_from is None:
            return b""
        return canonical({**self._content(), "link": self.link,
                          "link_from": self.link_from}).encode()

    def is_valid(self) -> bool:
        """Whether the signature, and the link signature when there is a link, are good
        for the embedded public key."""
        try:
            key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))
            key.verify(bytes.fromhex(self.signature), self.payload())
            if self.link is not None or self.link_signature is not None:
                key.verify(bytes.fromhex(self.link_signature or ""), self.link_payload())
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_json(self) -> str:
        """The exported form (one JSON object), to be kept away from the store."""
        fields = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps({"format": "congvu-audit-checkpoint/1", **fields}, indent=2)

    @classmethod
    def from_json(cls, text: str, *, source: str = "checkpoint") -> Checkpoint:
        """Read an exported checkpoint.

        :raises AuditError: not a checkpoint file.
        """
        try:
            data = json.loads(text)
            if data.pop("format") != "congvu-audit-checkpoint/1":
                raise ValueError("unknown format")
            records, seconds, batch, link_from = (
                data.get(k) for k in ("every_records", "every_seconds", "batch_from",
                                      "link_from"))
            link, link_signature = data.get("link"), data.get("link_signature")
            return cls(
                seq=int(data["seq"]), hash=str(data["hash"]), at=str(data["at"]),
                public_key=str(data["public_key"]), signature=str(data["signature"]),
                every_records=None if records is None else int(records),
                every_seconds=None if seconds is None else float(seconds),
                batch_from=None if batch is None else int(batch),
                link_from=None if link_from is None else int(link_from),
                link=None if link is None else str(link),
                link_signature=None if link_signature is None else str(link_signature),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AuditError(f"{source} is not a congvu audit checkpoint: {exc}") from exc


class CheckpointSigner:
    """Signs chain heads with the audit checkpoint key."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_key = raw.hex()

    def sign(self, seq: int, head: str, at: str, *, schedule: Schedule | None = None,
             batch_from: int | None = None,
             link: tuple[int, str] | None = None) -> Checkpoint:
        """Sign the head ``head`` of the chain at ``seq``, with the schedule in force and
        the first record of this transaction (``seq + 1`` when it wrote none), and,
        given ``link`` (``link_from``, :func:`link_of` the row hashes after it up to
        ``seq``), sign that too."""
        unsigned = Checkpoint(
            seq=seq, hash=head, at=at, public_key=self.public_key, signature="",
            every_records=schedule.every_records if schedule else None,
            every_seconds=schedule.every_seconds if schedule else None,
            batch_from=batch_from,
            link_from=link[0] if link else None, link=link[1] if link else None,
        )
        signature = self._key.sign(unsigned.payload()).hex()
        link_signature = self._key.sign(unsigned.link_payload()).hex() if link else None
        return replace(unsigned, signature=signature, link_signature=link_signature)

    def sign_bytes(self, data: bytes) -> str:
        """An Ed25519 signature (hex) over ``data`` (a backup's manifest)."""
        return self._key.sign(data).hex()

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> CheckpointSigner:
        """Load ``keys_dir/audit-checkpoint.key``, generating it (0600) if absent.

        :raises KeyFileError: the file is refused by :func:`mailbase.read_secret`
            (open to group or others, another owner, a directory others can write),
            unreadable, or not an Ed25519 private key.
        """
        path = keys_dir / KEY_FILE
        try:
            private_dir(keys_dir, tighten=False)  # an open one is refused below, not fixed
            if not path.exists():
                key = Ed25519PrivateKey.generate()
                pem = key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                # Written aside then linked into place, so that another worker never
                # reads a half-written key.
                tmp = keys_dir / f".{KEY_FILE}.{os.getpid()}.tmp"
                tmp.unlink(missing_ok=True)  # left by a crashed process of this pid
                fd = create_private(tmp)
                with os.fdopen(fd, "wb") as out:
                    out.write(pem)
                    out.flush()
                    os.fsync(out.fileno())
                try:
                    os.link(tmp, path)
                finally:
                    tmp.unlink()
                return cls(key)
            loaded = serialization.load_pem_private_key(read_secret(path), password=None)
        except UnsafeFileError as exc:
            raise KeyFileError(path, exc.reason) from exc
        except FileExistsError:
            # Another worker created it between our check and our open: load theirs.
            return cls.load_or_create(keys_dir)
        except OSError as exc:
            raise KeyFileError(path, f"cannot be read or created: {exc.strerror}") from exc
        except (ValueError, TypeError) as exc:
            raise KeyFileError(path, f"is not a PEM private key: {exc}") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise KeyFileError(path, "is not an Ed25519 key")
        return cls(loaded)
