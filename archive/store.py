"""The archive on a directory: each message stored once, named by its SHA-256, zstd.
(archive/pgstore.py keeps the same objects in PostgreSQL, for several mail servers.)

``<root>/objects/ab/<sha256>.eml.zst`` holds the message whose bytes, as relayed,
hash to ``<sha256>`` (``ab`` its first two hex digits; the 256 directories are made when
the archive is opened, so storing a message never waits on making one: ten million
messages are some 40,000 a directory, which ext4's and XFS's hashed directories take in
their stride). A message is written aside, synced, renamed into place and its name
synced before :meth:`Archive.put` or :meth:`Archive.put_many` returns (put_many syncs a
whole batch's files at once, then their directories), so once the audit record naming
it commits, both survive a power loss. Files are 0600,
directories 0700, whatever the umask (mailbase's private-file rules): they hold the
content of official mail.

Reads hand out only bytes that hash to the name they were asked by: a changed object
is an :class:`~archive.errors.ArchiveReadError`, never a silently different message.

Storing and pruning share ``<root>/lock`` (``flock``). A message whose bytes are stored
already is not written again, so a prune that read the records before that message's
record committed could remove the bytes it is about to name. :meth:`Archive.put` holds
the lock shared from its look at the object to its write, or to its touch of the
object's time when it is there already; :meth:`Archive.remove_unused` takes it
exclusively, a batch at a time, and leaves every object stored or touched since
:data:`IN_FLIGHT` before the prune read the records (git's grace period for loose
objects, for the same reason). The record commits after the stage returns (the reply
waits for it), well within that day.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import logging
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from pathlib import Path

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archive.backlog import (
    BATCH,
    DELAY,
    DIRECTORY,
    IndexBacklog,
    Journal,
    log_catch_up_failure,
    waiting,
)
from archive.config import ArchiveConfig
from archive.errors import ArchiveError, ArchiveReadError, ArchiveWriteError
from archive.index import SqliteTextIndex, TextIndex, TextReader, chunks, words_of
from archive.keys import key_id, load_key, load_retired
from archive.parts import DEDUPLICATED, Run, header, manifest, rebuild, runs, split
from mailbase import private_dir, sync_directory, write_private_durably
from mailbase.private_files import create_private

log = logging.getLogger("congvu.archive")

SUFFIX = ".eml.zst"
PART_SUFFIX = ".part.zst"
# An encrypted object: this magic, a 12-byte nonce, then AES-256-GCM over the zstd frame
# with the message's name as associated data (an object moved under another name does
# not decrypt). A plain object starts with zstd's own magic, 28 b5 2f fd.
_SEALED = b"CVAE\x01"
# Since keys rotate: this magic, the sealing key's id (8 bytes, archive/keys.py), then as
# above. Objects sealed before carry no id and are tried with every key.
_SEALED_BY = b"CVAE\x02"
_KEY_ID = 8
_NONCE = 12
_NAME = re.compile(r"^[0-9a-f]{64}$")
# A stored message is at most what the filter accepts; this only bounds what a damaged
# frame header may make the reader allocate.
_MAX_MESSAGE = 1 << 31
#: an object stored or found stored this long before a prune read the records is left
#: for a later prune: its message's record may not have committed when they were read
IN_FLIGHT = 24 * 3600.0
#: objects removed under one exclusive hold of the lock (messages wait meanwhile)
_BATCH = 256
# A temporary file of ours (``tmp/<sha256>.<8 hex>.tmp``) this old is a crash's
# leftover: no write takes minutes.
_STALE_TMP = 30 * 60.0
_TMP_NAME = re.compile(r"^[0-9a-f]{64}\.[0-9a-f]{8}\.tmp$")
#: the text index's file, beside ``objects/``
INDEX_NAME = "index.sqlite3"


class Removal(Enum):
    """What :meth:`Archive.remove_unused` did with one object."""

    REMOVED = "removed"
    #: stored or found stored for a message since the prune's records were read
    IN_USE = "in use"
    ABSENT = "absent"


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a SHA-256 as the archive names messages (64 lower-case hex)."""
    return bool(_NAME.match(text))


@dataclass(frozen=True, slots=True)
class Stored:
    """One message just stored: its name, and the bytes it takes on disk."""

    sha256: str
    size: int
    stored_size: int
    is_new: bool


@dataclass(slots=True)
class Reindexed:
    """What :meth:`Archive.reindex` did: messages indexed now, found indexed
    already, that could not be read, and rows removed of messages no longer stored."""

    added: int = 0
    present: int = 0
    unreadable: int = 0
    removed: int = 0


@dataclass(frozen=True, slots=True)
class Prepared:
    """A message ready to be stored: the CPU of storing it, done before its batch (the
    filter does it in a thread of its own, so a batch waits only for the disk): its
    SHA-256, the large parts found in it and their names, the object as it is written
    unless stored already (zstd, sealed when encrypting), and the words the index keeps
    of it (None: not indexed)."""

    data: bytes
    sha256: str
    runs: list[Run]
    names: list[str]
    stored_form: bytes
    words: str | None


