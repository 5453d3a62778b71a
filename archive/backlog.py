"""The filter's text index written after the reply, in large batches, none lost to a crash.

An FTS5 transaction costs a message less the more messages it holds (the race's letter,
its commit synced: 0.7 ms of CPU alone, 0.2-0.25 ms in a transaction of 64 or more),
and the archive's group commit batches only the messages that arrive while one syncs.
So the filter's archive (:meth:`archive.store.Archive.index_later`) hands the words
of each batch it made durable to a thread of its process, which indexes them together
once :data:`BATCH` are waiting or the first has waited :data:`DELAY` seconds: the reply
no longer waits for the index, and the console's search finds a message a few seconds
after it is archived (until then it counts it as waiting to be indexed).

None is lost to a crash: each batch also writes the names of its messages to a journal
of the process (``index-pending/<pid>.<8 hex>.names``, 0600), synced with the batch's
own files, so a name is as durable as its message. A journal is removed once every
message it names is indexed, the index's commits being synced. The process holds an
``flock`` on each of its journals, so one nobody holds is a stopped process's: when the
filter opens the archive, when a process's indexing thread starts, and when ``congvu
archive index rebuild`` runs, the messages such journals name that are stored and not
indexed are read from the archive and indexed, and the journals removed (with those
a stopped process left half made, ``<pid>.<8 hex>.new``). A journal
that cannot be written or synced refuses no mail: its messages are indexed all the
same, and a crash before then leaves them to the rebuild (logged).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from archive.errors import ArchiveError
from archive.index import TextIndex
from mailbase import private_dir, sync_directory
from mailbase.private_files import create_private

log = logging.getLogger("congvu.archive")

#: the journals' directory, beside ``objects/``
DIRECTORY = "index-pending"
#: messages waiting that start a transaction at once
BATCH = 256
#: seconds the first message waiting waits at most
DELAY = 2.0
#: messages indexed in one transaction at most
MOST = 1024
_JOURNAL = re.compile(r"^[0-9]+\.[0-9a-f]{8}\.names$")
#: a journal being made (:meth:`IndexBacklog._open`), its maker's pid first
_MADE = re.compile(r"^([0-9]+)\.[0-9a-f]{8}\.new$")
_NAME = re.compile(rb"^[0-9a-f]{64}$")


@dataclass(eq=False, slots=True)
class Journal:
    """One journal of this process: open (and locked) until its messages are indexed."""

    path: Path
    fd: int
    #: names written to it whose messages are not yet indexed
    waiting: int = 0
    #: no more names go into it
    sealed: bool = False

    def sync(self) -> None:
        """fdatasync it, with the batch's files; a failure refuses no mail (logged)."""
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            log.error("archive-index-failed: the journal %s could not be synced (%s): a "
                      "crash before its messages are indexed leaves them to `congvu archive "
                      "index rebuild`", self.path, exc.strerror or exc)


