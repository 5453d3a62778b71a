"""The archive's text index: the words of each archived message, for the console's search.

What is indexed is the text a reader the composition root gives (:data:`TextReader`,
policies' ``searchable_text``: subject, From, To and Cc, attachments' names, text and
HTML parts, read with the one MIME walk) finds in the bytes as archived, folded as
every search of congvu folds (mailbase's ``fold``: case, diacritics and đ ignored, so
"so tai chinh" finds "Sở Tài chính") and cut into words (runs of letters and digits;
words longer than :data:`WORD_MAX` characters, base64 left in a text part, are left
out), at most :data:`INDEX_MAX` bytes of them a message. Both backends index those
words as they are: SQLite's FTS5 (``unicode61``, which finds nothing left to fold) and
PostgreSQL's full text search with the ``simple`` configuration (no stemming, no stop
words), so a query finds the same messages on either.

A query is the same words: each word of it (between spaces) must be found, as a phrase
of its letters-and-digits runs ("a.b@x.vn": a, b, x and vn one after the other), the
last run of each word matching the start of a word ("chinh" finds "chinhsach"). FTS5's
and PostgreSQL's query syntax never reaches them: each run is quoted. A query with no
word, or longer than :data:`QUERY_MAX` characters or :data:`QUERY_WORDS` words, is a
:class:`ValueError` with a message a person understands.

On a directory archive the index is ``index.sqlite3`` beside ``objects/`` (0600), its
rows written in the same batch as the objects, after they are durable, under the same
lock. An index that cannot be written refuses no mail: the messages stay archived (and
their records name them), one ``archive-index-failed`` line is logged, and the search
counts them as not indexed until ``congvu archive index rebuild`` adds them.
"""

from __future__ import annotations

import array
import bisect
import json
import logging
import re
import sqlite3
import string
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from archive.errors import ArchiveError
from mailbase import fold, private_database, use_wal

log = logging.getLogger("congvu.archive")
_T = TypeVar("_T")

#: bytes of words (UTF-8, with their spaces) indexed at most a message: a letter's text
#: many times over, and a bound on what a long message costs the index
INDEX_MAX = 64 * 1024
#: characters of the text a reader is asked for (a word is at least two with its space)
TEXT_MAX = 2 * INDEX_MAX
#: a longer run of letters and digits is no word a person searches for
WORD_MAX = 64
#: the longest query, in characters and in words
QUERY_MAX = 1000
QUERY_WORDS = 32
#: names asked of the index per statement
CHUNK = 500
_RUN = re.compile(r"[^\W_]+")
#: for folded ASCII text, the same runs found in C: every byte but a-z and 0-9 made a
#: space, then split (a regular expression makes an object a match: 0.6 ms of a letter's
#: 2,900 words, the largest part of what archiving it cost)
_ASCII_APART = bytes(c if chr(c) in string.ascii_lowercase + string.digits else 0x20
                     for c in range(256))
#: a run longer than WORD_MAX is 2 * _LONG_BLOCK - 1 octets or more
_LONG_BLOCK = (WORD_MAX + 2) // 2
#: grave, acute, circumflex, tilde, breve, hook above, horn, dot below
_VIETNAMESE_MARKS = ("\u0300", "\u0301", "\u0302", "\u0303", "\u0306", "\u0309",
                     "\u031b", "\u0323")


class TextReader(Protocol):
    """What reads the text of a message from its bytes, at most ``limit`` characters
    (policies' ``searchable_text``, which the composition root gives)."""

    def __call__(self, raw: bytes, *, limit: int) -> str:
        """The text of the message ``raw``."""
        ...


def words_of(reader: TextReader, raw: bytes) -> str | None:
    """The words the index keeps of the message ``raw``; None when the reader failed
    (logged: the message is archived all the same, and counted as not indexed)."""
    try:
        return index_words(reader(raw, limit=TEXT_MAX))
    # the reader never raises on malformed input; a bug in it must not refuse mail
    except Exception as exc:
        log.error("archive-index-failed: could not read the text of a message: %r", exc)
        return None


def folded(text: str) -> str:
    """``mailbase.fold(text)``, in a third of its time for Vietnamese and ASCII text:
    decomposed (NFD), the eight combining marks Vietnamese writes removed, đ mapped,
    case folded, each a replace in C; when that leaves only ASCII, no other combining
    mark can be left either and it is what ``fold`` gives, else ``fold`` folds it."""
    quick = unicodedata.normalize("NFD", text)
    for mark in _VIETNAMESE_MARKS:
        quick = quick.replace(mark, "")
    quick = quick.replace("đ", "d").replace("Đ", "D").casefold()
    return quick if quick.isascii() else fold(text)


