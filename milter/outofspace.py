"""Whether a store's error is a full disk: what ``serve`` waits out at start
(milter/spacewait.py) and what the filter answers 451 4.3.1 for while running.

RFC 3463's 4.3.1 ("mail system storage has been exceeded") tells the sending side, and
whoever reads its queue, that the cause is space, not a fault of the filter (4.3.0).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from milter.replies import R451_NO_SPACE, Reply

_NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# SQLite's primary result codes (the low byte of the extended one)
_SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 13, 14
# PostgreSQL's SQLSTATE disk_full: the database server's own disk
_PG_DISK_FULL = "53100"


def has_no_room(path: Path, room: int) -> bool:
    """Whether the file system holding ``path`` (or its nearest existing parent) has
    less than ``room`` bytes left for this user, or no inode: doctor's "the disk is
    full" (``check_disk_space``, with ``limits.max_message_size`` as the room)."""
    target = next((p for p in (path, *path.parents) if p.exists()), None)
    if target is None:
        return False
    space = os.statvfs(target)
    return space.f_bavail * space.f_frsize < room or bool(space.f_files and not space.f_favail)


def is_out_of_space(error: BaseException, path: Path | None = None, room: int = 0) -> bool:
    """Whether ``error``, met writing, opening or creating the store at ``path``, is a
    full disk.

    Yes when anything in its chain of causes says so: the kernel's ENOSPC or EDQUOT,
    SQLite's "database or disk is full", or PostgreSQL's disk_full (its server's disk).
    Also when SQLite only says "disk I/O error" or "unable to open database file" (what
    it says growing its -shm file on a full file system, or creating its -wal file with
    no inode left) and the store's file system indeed has no room (:func:`has_no_room`;
    only when ``path`` is given). Anything else (a permission, a missing directory, a
    damaged file, a database that is down) is not.
    """
    storage_error = False
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in _NO_SPACE_ERRNOS:
            return True
        if isinstance(cause, sqlite3.Error):
            primary = getattr(cause, "sqlite_errorcode", 0) & 0xFF
            if primary == _SQLITE_FULL:
                return True
            storage_error |= primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN)
        if getattr(cause, "sqlstate", None) == _PG_DISK_FULL:
            return True
        cause = cause.__cause__ or cause.__context__
    return storage_error and path is not None and has_no_room(path, room)


def store_failure_reply(error: BaseException, usual: Reply) -> Reply:
    """The 451 for a message whose record or archive copy could not be written:
    ``R451_NO_SPACE`` (4.3.1) when the cause is a full disk, else ``usual`` (4.3.0)."""
    return R451_NO_SPACE if is_out_of_space(error) else usual