@dataclass(slots=True)
class _Aside:
    """A file written aside for a batch: open until the batch has synced it."""

    fd: int
    tmp: Path
    path: Path


@dataclass(slots=True)
class _Batch:
    """What one :meth:`Archive.put_many` wrote aside and must make durable."""

    aside: list[_Aside] = field(default_factory=list)
    stored: dict[str, Stored] = field(default_factory=dict)
    parts: set[str] = field(default_factory=set)
    #: objects and parts found stored and touched: their time and name are synced too
    touched: set[Path] = field(default_factory=set)
    #: the journal naming the batch's messages for the index (archive/backlog.py)
    journal: Journal | None = None

    def commit(self) -> None:
        """Sync the bytes written aside, rename them into place, sync the directories
        naming them (and the objects touched). Only the files and directories of the
        batch are synced, not the file system: the mail queue, the audit log and
        whatever else shares it are not waited for.

        Every file's writing is started before the first is synced, so the file
        system allocates them all in its running journal transaction: the first sync
        commits it for every file, and each later sync finds its file's commit done
        (ext4 and XFS track it by inode), as the renames share the first directory
        sync's commit. One thread does it all: each sync is still a sync of its own
        file, durable on any file system, without a thread handed each file.

        :raises OSError: a sync or a rename failed.
        """
        for written in self.aside:
            _start_writing(written.fd)
        if self.journal is not None:
            _start_writing(self.journal.fd)
        for written in self.aside:
            os.fdatasync(written.fd)
        if self.journal is not None:
            self.journal.sync()  # refuses no mail when it fails
        for path in self.touched:
            _sync_file(path)
        renamed: set[Path] = set()
        while self.aside:
            written = self.aside[0]
            os.replace(written.tmp, written.path)  # a failure: discard() removes the rest
            self.aside.pop(0)
            os.close(written.fd)
            renamed.add(written.path.parent)
        for directory in renamed | {path.parent for path in self.touched}:
            sync_directory(directory)

    def discard(self) -> None:
        """Remove what was written aside and not renamed into place."""
        for written in self.aside:
            os.close(written.fd)
            written.tmp.unlink(missing_ok=True)
        self.aside.clear()


