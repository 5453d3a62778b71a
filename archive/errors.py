"""archive/'s exceptions: one root, :class:`ArchiveError`.

::

    ArchiveError                  the archive could not do the job
    ├── ArchiveWriteError         a message could not be stored (milter answers 451)
    └── ArchiveReadError          a stored message is missing, unreadable or changed
"""

from __future__ import annotations

from pathlib import Path

#: what to check when a directory archive refuses a write
ON_DISK = ("check that the directory exists, is writable by congvu and its file system "
           "has room")
#: what a PostgreSQL archive refusing a write means for the message (the database's
#: failure, explained, comes before)
IN_POSTGRESQL = "the message is answered 451 and relayed nowhere; its sender retries"


class ArchiveError(Exception):
    """The archive could not do the job; the message names the path and what to do."""


class ArchiveWriteError(ArchiveError):
    """A message could not be stored durably: the client is answered 451 and retries."""

    def __init__(self, root: Path | str, reason: str, *, check: str = ON_DISK) -> None:
        super().__init__(f"archive {root}: could not store a message: {reason} ({check})")
        self.root = root
        self.reason = reason


class ArchiveReadError(ArchiveError):
    """A stored message cannot be handed out as archived: ``problem`` is ``missing``,
    ``unreadable`` or ``changed`` (its bytes hash to another value than its name)."""

    def __init__(self, sha256: str, path: Path | str, problem: str, detail: str = "", *,
                 found: str | None = None) -> None:
        super().__init__(f"archived message {sha256} ({path}): {problem}"
                         + (f": {detail}" if detail else ""))
        self.sha256 = sha256
        self.path = path
        self.problem = problem
        self.detail = detail
        #: for a changed message, the SHA-256 its bytes have instead
        self.found = found