class IndexBacklog:
    """The messages of one archive stored and not yet indexed, and the thread that
    indexes them. The thread, the journals and the queue are each process's: the filter
    builds its archive, then forks its workers, and a forked child starts afresh the
    moment it is forked (:func:`_forked`), whichever of its methods it calls first."""

    def __init__(self, directory: Path, index: TextIndex,
                 recover: Callable[[list[str]], None], *, batch: int = BATCH,
                 delay: float = DELAY) -> None:
        self.directory = directory
        self.index = index
        #: indexes the named messages that are stored and not indexed (a stopped
        #: process's journal)
        self._recover = recover
        self.batch = batch
        self.delay = delay
        self._cond = threading.Condition()
        #: held while a batch taken is being indexed: flush waits for the thread's
        self._indexing = threading.Lock()
        self._rows: list[tuple[str, str, Journal | None]] = []
        self._first_at = 0.0
        self._journal: Journal | None = None
        #: every journal of this process still open
        self._held: list[Journal] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        _BACKLOGS.add(self)

    def _afresh(self) -> None:
        """Start afresh in a forked child: what the parent held is the parent's (its
        thread is not in the child, its locks may have been held at the fork, its rows
        are its thread's to index). The journals' descriptors the child inherited are
        closed, or the child would keep the parent's locks on them past the parent."""
        for journal in self._held:
            with contextlib.suppress(OSError):
                os.close(journal.fd)
        self._cond = threading.Condition()
        self._indexing = threading.Lock()
        self._rows, self._journal, self._thread, self._closed = [], None, None, False
        self._held = []

    def note(self, names: Sequence[str]) -> Journal | None:
        """Write ``names`` (a batch's, before it syncs) to this process's journal and
        return it, for the batch to sync; None when it cannot be written (logged)."""
        with self._cond:
            try:
                if self._journal is None or self._journal.sealed:
                    self._journal = self._open()
                journal = self._journal
                data = "".join(f"{name}\n" for name in names).encode("ascii")
                while data:
                    data = data[os.write(journal.fd, data):]
            except OSError as exc:
                log.error("archive-index-failed: %d message(s) not written to the index's "
                          "journal in %s (%s): a crash before they are indexed leaves them "
                          "to `congvu archive index rebuild`", len(names), self.directory,
                          exc.strerror or exc)
                return None
            journal.waiting += len(names)
            return journal

    def _open(self) -> Journal:
        """A new journal, locked, its name synced (its names are as durable as it).

        :raises OSError: it cannot be made.
        """
        private_dir(self.directory)
        path = self.directory / f"{os.getpid()}.{secrets.token_hex(4)}.names"
        # made under a name no catch-up reads, and given its own once locked: found
        # unlocked, it would be taken for a stopped process's and removed. Linked, not
        # renamed: a journal already under that name is refused, never replaced.
        made = path.with_suffix(".new")
        fd = create_private(made)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.link(made, path)
            finally:
                made.unlink(missing_ok=True)
            try:
                sync_directory(self.directory)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        except BaseException:
            os.close(fd)
            raise
        journal = Journal(path, fd)
        self._held.append(journal)
        return journal

    def queue(self, journal: Journal | None, rows: Sequence[tuple[str, str]]) -> None:
        """Hand the thread the (SHA-256, words) of a batch just made durable."""
        if not rows:
            return
        with self._cond:
            if not self._rows:
                self._first_at = time.monotonic()
            self._rows.extend((name, words, journal) for name, words in rows)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="congvu-archive-index")
                self._thread.start()
            if len(self._rows) == len(rows) or len(self._rows) >= self.batch:
                self._cond.notify()

    def forget(self, journal: Journal | None, count: int) -> None:
        """``count`` names of ``journal`` belong to a batch that failed: none to wait for."""
        if journal is not None:
            with self._cond:
                journal.waiting -= count
                self._drop_if_done(journal)

    def flush(self) -> None:
        """Index every message queued so far, the thread's batch under way included."""
        while self._take_and_index():  # at most MOST a transaction
            pass

    def close(self) -> None:
        """Index what is queued, stop the thread and remove the journals done with;
        those whose messages could not be indexed are let go of, for the next start."""
        with self._cond:
            self._closed = True
            thread = self._thread
            self._cond.notify()
        if thread is not None:
            thread.join()
        self._take_and_index()
        with self._cond:
            self._seal()
            for journal in self._held:
                os.close(journal.fd)
            self._held = []
            # a batch stored after this starts a thread again
            self._thread, self._closed = None, False

    def _run(self) -> None:
        try:
            self.catch_up()
        except (ArchiveError, OSError) as exc:
            log_catch_up_failure(exc)
        while True:
            with self._cond:
                while not self._is_due():
                    if self._closed and not self._rows:
                        self.index.close()
                        return
                    self._cond.wait(max(0.0, self._first_at + self.delay - time.monotonic())
                                    if self._rows else None)
            self._take_and_index()

    def _is_due(self) -> bool:
        return bool(self._rows) and (
            self._closed or len(self._rows) >= self.batch
            or time.monotonic() >= self._first_at + self.delay)

    def _take_and_index(self) -> bool:
        """Index up to :data:`MOST` of the messages queued; whether there were any."""
        with self._indexing:
            with self._cond:
                taken, self._rows = self._rows[:MOST], self._rows[MOST:]
                self._first_at = time.monotonic()
                self._seal()  # the batches from now on write a new journal
            if not taken:
                return False
            try:
                self.index.add(list({name: (name, words) for name, words, _ in taken}
                                    .values()))
            except ArchiveError as exc:
                # their journals stay: the next start of the filter indexes them
                log.error("archive-index-failed: %d message(s) archived but not indexed: "
                          "indexed when the filter next starts, or by `congvu archive index "
                          "rebuild`; the search counts them as waiting: %s", len(taken), exc)
                return True
            with self._cond:
                for _, _, journal in taken:
                    if journal is not None:
                        journal.waiting -= 1
                for journal in {j for _, _, j in taken if j is not None}:
                    self._drop_if_done(journal)
            return True

    def _seal(self) -> None:
        if self._journal is not None:
            self._journal.sealed = True
            self._drop_if_done(self._journal)
            self._journal = None

    def _drop_if_done(self, journal: Journal) -> None:
        """Remove a sealed journal whose messages are all indexed, then let go of its
        lock (with its descriptor): a journal unlocked and still there is taken for a
        stopped process's. Left unsynced: a crash that undoes it leaves names indexed."""
        if journal.sealed and journal.waiting == 0 and journal in self._held:
            self._held.remove(journal)
            try:
                journal.path.unlink()
            except OSError as exc:
                log.warning("archive: the index's journal %s could not be removed (%s); "
                            "the next start reads it again", journal.path,
                            exc.strerror or exc)
            finally:
                os.close(journal.fd)

    def catch_up(self) -> int:
        """Index what the journals of stopped processes name (those no process holds),
        then remove them, and the journals a crash left half made; returns how many
        journals were indexed.

        :raises ArchiveError: the index cannot be read or written (the journal stays).
        """
        done = 0
        for path, fd in self._stopped():
            try:
                with os.fdopen(os.dup(fd), "rb") as handle:
                    names = [line.strip() for line in handle]
                # a line a crash cut short names nothing
                self._recover(list(dict.fromkeys(
                    n.decode("ascii") for n in names if _NAME.match(n))))
                path.unlink(missing_ok=True)
                done += 1
            finally:
                os.close(fd)
        if done:
            log.warning("archive: indexed what %d journal(s) of stopped processes in %s "
                        "named as waiting for the index", done, self.directory)
        self._sweep_made()
        return done

    def _sweep_made(self) -> None:
        """Remove the journals a crash left between their making and their name
        (``<pid>.<8 hex>.new``: empty, or a second name of a journal read under its
        own). Only a stopped process's (a running one makes each journal under such a
        name, unlocked for a moment), and only one nobody holds (a child it forked
        may)."""
        if not self.directory.is_dir():
            return
        removed = 0
        for entry in os.scandir(self.directory):
            made = _MADE.match(entry.name)
            if (made is None or _is_running(int(made.group(1)))
                    or (fd := _unheld(entry.path)) is None):
                continue
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:  # another process's sweep took it
                continue
            finally:
                os.close(fd)
        if removed:
            log.warning("archive: removed %d half-made journal(s) of the index that "
                        "stopped processes left in %s", removed, self.directory)

    def _stopped(self) -> Iterator[tuple[Path, int]]:
        """Each journal no process holds, locked (descriptor open) as it is yielded."""
        if not self.directory.is_dir():
            return
        for entry in sorted(os.scandir(self.directory), key=lambda e: e.name):
            if _JOURNAL.match(entry.name) and (fd := _unheld(entry.path)) is not None:
                yield Path(entry.path), fd


