"""Switch an SQLite file to write-ahead logging when several processes may open it at once.

While one connection switches a new file to WAL mode, another one's ``PRAGMA
journal_mode=WAL`` can fail at once with "database is locked", without waiting for the
busy timeout (about one opening in four when two processes open a new store together,
measured here). Two filters starting beside one Postfix, or a command run while the
filter starts, would then refuse to start. This waits for the other process, as the busy
timeout would have, and then finds the file already in WAL mode.
"""

from __future__ import annotations

import sqlite3
import time

#: the first pause after "locked"; it doubles up to the longest
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05


def use_wal(conn: sqlite3.Connection, *, wait_seconds: float) -> str:
    """Put the connection's file in WAL mode, waiting up to ``wait_seconds`` while
    another process holds the lock; return the journal mode SQLite reports (``memory``
    for an in-memory database, which cannot use WAL).

    :raises sqlite3.OperationalError: still locked after ``wait_seconds``, or any
        other error of the database.
    """
    deadline = time.monotonic() + wait_seconds
    pause = _FIRST_PAUSE
    while True:
        try:
            row = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return str(row[0]).lower()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)
