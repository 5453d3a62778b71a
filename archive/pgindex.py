"""The archive's text index in PostgreSQL: ``archive.texts``, beside the objects.

Each row holds the words of one archived message (archive/index.py says which) as a
``tsvector`` of the ``simple`` configuration, no stemming and no stop words, the folding
done before (so PostgreSQL's own parser sees only lower-case letters-and-digits runs
and keeps each as it is), under a GIN index. A row references its object with ``ON
DELETE CASCADE``: a prune that deletes a message deletes its words in the same
statement. The filter writes a batch's rows in the transaction that stores the batch,
under a savepoint, so rows the database refuses refuse no mail (the messages are
counted as not indexed until ``congvu archive index rebuild``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

from archive.errors import ArchiveError
from archive.index import CHUNK, Query, chunks
from mailbase.pgconn import ERRORS, PgConnection, explain

_T = TypeVar("_T")

log = logging.getLogger("congvu.archive")

_INSERT = ("INSERT INTO archive.texts (sha256, words, indexed_at) "
           "SELECT ?, to_tsvector('simple', ?), ? "
           "WHERE EXISTS (SELECT 1 FROM archive.objects WHERE sha256 = ?) "
           "ON CONFLICT (sha256) DO NOTHING")


def add_rows(conn: PgConnection, rows: Sequence[tuple[str, str]],
             now: float | None = None) -> int:
    """Index each (SHA-256, words) whose object is stored, unless indexed already,
    inside the caller's transaction, at ``now`` (default: the time); returns how many
    were new."""
    now = time.time() if now is None else now
    return sum(conn.execute(_INSERT, (sha256, words, now, sha256)).rowcount
               for sha256, words in rows)


def add_in_batch(conn: PgConnection, rows: Sequence[tuple[str, str]], where: str,
                 now: float) -> None:
    """:func:`add_rows` under a savepoint of the filter's storing transaction (``now``
    its time of storing): rows the database refuses are logged, and the batch's
    messages are stored all the same.

    :raises psycopg.Error: the database refused the savepoint itself (the batch fails).
    """
    if not rows:
        return
    conn.execute("SAVEPOINT congvu_index")
    try:
        add_rows(conn, rows, now)
    except ERRORS as exc:
        conn.execute("ROLLBACK TO SAVEPOINT congvu_index")
        log.error("archive-index-failed: %d message(s) archived but not indexed (the "
                  "search counts them as such; `congvu archive index rebuild` adds "
                  "them): archive %s: %s", len(rows), where, explain(exc))
    conn.execute("RELEASE SAVEPOINT congvu_index")


class Connections(Protocol):
    """The archive's connections (archive/pgstore.py)."""

    def run(self, work: Callable[[PgConnection], _T]) -> _T:
        """``work`` on a connection outside any transaction."""
        ...


class PgTextIndex:
    """The words of the messages of a PostgreSQL archive (the same calls as
    :class:`~archive.index.TextIndex`)."""

    #: its rows go with their objects (``ON DELETE CASCADE``): nothing to sweep
    follows_objects = True

    def __init__(self, url: str, connections: Connections) -> None:
        self.url = url
        self.connections = connections

    @property
    def where(self) -> str:
        """The index as messages to an administrator name it."""
        return f"{self.url}, archive.texts"

    def create(self) -> None:
        """Nothing to make: the archive's migrations made the table."""

    def _run(self, doing: str, work: Callable[[PgConnection], _T]) -> _T:
        try:
            return self.connections.run(work)
        except ERRORS as exc:
            raise ArchiveError(f"archive index {self.where}: could not {doing}: "
                               f"{explain(exc)}") from exc

    def add(self, rows: Sequence[tuple[str, str]]) -> int:
        """Index each (SHA-256, words) in one transaction, unless indexed already;
        returns how many were new.

        :raises ArchiveError: the database refused.
        """
        def write(conn: PgConnection) -> int:
            conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            added = add_rows(conn, rows)
            conn.execute("COMMIT")
            return added

        return self._run("index messages", write) if rows else 0

    def remove(self, names: Iterable[str]) -> int:
        """Remove the rows of ``names``; returns how many there were.

        :raises ArchiveError: the database refused.
        """
        def delete(chunk: list[str]) -> Callable[[PgConnection], int]:
            return lambda conn: conn.execute(
                "DELETE FROM archive.texts WHERE sha256 = ANY(?)", (chunk,)).rowcount

        return sum(self._run("remove rows", delete(chunk)) for chunk in chunks(names))

    def clear(self) -> None:
        """Remove every row.

        :raises ArchiveError: the database refused.
        """
        self._run("clear it", lambda conn: conn.execute("DELETE FROM archive.texts"))

    def indexed(self, names: Sequence[str]) -> set[str]:
        """Those of ``names`` the index holds.

        :raises ArchiveError: the database refused.
        """
        return self._select("read it", "SELECT sha256 FROM archive.texts WHERE "
                            "sha256 = ANY(?)", names)

    def matching(self, query: Query, names: Sequence[str]) -> set[str]:
        """Those of ``names`` whose words hold ``query``.

        :raises ArchiveError: the database refused.
        """
        return self._select("search it", "SELECT sha256 FROM archive.texts WHERE "
                            "sha256 = ANY(?) AND words @@ to_tsquery('simple', ?)", names,
                            query.tsquery())

    def found(self, query: Query, most: int) -> set[str] | None:
        """Every SHA-256 whose words hold ``query``, read in one statement; None when
        more than ``most`` do.

        :raises ArchiveError: the database refused.
        """
        def read(conn: PgConnection) -> set[str] | None:
            names = {row[0] for row in conn.execute(
                "SELECT sha256 FROM archive.texts WHERE words @@ to_tsquery('simple', ?) "
                "LIMIT ?", (query.tsquery(), most + 1))}
            return names if len(names) <= most else None

        return self._run("search it", read)

    def lacking(self, names: Sequence[str]) -> int:
        """How many of ``names`` (each counted once) the index does not hold: the set
        difference done by PostgreSQL in one statement, the names given as one array.

        :raises ArchiveError: the database refused.
        """
        distinct = sorted(set(names))

        def read(conn: PgConnection) -> int:
            [(held,)] = conn.execute(
                "SELECT count(*) FROM archive.texts WHERE sha256 = ANY(?)",
                (distinct,)).fetchall()
            return len(distinct) - int(held)

        return self._run("read it", read) if distinct else 0

    def _select(self, doing: str, sql: str, names: Sequence[str], *more: str) -> set[str]:
        """The names ``sql`` gives for each chunk of ``names`` (its first parameter)."""
        def select(chunk: list[str]) -> Callable[[PgConnection], list[str]]:
            return lambda conn: [row[0] for row in conn.execute(sql, (chunk, *more))]

        found: set[str] = set()
        for chunk in chunks(names):
            found.update(self._run(doing, select(chunk)))
        return found

    def names(self) -> Iterator[str]:
        """Every SHA-256 indexed, in name order (a page at a time).

        :raises ArchiveError: the database refused.
        """
        after = ""
        while True:
            page = self._run("read it", _page(after))
            yield from page
            if len(page) < CHUNK:
                return
            after = page[-1]

    def close(self) -> None:
        """Nothing of its own to close: the archive's connections are the archive's."""


def _page(after: str) -> Callable[[PgConnection], list[str]]:
    return lambda conn: [row[0] for row in conn.execute(
        "SELECT sha256 FROM archive.texts WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
        (after, CHUNK))]