#: every backlog of this process (weakly), for :func:`_forked`
_BACKLOGS: weakref.WeakSet[IndexBacklog] = weakref.WeakSet()


def _forked() -> None:
    """In a child just forked (one thread, nothing called yet), every backlog afresh."""
    for backlog in list(_BACKLOGS):
        backlog._afresh()


os.register_at_fork(after_in_child=_forked)


def _unheld(path: str) -> int | None:
    """``path`` opened and locked when it is there and nobody holds it: its descriptor
    (closing it lets go of the lock). None when another process's catch-up took it, or
    a running process holds it (its thread indexes what it names)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _is_running(pid: int) -> bool:
    """Whether a process ``pid`` runs (another user's too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:  # no such pid
        return False
    return True


def log_catch_up_failure(exc: Exception) -> None:
    """The one line said when the messages a stopped process left could not be indexed."""
    log.error("archive-index-failed: the messages a stopped process left to index were "
              "not indexed (they are when the filter next starts, or by `congvu archive "
              "index rebuild`): %s", exc)


def waiting(directory: Path) -> set[str]:
    """The names every journal in ``directory`` holds: messages archived and perhaps
    not yet indexed (the console tells them from those the index lacks for good)."""
    names: set[str] = set()
    if not directory.is_dir():
        return names
    for entry in os.scandir(directory):
        if _JOURNAL.match(entry.name):
            try:
                with open(entry.path, "rb") as handle:
                    names.update(n.strip().decode("ascii") for n in handle
                                 if _NAME.match(n.strip()))
            except FileNotFoundError:  # indexed and removed meanwhile
                continue
    return names