def index_words(text: str) -> str:
    """The words of ``text`` as the index keeps them: folded, letters-and-digits runs of
    at most :data:`WORD_MAX` characters, one space between, cut at :data:`INDEX_MAX`
    bytes (at a space)."""
    text = folded(text)
    if text.isascii():
        runs = text.encode("ascii").translate(_ASCII_APART).split()
        joined = b" ".join(runs)
        if _has_long_run(joined):
            joined = b" ".join(w for w in runs if len(w) <= WORD_MAX)
        words = joined.decode("ascii")
    else:
        words = " ".join(w for w in _RUN.findall(text) if len(w) <= WORD_MAX)
    if len(words) <= INDEX_MAX // 4 or len(words.encode()) <= INDEX_MAX:
        return words
    cut = words.encode()[:INDEX_MAX + 1]
    return cut[:cut.rfind(b" ")].decode()


def _has_long_run(words: bytes) -> bool:
    """Whether ``words`` (runs, one space between) may hold a run longer than
    :data:`WORD_MAX`: such a run holds a whole block of :data:`_LONG_BLOCK` octets that
    starts at a multiple of it, so one search for a space a block tells (a letter's 300
    searches cost half of taking the length of its 2,900 runs)."""
    find = words.find
    for start in range(0, len(words) - _LONG_BLOCK + 1, _LONG_BLOCK):
        if find(b" ", start, start + _LONG_BLOCK) < 0:
            return True
    return False


@dataclass(frozen=True, slots=True)
class Query:
    """A search: each phrase must be found, its last run as the start of a word."""

    text: str
    phrases: tuple[tuple[str, ...], ...]

    def fts5(self) -> str:
        """The query in FTS5's syntax (each phrase quoted, then a prefix)."""
        return " AND ".join('"' + " ".join(phrase) + '"*' for phrase in self.phrases)

    def tsquery(self) -> str:
        """The query in PostgreSQL's ``to_tsquery`` syntax (each run quoted)."""
        return " & ".join(
            "(" + " <-> ".join([*(f"'{run}'" for run in phrase[:-1]),
                                f"'{phrase[-1]}':*"]) + ")"
            for phrase in self.phrases)

    def matches(self, words: str) -> bool:
        """Whether ``words`` (as :func:`index_words` gives them) hold every phrase: the
        same answer as the index's, for messages read without it."""
        padded = " " + words
        return all(" " + " ".join(phrase) in padded for phrase in self.phrases)


def parse_query(text: str) -> Query:
    """The search ``text`` asks for.

    :raises ValueError: it has no word, is longer than :data:`QUERY_MAX` characters or
        has more than :data:`QUERY_WORDS` words.
    """
    if len(text) > QUERY_MAX:
        raise ValueError(f"the search is {len(text):,} characters long; at most "
                         f"{QUERY_MAX:,} are taken")
    phrases = []
    for word in text.split():
        runs = tuple(r for r in _RUN.findall(fold(word)) if len(r) <= WORD_MAX)
        if runs:
            phrases.append(runs)
    if not phrases:
        raise ValueError("the search has no words (letters or digits)")
    if len(phrases) > QUERY_WORDS:
        raise ValueError(f"the search has {len(phrases)} words; at most {QUERY_WORDS} "
                         "are taken")
    return Query(text, tuple(dict.fromkeys(phrases)))


def chunks(names: Iterable[_T], size: int = CHUNK) -> Iterator[list[_T]]:
    """``names`` a list of at most ``size`` at a time."""
    chunk: list[_T] = []
    for name in names:
        chunk.append(name)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class TextIndex(Protocol):
    """The words of archived messages, by SHA-256 (:class:`SqliteTextIndex`, or
    archive/pgindex.py's ``PgTextIndex``). Each call raises
    :class:`~archive.errors.ArchiveError` when the index cannot be read or written."""

    #: whether its rows go with their objects, so no row outlives its message
    follows_objects: bool

    @property
    def where(self) -> str:
        """The index as messages to an administrator name it."""
        ...

    def create(self) -> None:
        """Make the index when missing."""
        ...

    def add(self, rows: Sequence[tuple[str, str]]) -> int:
        """Index each (SHA-256, words) unless indexed; how many were new."""
        ...

    def remove(self, names: Iterable[str]) -> int:
        """Remove the rows of ``names``; how many there were."""
        ...

    def clear(self) -> None:
        """Remove every row."""
        ...

    def indexed(self, names: Sequence[str]) -> set[str]:
        """Those of ``names`` indexed."""
        ...

    def matching(self, query: Query, names: Sequence[str]) -> set[str]:
        """Those of ``names`` whose words hold ``query``."""
        ...

    def found(self, query: Query, most: int) -> set[str] | None:
        """Every SHA-256 whose words hold ``query``; None when more than ``most`` do."""
        ...

    def lacking(self, names: Sequence[str]) -> int:
        """How many of ``names`` (each counted once) the index does not hold."""
        ...

    def names(self) -> Iterator[str]:
        """Every SHA-256 indexed, in name order."""
        ...

    def close(self) -> None:
        """Let go of what it holds open."""
        ...