def _start_writing(fd: int) -> None:
    """Have the kernel start writing ``fd``'s dirty pages, without waiting (Linux starts
    writeback on POSIX_FADV_DONTNEED; elsewhere it is a hint that changes nothing
    durable). A failure here is the sync's to report."""
    with suppress(OSError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _sync_file(path: Path) -> None:
    """fsync a file (its time too, which a prune reads)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Archive:
    """The messages kept under ``root``; safe to share between threads."""

    def __init__(self, root: Path, *, level: int = 3, key: bytes | None = None,
                 is_encrypting: bool | None = None, retired: Sequence[bytes] = (),
                 index: TextIndex | None = None, reader: TextReader | None = None) -> None:
        self.root = root
        #: the words of the messages, for the search (archive/index.py); None: no index
        self.index = index
        #: what reads a message's text as it is stored; None: nothing is indexed on
        #: storing (the commands that only read)
        self.reader = reader
        self.objects = root / "objects"
        #: where objects are written before they are renamed into place (one directory
        #: to sweep after a crash, not 256 large ones)
        self.tmp = root / "tmp"
        #: large parts stored once across messages (archive/parts.py)
        self.parts = root / "parts"
        self.lock_path = root / "lock"
        self.level = level
        #: reads encrypted objects; with ``is_encrypting`` (the default when a key is
        #: given) new objects are encrypted too
        self._aead = AESGCM(key) if key is not None else None
        self._key_id = bytes.fromhex(key_id(key)) if key is not None else b""
        #: every key that reads: the current one first, then those rotation retired
        self._keys = {bytes.fromhex(key_id(k)): AESGCM(k)
                      for k in ([key] if key is not None else []) + list(retired)}
        self.is_encrypting = key is not None if is_encrypting is None else is_encrypting
        if self.is_encrypting and key is None:
            raise ValueError("encrypting needs a key")
        self._local = threading.local()  # zstd contexts are not shared between threads
        #: with :meth:`index_later`, the messages stored and not yet indexed
        self._backlog: IndexBacklog | None = None

    @classmethod
    def from_config(cls, config: ArchiveConfig, *, create: bool,
                    reader: TextReader | None = None) -> Archive:
        """The archive ``config`` names (its directory, or with ``url`` the
        :class:`~archive.pgstore.PgArchive` in PostgreSQL), with its key when it
        encrypts; with ``create`` (the filter) its directories (or tables) and key are
        made when missing, without (the commands) nothing is written. The key is also
        read when one exists while ``encrypt`` is off, so messages stored encrypted
        stay readable. With the index on (``[archive] index``), the archive has its
        :attr:`index`, and ``reader`` indexes each message stored.

        :raises ArchiveError: the directories, the tables or the key cannot be made or
            read, or the database cannot be reached.
        """
        key = None
        if config.encrypt or config.key_file.exists():
            key = load_key(config.key_file, create=create and config.encrypt)
        if config.url is not None:
            from archive.pgstore import PgArchive  # it builds on this module

            return PgArchive.connect(config.url, config.password(), create=create,
                                     level=config.compression_level, key=key,
                                     is_encrypting=config.encrypt,
                                     retired=load_retired(config.key_file),
                                     is_indexed=config.is_indexed, reader=reader)
        make = cls.open if create else cls
        index = SqliteTextIndex(config.path / INDEX_NAME) if config.is_indexed else None
        return make(config.path, level=config.compression_level, key=key,
                    is_encrypting=config.encrypt, retired=load_retired(config.key_file),
                    index=index, reader=reader)

    @classmethod
    def open(cls, root: Path, *, level: int = 3, key: bytes | None = None,
             is_encrypting: bool | None = None, retired: Sequence[bytes] = (),
             index: TextIndex | None = None, reader: TextReader | None = None) -> Archive:
        """The archive at ``root``, its directories (0700) and its index created when
        missing; with a ``reader``, the messages a stopped filter left to index
        (archive/backlog.py) are indexed (a failure is logged: it refuses no mail).

        :raises ArchiveWriteError: they cannot be created.
        """
        archive = cls(root, level=level, key=key, is_encrypting=is_encrypting,
                      retired=retired, index=index, reader=reader)
        try:
            private_dir(root)
            private_dir(archive.objects)
            private_dir(archive.tmp)
            os.close(_open_lock(archive.lock_path))
            archive.remove_stale_tmp()
            made = False
            for n in range(256):
                made |= _make_dir(archive.objects / f"{n:02x}")
            if made:
                sync_directory(archive.objects)
            if index is not None:
                index.create()
        except OSError as exc:
            raise ArchiveWriteError(root, exc.strerror or str(exc)) from exc
        except ArchiveError as exc:
            raise ArchiveWriteError(root, str(exc)) from exc
        if index is not None and reader is not None:
            try:
                archive.catch_up_index()
            except (ArchiveError, OSError) as exc:
                log_catch_up_failure(exc)
        return archive

    def index_later(self, *, batch: int = BATCH, delay: float = DELAY) -> None:
        """Index the messages stored from now on after their batch returns, in batches
        of their own (archive/backlog.py; the filter's archive does): none when there is
        no index or no reader."""
        if self.index is None or self.reader is None:
            return
        self._backlog = IndexBacklog(self.root / DIRECTORY, self.index,
                                     self._index_lacking, batch=batch, delay=delay)

    def flush_index(self) -> None:
        """With :meth:`index_later`, index every message stored so far now."""
        if self._backlog is not None:
            self._backlog.flush()

    def stop_indexing(self) -> None:
        """With :meth:`index_later`, index what is waiting and stop its thread."""
        if self._backlog is not None:
            self._backlog.close()

    def catch_up_index(self) -> int:
        """Index the messages the journals of stopped processes name (archive/backlog.py)
        that are stored and not indexed, and remove those journals; returns how many.

        :raises ArchiveError: the index cannot be read or written.
        :raises OSError: the journals' directory cannot be read.
        """
        if self.index is None or self.reader is None:
            return 0
        backlog = self._backlog or IndexBacklog(self.root / DIRECTORY, self.index,
                                                self._index_lacking)
        return backlog.catch_up()

    def waiting_to_index(self) -> set[str]:
        """The messages named by the index's journals: archived, and perhaps indexed
        within seconds (or at the filter's next start) rather than lacking for good."""
        return waiting(self.root / DIRECTORY)

    def _index_lacking(self, names: list[str], *, reader: TextReader | None = None) -> None:
        """Index those of ``names`` stored and not indexed, read from the archive; one
        that cannot be read is logged and left out (its journal goes all the same)."""
        assert self.index is not None
        reader = reader or self.reader
        assert reader is not None

        def unreadable(exc: ArchiveReadError) -> None:
            log.error("archive-index-failed: a message a stopped process left to index "
                      "could not be read and is not indexed (`congvu archive verify` and "
                      "`congvu archive index rebuild` name it too): %s", exc)

        for chunk in chunks(names):
            self.index.add(self._words_lacking([n for n in chunk if self.has(n)], reader,
                                               Reindexed(), unreadable))

    def _words_lacking(self, names: list[str], reader: TextReader, done: Reindexed,
                       on_unreadable: Callable[[ArchiveReadError], None] | None,
                       ) -> list[tuple[str, str]]:
        """The (name, words) of those of ``names`` the index lacks, each read from the
        archive; counted in ``done`` (present, unreadable), an unreadable one passed to
        ``on_unreadable``."""
        assert self.index is not None
        have = self.index.indexed(names)
        done.present += len(have)
        rows = []
        for name in names:
            if name in have:
                continue
            try:
                data = self.get(name)
            except ArchiveReadError as exc:
                done.unreadable += 1
                if on_unreadable is not None:
                    on_unreadable(exc)
                continue
            words = words_of(reader, data)
            if words is None:
                done.unreadable += 1
                continue
            rows.append((name, words))
        return rows

    def path_of(self, sha256: str) -> Path:
        """Where the message named ``sha256`` is (or would be) stored."""
        return self.objects / sha256[:2] / f"{sha256}{SUFFIX}"

    @property
    def where(self) -> str:
        """The archive as messages to an administrator name it."""
        return str(self.root)

    def location(self, sha256: str) -> Path | str:
        """Where the message named ``sha256`` is, as messages to an administrator say."""
        return self.path_of(sha256)

    def has(self, sha256: str) -> bool:
        """Whether an object is stored under ``sha256`` (whatever its content)."""
        return self.path_of(sha256).exists()

    def _load(self, sha256: str) -> bytes:
        """The stored bytes of the object ``sha256``.

        :raises ArchiveReadError: missing or unreadable.
        """
        return _read(sha256, self.path_of(sha256))

    def _load_part(self, name: str) -> bytes:
        """The stored bytes of the part ``name``.

        :raises ArchiveReadError: missing or unreadable.
        """
        return _read(name, self.part_path(name))

    def write_ledger(self, name: str, data: bytes) -> str:
        """Keep the ledger of a prune (archive/ledger.py) durably; say where it is.

        :raises ArchiveError: it cannot be written.
        """
        directory = self.root / "pruned"
        path = directory / name
        try:
            private_dir(directory)
            write_private_durably(path, data)
        except OSError as exc:
            raise ArchiveError(f"archive {self.root}: could not write the ledger of what "
                               f"retention removes ({path}): {exc.strerror or exc}") from exc
        return str(path)

    def ledgers(self) -> Iterator[tuple[str, bytes | str]]:
        """Every prune ledger kept, by name (sorted): its bytes, or why they cannot be
        read."""
        directory = self.root / "pruned"
        if not directory.is_dir():
            return
        for path in sorted(directory.glob("*.json")):
            try:
                yield path.name, path.read_bytes()
            except OSError as exc:
                yield path.name, exc.strerror or str(exc)

    def part_path(self, sha256: str) -> Path:
        """Where the large part whose decoded bytes are named ``sha256`` is stored."""
        return self.parts / sha256[:2] / f"{sha256}{PART_SUFFIX}"

    def part_location(self, sha256: str) -> Path | str:
        """Where the part ``sha256`` is, as messages to an administrator say."""
        return self.part_path(sha256)

    def files_of(self, sha256: str) -> list[Path]:
        """The files message ``sha256`` is stored in: its object, then its parts (read
        from the object's clear header, so without the key). Empty when it is missing.

        :raises OSError: the object cannot be read.
        """
        path = self.path_of(sha256)
        try:
            with open(path, "rb") as handle:
                start = handle.read(len(DEDUPLICATED) + 2)
                if not start.startswith(DEDUPLICATED):
                    return [path]
                names, _ = split(start + handle.read(32 * int.from_bytes(start[-2:])))
        except FileNotFoundError:
            return []
        except (ValueError, struct.error):
            return [path]  # a damaged header: get and verify say so
        return [path, *(self.part_path(name) for name in names)]

    # -- writing ----------------------------------------------------------------

    def put(self, data: bytes) -> Stored:
        """Store ``data`` durably unless it is stored already; return its name.

        :raises ArchiveWriteError: it could not be written and synced.
        """
        outcome = self.put_many([data])[0]
        if isinstance(outcome, ArchiveWriteError):
            raise outcome
        return outcome

    def prepare(self, data: bytes, *, reader: TextReader | None = None) -> Prepared:
        """What storing ``data`` costs in CPU (its hashes, its large parts, compressing
        and sealing it, its words for the index), done before its batch, with no lock
        and nothing written. ``reader`` reads its text instead of :attr:`reader` when
        the caller has read the message already (the filter's pipeline): it must give
        what :attr:`reader` would, which ``archive index rebuild`` reads."""
        sha256 = hashlib.sha256(data).hexdigest()
        found = runs(data)
        names = [hashlib.sha256(run.decoded).hexdigest() for run in found]
        if found:
            form = header(names) + self._seal(manifest(data, found, names), sha256.encode())
        else:
            form = self._seal(data, sha256.encode())
        words = (words_of(reader or self.reader, data)
                 if self.index is not None and self.reader is not None else None)
        return Prepared(data, sha256, found, names, form, words)

    @property
    def reads_words(self) -> bool:
        """Whether :meth:`prepare` reads a message's words (there is an index and a
        reader)."""
        return self.index is not None and self.reader is not None

    def put_many(self, messages: Sequence[bytes | Prepared]
                 ) -> list[Stored | ArchiveWriteError]:
        """Store each message durably unless it is stored already: one outcome a message,
        in order (the filter's group commit, mailbase/groupcommit.py, hands it messages
        :meth:`prepare` made ready).

        Every object of the batch is written aside, their files synced at once, renamed
        into place and their directories synced at once: the file system commits its
        journal for the batch's syncs together, where storing one at a time costs an
        fsync of each file and of its directory, each waiting for a commit. When a sync
        fails, every message of the batch fails.
        """
        ready = [m if isinstance(m, Prepared) else self.prepare(m) for m in messages]
        batch = _Batch()
        outcomes: list[Stored | ArchiveWriteError] = []
        rows: list[tuple[str, str]] = []
        try:
            with self.locked():
                for message in ready:
                    outcomes.append(self._stage(message, batch))
                rows = [(o.sha256, m.words) for o, m in zip(outcomes, ready, strict=True)
                        if isinstance(o, Stored) and m.words is not None]
                if self._backlog is not None and rows:
                    batch.journal = self._backlog.note([name for name, _ in rows])
                batch.commit()
                if self._backlog is not None:
                    self._backlog.queue(batch.journal, rows)
                else:
                    self._index(rows)
        except OSError as exc:
            batch.discard()
            if self._backlog is not None:
                self._backlog.forget(batch.journal, len(rows))
            error = ArchiveWriteError(self.root, f"{exc.strerror or exc}")
            error.__cause__ = exc  # the filter tells a full disk by its cause (4.3.1)
            failed: list[Stored | ArchiveWriteError] = [
                o if isinstance(o, ArchiveWriteError) else error for o in outcomes]
            return failed + [error] * (len(messages) - len(failed))
        return outcomes

    def _index(self, rows: Sequence[tuple[str, str]]) -> None:
        """Index the (name, words) of a batch just made durable. An index that cannot
        be written refuses no mail: the messages stay archived and are counted as not
        indexed until ``congvu archive index rebuild``."""
        if self.index is None or not rows:
            return
        try:
            self.index.add(rows)
        except ArchiveError as exc:
            log.error("archive-index-failed: %d message(s) archived but not indexed (the "
                      "search counts them as such; `congvu archive index rebuild` adds "
                      "them): %s", len(rows), exc)

    def _stage(self, message: Prepared, batch: _Batch) -> Stored | ArchiveWriteError:
        """Write one message aside into ``batch`` (or touch it when stored already)."""
        sha256, data = message.sha256, message.data
        earlier = batch.stored.get(sha256)
        if earlier is not None:  # the same bytes twice in one batch
            return Stored(sha256, earlier.size, earlier.stored_size, is_new=False)
        path = self.path_of(sha256)
        try:
            if self._is_intact(path, sha256):
                # Stored by an earlier message: touched, so a prune that read the
                # records before this message's record commits leaves it; its time and
                # directory entry are synced with the batch (its writer may not have
                # synced them yet).
                os.utime(path)
                batch.touched.add(path)
                stored = Stored(sha256, len(data), path.stat().st_size, is_new=False)
            else:
                parts_size = sum(self._put_part(name, run, batch) for name, run
                                 in zip(message.names, message.runs, strict=True))
                self._write_aside(path, message.stored_form, batch)
                stored = Stored(sha256, len(data), len(message.stored_form) + parts_size,
                                is_new=True)
        except OSError as exc:
            failed = ArchiveWriteError(self.root, f"{exc.strerror or exc} ({path})")
            failed.__cause__ = exc
            return failed
        batch.stored[sha256] = stored
        return stored

    def _seal(self, data: bytes, name: bytes) -> bytes:
        """``data`` as stored: a zstd frame, sealed under ``name`` when encrypting."""
        compressed = self._compressor().compress(data)
        return self._encrypt(compressed, name) if self.is_encrypting else compressed

    def _encrypt(self, frame: bytes, name: bytes) -> bytes:
        """``frame`` sealed with the current key under ``name``."""
        assert self._aead is not None
        nonce = secrets.token_bytes(_NONCE)
        return _SEALED_BY + self._key_id + nonce + self._aead.encrypt(nonce, frame, name)

    def _write(self, path: Path, data: bytes) -> None:
        """Write an object durably (aside in ``tmp/``, fsync, rename, directory fsync).

        :raises OSError: it could not be.
        """
        if _make_dir(path.parent.parent) | _make_dir(path.parent):  # parts/ comes late
            sync_directory(path.parent.parent)
            sync_directory(path.parent.parent.parent)
        _make_dir(self.tmp)
        write_private_durably(path, data, tmp=self.tmp / (
            f"{path.name[:64]}.{secrets.token_hex(4)}.tmp"))

    def _write_aside(self, path: Path, data: bytes, batch: _Batch) -> None:
        """Write an object into ``tmp/`` for ``batch`` to sync and rename into place.

        :raises OSError: it could not be.
        """
        if _make_dir(path.parent.parent) | _make_dir(path.parent):  # parts/ comes late
            sync_directory(path.parent.parent)
            sync_directory(path.parent.parent.parent)
        _make_dir(self.tmp)
        tmp = self.tmp / f"{path.name[:64]}.{secrets.token_hex(4)}.tmp"
        fd = create_private(tmp)
        try:
            with os.fdopen(fd, "wb", closefd=False) as handle:
                handle.write(data)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        batch.aside.append(_Aside(fd, tmp, path))

    def _put_part(self, name: str, run: Run, batch: _Batch) -> int:
        """Store a large part unless it is there intact (then touch it, as a message
        found stored is: a prune leaves it); return the bytes written."""
        if name in batch.parts:
            return 0
        batch.parts.add(name)
        path = self.part_path(name)
        try:
            if self._read_part(name) == run.decoded:
                os.utime(path)
                batch.touched.add(path)
                return 0
        except ArchiveReadError as exc:
            if exc.problem != "missing":
                log.warning("replacing a damaged archived part: %s", exc)
        sealed = self._seal(run.decoded, b"part:" + name.encode())
        self._write_aside(path, sealed, batch)
        return len(sealed)

    @contextmanager
    def locked(self, *, exclusive: bool = False,
               on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the archive's lock: shared while storing, exclusive while removing.

        :param on_wait: called once when the lock is not free at once (the caller is
            about to wait for it).
        :raises OSError: the lock file cannot be opened or made.
        """
        fd = _open_lock(self.lock_path)
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _is_intact(self, path: Path, sha256: str) -> bool:
        if not path.exists():
            return False
        try:
            self.get(sha256)
        except ArchiveReadError as exc:
            log.warning("replacing a damaged archived message: %s", exc)
            return False
        return True

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor: zstandard.ZstdCompressor | None = getattr(self._local, "c", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self.level, write_content_size=True)
            self._local.c = compressor
        return compressor

    def remove_unused(self, names: Iterable[str], *, records_read_at: float,
                      on_wait: Callable[[], None] | None = None,
                      ) -> Iterator[tuple[str, Removal]]:
        """Remove the messages ``names`` (retention), a batch at a time under the
        exclusive lock, except those stored or touched since :data:`IN_FLIGHT` before
        ``records_read_at`` (the time, before the prune read the records that let them
        expire): a message being stored may name them. Yields what was done with each.

        :raises ArchiveError: the lock cannot be taken or an object cannot be removed.
        """
        cutoff = records_read_at - IN_FLIGHT
        batch: list[str] = []
        for name in names:
            batch.append(name)
            if len(batch) == _BATCH:
                yield from self._remove_batch(batch, cutoff, on_wait)
                batch = []
        if batch:
            yield from self._remove_batch(batch, cutoff, on_wait)

    def _remove_batch(self, names: list[str], cutoff: float,
                      on_wait: Callable[[], None] | None) -> list[tuple[str, Removal]]:
        done: list[tuple[str, Removal]] = []
        synced: set[Path] = set()
        try:
            with self.locked(exclusive=True, on_wait=on_wait):
                for name in names:
                    path = self.path_of(name)
                    try:
                        if path.stat().st_mtime >= cutoff:
                            done.append((name, Removal.IN_USE))
                            continue
                        path.unlink()
                    except FileNotFoundError:
                        done.append((name, Removal.ABSENT))
                        continue
                    synced.add(path.parent)
                    done.append((name, Removal.REMOVED))
                if self.index is not None:  # a rerun removes what a failure here left
                    self.index.remove(n for n, r in done if r is not Removal.IN_USE)
            # Synced after the lock is released: messages wait only for the unlinks. A
            # removal a crash undoes leaves an expired message a later prune removes.
            for directory in synced:
                sync_directory(directory)
        except OSError as exc:
            raise ArchiveError(f"archive {self.root}: could not remove expired messages: "
                               f"{exc.strerror or exc} ({exc.filename or self.root})"
                               ) from exc
        return done

    def remove_stale_tmp(self, *, now: float | None = None) -> int:
        """Remove temporary files a crash left in ``tmp/`` mid-write: only names of our
        own pattern, only those older than half an hour (a write in progress is never
        that old). Returns how many.

        :raises OSError: ``tmp/`` cannot be read.
        """
        if not self.tmp.is_dir():
            return 0
        before = (time.time() if now is None else now) - _STALE_TMP
        removed = 0
        for entry in os.scandir(self.tmp):
            if not _TMP_NAME.match(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_mtime < before:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:  # another sweep took it
                continue
        if removed:
            log.warning("removed %d temporary file(s) left in %s by an interrupted write",
                        removed, self.tmp)
        return removed

    # -- reading ----------------------------------------------------------------

    def get(self, sha256: str) -> bytes:
        """The bytes of the message named ``sha256``, checked against that name.

        :raises ArchiveReadError: missing, unreadable (not a zstd frame, cut short),
            or changed (the bytes hash to another value).
        :raises ValueError: ``sha256`` is not 64 lower-case hex digits.
        """
        if not is_sha256(sha256):
            raise ValueError(f"not a SHA-256 (64 lower-case hex digits): {sha256!r}")
        path = self.location(sha256)
        raw = self._load(sha256)
        if raw.startswith(DEDUPLICATED):
            data = self._rebuild(sha256, path, raw)
        else:
            data = self._open(sha256, path, raw, sha256.encode())
        found = hashlib.sha256(data).hexdigest()
        if found != sha256:
            raise ArchiveReadError(sha256, path, "changed", f"its bytes hash to {found}",
                                   found=found)
        return data

    def _open(self, sha256: str, path: Path | str, raw: bytes, name: bytes) -> bytes:
        """What an object holds, unsealed (under ``name``) and decompressed.

        :raises ArchiveReadError: unreadable (for the message ``sha256``).
        """
        raw = self._decrypt(sha256, path, raw, name)
        try:
            return zstandard.ZstdDecompressor().decompress(raw, max_output_size=_MAX_MESSAGE)
        except zstandard.ZstdError as exc:
            raise ArchiveReadError(sha256, path, "unreadable", f"not a zstd frame: {exc}"
                                   ) from exc

    def _decrypt(self, sha256: str, path: Path | str, raw: bytes, name: bytes) -> bytes:
        """The zstd frame of an object, decrypted if it is sealed.

        :raises ArchiveReadError: sealed, and no key there opens it under ``name``.
        """
        if raw.startswith(_SEALED_BY):
            wanted = raw[len(_SEALED_BY):len(_SEALED_BY) + _KEY_ID]
            body = raw[len(_SEALED_BY) + _KEY_ID:]
            keys = [self._keys[wanted]] if wanted in self._keys else []
            why = f"encrypted with key {wanted.hex()}, which is not configured or retired"
        elif raw.startswith(_SEALED):
            body, keys = raw[len(_SEALED):], list(self._keys.values())
            why = "encrypted, and no archive key is configured"
        else:
            return raw
        if not self._keys:
            why = "encrypted, and no archive key is configured"
        for aead in keys:
            try:
                return aead.decrypt(body[:_NONCE], body[_NONCE:], name)
            except (InvalidTag, ValueError):
                continue
        if keys:
            why = "encrypted, and it does not decrypt under this name with its key"
        raise ArchiveReadError(sha256, path, "unreadable", why)

    def reseal(self) -> tuple[int, int]:
        """Seal again with the current key every object another key sealed, and, when
        encrypting, every plain one (after ``archive key rotate``, or once encryption
        is turned on); return (resealed, objects seen). Each is written aside and
        renamed under the shared lock, as a store is: readers see the old or the new.

        :raises ArchiveError: an object cannot be read or written.
        """
        if not self.is_encrypting:
            raise ArchiveError(f"archive {self.root}: encrypt is off; nothing to seal with")
        resealed = seen = 0
        messages = ((self.path_of(n), n.encode()) for n in self.names())
        fans = sorted(self.parts.glob("*/*" + PART_SUFFIX)) if self.parts.is_dir() else []
        parts = ((p, b"part:" + p.name.removesuffix(PART_SUFFIX).encode()) for p in fans)
        for path, name in itertools.chain(messages, parts):
            seen += 1
            try:
                with self.locked():
                    raw = path.read_bytes()
                    head = b""
                    if raw.startswith(DEDUPLICATED):
                        names, rest = split(raw)
                        head, raw = header(names), rest
                    if self._is_sealed_now(raw):
                        continue
                    frame = self._decrypt(name.decode(), path, raw, name)
                    self._write(path, head + self._encrypt(frame, name))
                    resealed += 1
            except FileNotFoundError:
                continue  # removed by a prune meanwhile
            except (OSError, ValueError, struct.error) as exc:
                raise ArchiveError(f"archive {self.root}: cannot seal {path} again: "
                                   f"{exc}") from exc
        return resealed, seen

    def _is_sealed_now(self, raw: bytes) -> bool:
        """Whether an object's frame (after any parts' header) is sealed with the current
        key: reseal leaves it."""
        return raw.startswith(_SEALED_BY + self._key_id)

    def _rebuild(self, sha256: str, path: Path | str, raw: bytes) -> bytes:
        """A deduplicated message, from its manifest and its parts.

        :raises ArchiveReadError: the object or a part is missing, unreadable or changed.
        """
        try:
            names, rest = split(raw)
        except (ValueError, struct.error) as exc:
            raise ArchiveReadError(sha256, path, "unreadable", f"its header: {exc}") from exc
        described = self._open(sha256, path, rest, sha256.encode())
        parts: dict[str, bytes] = {}
        for name in names:
            try:
                parts[name] = self._read_part(name)
            except ArchiveReadError as exc:
                raise ArchiveReadError(sha256, exc.path, exc.problem,
                                       f"its part {name}: {exc.detail or exc.problem}"
                                       ) from exc
        try:
            return rebuild(described, parts)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ArchiveReadError(sha256, path, "unreadable", f"its manifest: {exc}"
                                   ) from exc

    def _read_part(self, name: str) -> bytes:
        """A large part's decoded bytes, checked against its name.

        :raises ArchiveReadError: missing, unreadable or changed (named by the part).
        """
        path = self.part_location(name)
        data = self._open(name, path, self._load_part(name), b"part:" + name.encode())
        found = hashlib.sha256(data).hexdigest()
        if found != name:
            raise ArchiveReadError(name, path, "changed", f"its bytes hash to {found}")
        return data

    def remove_unreferenced_parts(self, *, records_read_at: float) -> int:
        """Remove the parts no stored message names any more (after a prune), except
        those stored or touched since :data:`IN_FLIGHT` before ``records_read_at``: a
        message being stored may name them. The messages are read without the lock
        (a message stored meanwhile touches or writes its parts); the parts are
        removed under it. Returns how many.

        :raises ArchiveError: the parts cannot be listed or removed.
        """
        if not self.parts.is_dir():
            return 0
        cutoff = records_read_at - IN_FLIGHT
        try:
            named = {p.name.removesuffix(PART_SUFFIX) for sha256 in self.names()
                     for p in self.files_of(sha256)[1:]}
            removed: set[Path] = set()
            with self.locked(exclusive=True):
                for fan in os.scandir(self.parts):
                    for entry in os.scandir(fan.path) if fan.is_dir() else ():
                        name = entry.name.removesuffix(PART_SUFFIX)
                        if (entry.name.endswith(PART_SUFFIX) and name not in named
                                and entry.stat().st_mtime < cutoff):
                            os.unlink(entry.path)
                            removed.add(Path(entry.path))
            for directory in {p.parent for p in removed}:
                sync_directory(directory)
        except OSError as exc:
            raise ArchiveError(f"archive {self.root}: could not remove unused parts: "
                               f"{exc.strerror or exc} ({exc.filename or self.parts})"
                               ) from exc
        return len(removed)

    def reindex(self, reader: TextReader, *, everything: bool = False,
                on_unreadable: Callable[[ArchiveReadError], None] | None = None,
                ) -> Reindexed:
        """Index every stored message the index lacks (with ``everything``, every
        stored message, the index emptied first), a transaction of
        :data:`~archive.index.CHUNK` at a time, so an interrupted run is finished by
        running it again; then remove the rows of messages no longer stored. A message
        that cannot be read is passed to ``on_unreadable`` and not indexed.

        :raises ArchiveError: there is no index, or it or the archive cannot be read or
            written.
        """
        if self.index is None:
            raise ArchiveError(f"archive {self.where}: the text index is off ([archive] "
                               "index = false, or encrypt on without index = true)")
        index = self.index
        if everything:
            index.clear()
        done = Reindexed()
        for chunk in chunks(self.names()):
            done.added += index.add(self._words_lacking(chunk, reader, done, on_unreadable))
        # what the journals of stopped filters name is indexed now: they go
        IndexBacklog(self.root / DIRECTORY, index, partial(self._index_lacking,
                                                           reader=reader)).catch_up()
        if not index.follows_objects:
            for chunk in chunks(index.names()):
                gone = [name for name in chunk if not self.has(name)]
                if gone:
                    done.removed += index.remove(gone)
        return done

    def names(self) -> Iterator[str]:
        """The name of every object file on disk (whatever its content), in no order."""
        if not self.objects.is_dir():
            return
        for fan in os.scandir(self.objects):
            if not fan.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(fan.path):
                name = entry.name.removesuffix(SUFFIX)
                if entry.name.endswith(SUFFIX) and is_sha256(name):
                    yield name


def _read(sha256: str, path: Path) -> bytes:
    """An object file's bytes.

    :raises ArchiveReadError: missing or unreadable.
    """
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ArchiveReadError(sha256, path, "missing") from exc
    except OSError as exc:
        raise ArchiveReadError(sha256, path, "unreadable", exc.strerror or str(exc)) from exc


def _make_dir(path: Path) -> bool:
    """Make ``path`` 0700 unless it exists; whether it was made."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    os.chmod(path, 0o700)  # mkdir's mode went through the umask
    return True


def _open_lock(path: Path) -> int:
    """A descriptor of the lock file (made 0600 when missing); read-only is enough for
    ``flock``, so a read-only archive is still locked."""
    return os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)


