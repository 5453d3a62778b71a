"""The archive's encryption key (optional): AES-256-GCM, kept under the data directory.

With ``[archive] encrypt = true`` every message stored from then on is encrypted with
the key in ``key_file`` (generated on first use, mode 0600 in a 0700 directory, read
only through :func:`mailbase.read_secret`'s checks). The key protects the archive on a
disk or a backup that leaves the server; whoever holds the key and the files reads the
mail, and without the key nobody does, the province included: keep a copy of it apart
from the data (offline), as for the audit checkpoint key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from archive.errors import ArchiveError
from mailbase import (
    UnsafeFileError,
    create_private,
    private_dir,
    read_secret,
    write_private_durably,
)

_HEADER = b"congvu-archive-key/1 "
_RETIRED = re.compile(r"^-([0-9a-f]{16})$")


def key_id(key: bytes) -> str:
    """A key's id (16 hex digits), written before each object it seals: its reader
    finds the key without trying them all, and the id says nothing of the key."""
    return hashlib.sha256(b"congvu-archive-key-id\0" + key).hexdigest()[:16]


def retired_key_paths(path: Path) -> list[Path]:
    """The keys rotation retired beside ``path`` (``archive-<id>.key`` for
    ``archive.key``), oldest name first."""
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.glob(f"{path.stem}-*{path.suffix}")
                  if _RETIRED.match(p.name[len(path.stem):len(p.name) - len(path.suffix)]))


def load_retired(path: Path) -> list[bytes]:
    """The retired keys beside ``path``: objects they sealed stay readable.

    :raises ArchiveError: one is refused, unreadable or not an archive key.
    """
    return [load_key(retired, create=False) for retired in retired_key_paths(path)]


def rotate(path: Path, record: Callable[[str, str], object] | None = None
           ) -> tuple[str, str]:
    """Retire the key in ``path`` and put a new one in its place; return both ids.

    ``record`` is given the retired key's id and the new one's once the new key is made
    and before any file is written: the rotation's chained event comes first, as a
    prune's does, and when it cannot be written (it raises) nothing is rotated. The old
    key is then written durably beside it (``archive-<id>.key``) before the new one
    replaces it, so no moment after a crash lacks a key that sealed something.

    :raises ArchiveError: there is no key to rotate, or a file cannot be written.
    """
    old = load_key(path, create=False)
    retired = path.with_name(f"{path.stem}-{key_id(old)}{path.suffix}")
    new = secrets.token_bytes(32)
    if record is not None:
        record(key_id(old), key_id(new))
    try:
        write_private_durably(retired, read_secret(path))
        write_private_durably(path, _HEADER + base64.b64encode(new) + b"\n")
    except (OSError, UnsafeFileError) as exc:
        raise ArchiveError(
            f"archive key {path}: cannot be rotated: {exc}"
            + ("; the audit log records the rotation to key "
               f"{key_id(new)}, but the key in use is still {key_id(old)}"
               if record is not None else "")) from exc
    return key_id(old), key_id(new)


def load_key(path: Path, *, create: bool) -> bytes:
    """The 32-byte key in ``path``; with ``create``, generated there when absent.

    :raises ArchiveError: the file is missing (without ``create``), refused by
        :func:`mailbase.read_secret` (open to others, another owner...), unreadable,
        or not an archive key.
    """
    if not create and not path.exists():
        raise ArchiveError(f"archive key {path}: no such file (the filter creates it when "
                           "it first starts with encrypt = true)")
    try:
        if create and not path.exists():
            _generate(path)
        text = read_secret(path)
    except UnsafeFileError as exc:
        raise ArchiveError(f"archive key {path}: {exc.reason}") from exc
    except OSError as exc:
        raise ArchiveError(f"archive key {path}: cannot be read or created: "
                           f"{exc.strerror or exc}") from exc
    try:
        if not text.startswith(_HEADER):
            raise ValueError("no congvu-archive-key/1 header")
        key = base64.b64decode(text[len(_HEADER):].strip(), validate=True)
        if len(key) != 32:
            raise ValueError(f"{len(key)} bytes, not 32")
    except (ValueError, binascii.Error) as exc:
        raise ArchiveError(f"archive key {path}: not an archive key ({exc})") from exc
    return key


def _generate(path: Path) -> None:
    """Write a new key aside, then link it into place: another worker never reads half
    a key, and one made at the same moment by another process wins."""
    private_dir(path.parent, tighten=False)  # an open one is refused by read_secret
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_HEADER + base64.b64encode(secrets.token_bytes(32)) + b"\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key won
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