class SqliteTextIndex:
    """The words of a directory archive's messages, in SQLite (FTS5); safe to share
    between threads (a connection each)."""

    SCHEMA = (
        "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, "
        "sha256 TEXT NOT NULL UNIQUE, indexed_at REAL NOT NULL) STRICT",
        "CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5(words, "
        "tokenize = 'unicode61 remove_diacritics 0')",
        # FTS5 merges a level's segments once there are this many (4 by default): each
        # message's words are then rewritten fewer times. The race's letter in batches
        # of 256: 0.22-0.30 -> 0.12 ms of CPU a message over 10,000; 60,000 short
        # letters: 72 -> 56 us, their queries as fast but for a two-word phrase (5.3 ->
        # 7.8 ms) and a common word (35 -> 39 ms). Kept in the index: older ones too.
        "INSERT INTO texts (texts, rank) VALUES ('automerge', 16)",
    )

    #: whether its rows go with their objects (PostgreSQL's cascade); a directory's
    #: index may keep a row a failed removal left, which a rebuild sweeps
    follows_objects = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    @property
    def where(self) -> str:
        """The index as messages to an administrator name it."""
        return str(self.path)

    def create(self) -> None:
        """Make the index file (0600) and its tables when missing.

        :raises ArchiveError: they cannot be made.
        """
        try:
            private_database(self.path)
            with self._connection(create=True) as conn:
                for statement in self.SCHEMA:
                    conn.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveError(f"archive index {self.path}: cannot be made: {exc}") from exc

    def _connection(self, *, create: bool = False) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not create and not self.path.exists():
                raise ArchiveError(f"archive index {self.path}: not made yet (the filter "
                                   "makes it; `congvu archive index rebuild` fills it)")
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            use_wal(conn, wait_seconds=30.0)
            # each commit synced: the filter's journal of what waits to be indexed
            # (archive/backlog.py) goes once its rows commit, so they must outlive a power
            # loss; the filter commits a large batch at a time, after the reply
            conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
        return conn

    def _run(self, doing: str, work: Callable[[sqlite3.Connection], _T], *,
             missing: _T | None = None) -> _T:
        """``work`` on this thread's connection; ``missing`` when there is no index
        file yet and the work has an answer without one (nothing indexed, nothing to
        remove)."""
        if missing is not None and getattr(self._local, "conn", None) is None and (
                not self.path.exists()):
            return missing
        try:
            conn = self._connection()
            return work(conn)
        except sqlite3.Error as exc:
            raise ArchiveError(f"archive index {self.path}: could not {doing}: {exc}"
                               ) from exc

    def add(self, rows: Sequence[tuple[str, str]]) -> int:
        """Index each (SHA-256, words) in one transaction, unless indexed already;
        returns how many were new.

        :raises ArchiveError: the index cannot be written.
        """
        def write(conn: sqlite3.Connection) -> int:
            added = 0
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sha256, words in rows:
                    cursor = conn.execute("INSERT OR IGNORE INTO messages (sha256, "
                                          "indexed_at) VALUES (?, ?)", (sha256, now))
                    if cursor.rowcount == 1:
                        conn.execute("INSERT INTO texts (rowid, words) VALUES (?, ?)",
                                     (cursor.lastrowid, words))
                        added += 1
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return added

        return self._run("index messages", write) if rows else 0

    def remove(self, names: Iterable[str]) -> int:
        """Remove the rows of ``names`` (pruned messages); returns how many there were.

        :raises ArchiveError: the index cannot be written.
        """
        def delete(conn: sqlite3.Connection) -> int:
            removed = 0
            conn.execute("BEGIN IMMEDIATE")
            try:
                for chunk in chunks(names):
                    marks = ", ".join("?" * len(chunk))
                    conn.execute(f"DELETE FROM texts WHERE rowid IN (SELECT id FROM "
                                 f"messages WHERE sha256 IN ({marks}))", chunk)
                    removed += conn.execute(f"DELETE FROM messages WHERE sha256 IN "
                                            f"({marks})", chunk).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return removed

        return self._run("remove pruned messages", delete, missing=0)

    def clear(self) -> None:
        """Remove every row (a rebuild from the objects follows).

        :raises ArchiveError: the index cannot be written.
        """
        def clear(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM texts")
            conn.execute("DELETE FROM messages")
            conn.execute("COMMIT")

        self._run("clear it", clear)

    def indexed(self, names: Sequence[str]) -> set[str]:
        """Those of ``names`` the index holds.

        :raises ArchiveError: the index cannot be read.
        """
        return self._run("read it", _names_where("sha256", names), missing=set())

    def matching(self, query: Query, names: Sequence[str]) -> set[str]:
        """Those of ``names`` whose words hold ``query``.

        FTS5 answers a MATCH constrained to given rowids by running the whole query
        once per rowid (a prefix query over a large index took seconds each), so the
        query runs once, unconstrained, and its rowids (ascending, 8 bytes each) are
        kept for the next call with the same query while nothing was indexed since:
        the console asks about a search's messages a thousand at a time.

        :raises ArchiveError: the index cannot be read.
        """
        def read(conn: sqlite3.Connection) -> set[str]:
            ids: dict[int, str] = {}
            for chunk in chunks(names):
                marks = ", ".join("?" * len(chunk))
                ids.update(conn.execute(f"SELECT id, sha256 FROM messages WHERE sha256 "
                                        f"IN ({marks})", chunk).fetchall())
            matched = self._matched(conn, query)
            return {sha256 for rowid, sha256 in ids.items()
                    if (at := bisect.bisect_left(matched, rowid)) < len(matched)
                    and matched[at] == rowid}

        return self._run("search it", read, missing=set())

    def _matched(self, conn: sqlite3.Connection, query: Query) -> array.array[int]:
        """Every rowid whose words hold ``query``, ascending (kept, see matching)."""
        [(newest,)] = conn.execute("SELECT max(id) FROM messages").fetchall()
        key = (query.fts5(), newest)
        kept: tuple[tuple[str, int | None], array.array[int]] | None = getattr(
            self._local, "matched", None)
        if kept is not None and kept[0] == key:
            return kept[1]
        matched = array.array("q", (row[0] for row in conn.execute(
            "SELECT rowid FROM texts WHERE texts MATCH ? ORDER BY rowid", (query.fts5(),))))
        self._local.matched = (key, matched)
        return matched

    def found(self, query: Query, most: int) -> set[str] | None:
        """Every SHA-256 whose words hold ``query``; None when more than ``most`` do
        (the query's rowids are kept for :meth:`matching`, which the console then asks).

        :raises ArchiveError: the index cannot be read.
        """
        matched = self._run("search it", lambda conn: self._matched(conn, query),
                            missing=array.array("q"))
        if len(matched) > most:
            return None

        nothing: set[str] = set()
        return self._run("search it", _names_where("id", matched), missing=nothing)

    def lacking(self, names: Sequence[str]) -> int:
        """How many of ``names`` (each counted once) the index does not hold: the set
        difference done by SQLite in one statement, the names given as one JSON array
        in name order (each lookup then reads the pages of the index of names the one
        before it read).

        :raises ArchiveError: the index cannot be read.
        """
        distinct = sorted(set(names))

        def read(conn: sqlite3.Connection) -> int:
            [(held,)] = conn.execute(
                "SELECT count(*) FROM json_each(?) WHERE value IN (SELECT sha256 FROM "
                "messages)", (json.dumps(distinct),)).fetchall()
            return len(distinct) - int(held)

        return self._run("read it", read, missing=len(distinct))

    def names(self) -> Iterator[str]:
        """Every SHA-256 indexed, in name order (a page at a time).

        :raises ArchiveError: the index cannot be read.
        """
        after = ""
        while True:
            none: list[str] = []
            page = self._run("read it", _page(after), missing=none)
            yield from page
            if len(page) < CHUNK:
                return
            after = page[-1]

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None



def _names_where(column: str, values: Iterable[str | int]
                 ) -> Callable[[sqlite3.Connection], set[str]]:
    """What reads the SHA-256s of the messages whose ``column`` (``sha256``, or ``id``:
    FTS5's rowid) is one of ``values``, a statement for each :data:`CHUNK`."""
    def read(conn: sqlite3.Connection) -> set[str]:
        names: set[str] = set()
        for chunk in chunks(values):
            marks = ", ".join("?" * len(chunk))
            names.update(row[0] for row in conn.execute(
                f"SELECT sha256 FROM messages WHERE {column} IN ({marks})", chunk))
        return names

    return read


def _page(after: str) -> Callable[[sqlite3.Connection], list[str]]:
    return lambda conn: [row[0] for row in conn.execute(
        "SELECT sha256 FROM messages WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
        (after, CHUNK))]
