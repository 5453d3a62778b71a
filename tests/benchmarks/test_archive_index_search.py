"""The console's search of archived text at a million messages: the text index on
SQLite (archive/index.py) and on PostgreSQL (archive/pgindex.py) asked as the console
asks it (web/archived.py: the index names every message that matches and the scope's
newest are kept, until 100; a word matching more than FOUND_MAX messages is asked about
the scope's messages newest first, a thousand at a time), against the same search
asking about the scope a thousand at a time whatever the word (as the console did
before the index named its matches), over the same data in the same run.

The index is written once (rows built directly, not through the filter: no objects,
no reader; the words are what the reader would keep of a letter) and kept for later
runs under ``build/bench/`` (or ``$CONGVU_BENCH_DATA``), named by its size, with a
marker written last. It holds ``CONGVU_BENCH_INDEX_MESSAGES`` letters (default
1,000,000): a subject, the sender's and recipient's names and addresses (200 units),
and 150-300 words of body drawn from 2,000 syllables with Zipf's law (Vietnamese is
written in syllables, some 2,500 once folded without their tones; about 1 KB of folded
words a letter). Each query runs ROUNDS
times, alternating, in process; the medians are printed. Run by `make bench`; asserts
only what each search finds (the suite has no timed asserts).

PostgreSQL's index is written again by each run in the session's private cluster (its
data dies with it): ``CONGVU_BENCH_PG_INDEX_MESSAGES`` letters (default 100,000), the
same rows, with an object row each (empty: nothing here reads the messages).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from archive import Archive, ArchiveConfig, parse_query
from archive.index import SqliteTextIndex
from support.benchdata import complete, kept
from support.postgres import PASSWORD, password_file
from web.archived import FOUND_MAX, MATCHES_MAX, _indexed

MESSAGES = int(os.environ.get("CONGVU_BENCH_INDEX_MESSAGES", "1000000"))
PG_MESSAGES = int(os.environ.get("CONGVU_BENCH_PG_INDEX_MESSAGES", "100000"))
ROUNDS, UNITS, SYLLABLES = 3, 200, 2_000
RECIPE = {"messages": MESSAGES, "units": UNITS, "syllables": SYLLABLES, "version": 1}
NOWHERE = "khongcotrongthu"


def _syllables(rng: random.Random) -> list[str]:
    """SYLLABLES distinct folded syllables, most common first."""
    onsets = ["", "b", "c", "ch", "d", "g", "gi", "h", "k", "kh", "l", "m", "n", "ng",
              "nh", "ph", "qu", "r", "s", "t", "th", "tr", "v", "x"]
    rhymes = ["a", "ac", "ach", "ai", "am", "an", "ang", "anh", "ao", "ap", "at", "au", "ay",
              "e", "ec", "em", "en", "eng", "enh", "eo", "ep", "et", "eu", "i", "ia", "ich",
              "iem", "ien", "iep", "iet", "ieu", "im", "in", "inh", "ip", "it", "iu", "o",
              "oa", "oac", "oach", "oai", "oan", "oang", "oanh", "oat", "oay", "oc", "oe",
              "oen", "oi", "om", "on", "ong", "op", "ot", "u", "ua", "uan", "uat", "uc",
              "ue", "ui", "um", "un", "ung", "uoc", "uoi", "uom", "uon", "uong", "uot", "up",
              "ut", "uu", "uy", "uyen", "uyet", "uynh", "uyt", "y", "yen", "yet", "yeu"]
    every = [o + r for o, r in itertools.product(onsets, rhymes)]
    rng.shuffle(every)
    return every[:SYLLABLES]


@dataclass(frozen=True, slots=True)
class _Record:
    """What the console's search reads of a record."""

    record_id: int
    sha256: str


def _rows(messages: int) -> Iterator[tuple[str, str]]:
    """(SHA-256, words) of each of ``messages`` letters, the same ones each run."""
    rng = random.Random(20261207)
    words = _syllables(rng)
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    for n in range(messages):
        unit, other = rng.randrange(UNITS), rng.randrange(UNITS)
        body = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(150, 300)))
        yield (_name(n), f"bao cao so {n} van thu don vi {unit} vanthu donvi{unit} "
                         f"lamdong gov vn so noi vu don vi {other} vanthu donvi"
                         f"{other} lamdong gov vn {body}")


def _fill(index: SqliteTextIndex) -> None:
    index.create()
    batch: list[tuple[str, str]] = []
    for row in _rows(MESSAGES):
        batch.append(row)
        if len(batch) == 10_000:
            index.add(batch)
            batch = []
    if batch:
        index.add(batch)


def _name(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


@pytest.fixture(scope="session")
def filled() -> tuple[Path, dict[str, object]]:
    """The index and what it holds, written once and kept (see the module's
    docstring)."""
    place, facts = kept(f"archive-index-{MESSAGES}", RECIPE)
    if facts is not None:
        return place, facts
    (place / "archive").mkdir()
    started = time.perf_counter()
    _fill(SqliteTextIndex(place / "archive" / "index.sqlite3"))
    return place, complete(place, RECIPE, written_s=time.perf_counter() - started,
                           bytes=(place / "archive" / "index.sqlite3").stat().st_size)


@pytest.fixture
def pg_filled(postgres_url: str, tmp_path: Path) -> tuple[Archive, str]:
    """A PostgreSQL archive whose index holds PG_MESSAGES letters, and what says how
    it was written."""
    config = ArchiveConfig(url=postgres_url, password_file=password_file(tmp_path),
                           key_file=tmp_path / "archive.key")
    store = Archive.from_config(config, create=True)
    started = time.perf_counter()
    with psycopg.connect(postgres_url, password=PASSWORD) as conn:
        conn.execute("CREATE TEMPORARY TABLE letters (sha256 text, words text)")
        with conn.cursor().copy("COPY letters FROM STDIN") as copy:
            for row in _rows(PG_MESSAGES):
                copy.write_row(row)
        conn.execute("INSERT INTO archive.objects SELECT sha256, '', 0, 0 FROM letters")
        conn.execute("INSERT INTO archive.texts SELECT sha256, to_tsvector('simple', words), "
                     "0 FROM letters")
    with psycopg.connect(postgres_url, password=PASSWORD, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE archive.texts")
        [(size,)] = conn.execute("SELECT pg_total_relation_size('archive.texts')").fetchall()
    return store, (f"{int(size):,} bytes, {int(size) / PG_MESSAGES:,.0f} a letter; written "
                   f"in {time.perf_counter() - started:.0f} s")


def _measure(stores: dict[str, Archive], messages: int, what: str) -> None:
    """Each query's search ROUNDS times, as the console searches and asking about the
    scope a thousand at a time, alternating, each way with its own store of ``stores``
    (SQLite's index keeps the last query's rowids: a way must not find the other's);
    what each found and the medians printed."""
    candidates = [_Record(n + 1, _name(n)) for n in reversed(range(messages))]
    words = _syllables(random.Random(20261207))
    queries = {  # what each finds among the newest: all of the first 100, or nothing
        f"a common word ({words[0]})": words[0],
        f"a word of rank 1,000 ({words[999]})": words[999],
        "one unit's address (vanthu@donvi7)": "vanthu@donvi7",
        f"a prefix ({words[10][:2]}...)": words[10][:2],
        f"a phrase of two rare words ({words[1900]} {words[1901]})":
            f"{words[1900]} {words[1901]}",
        "a word found nowhere": NOWHERE,
    }
    ways = {"named": FOUND_MAX, "asked": -1}  # -1: the index names none
    times: dict[tuple[str, str], list[float]] = {}
    found: dict[tuple[str, str], tuple[list[int], int, int]] = {}
    for _ in range(ROUNDS):
        for name, text in queries.items():
            for way, found_max in ways.items():
                began = time.perf_counter()
                result = _indexed(stores[way], candidates, parse_query(text),
                                  found_max=found_max)
                times.setdefault((name, way), []).append(time.perf_counter() - began)
                found[name, way] = (result.record_ids, result.scanned, result.unindexed)
    for name in queries:
        assert found[name, "named"] == found[name, "asked"], name
        assert found[name, "named"][2] == 0
    assert len(found[f"a common word ({words[0]})", "named"][0]) == MATCHES_MAX
    assert found["a word found nowhere", "named"] == ([], messages, 0)
    print(f"\n{what}; the console's search over every message, newest first, until "
          f"{MATCHES_MAX} are found, {ROUNDS} rounds, alternating, in process (load "
          f"{' '.join(f'{n:.1f}' for n in os.getloadavg())}): the index naming the matches "
          "vs asking about the scope a thousand at a time:")
    for name in queries:
        named, asked = (statistics.median(times[name, way]) for way in ways)
        matched, scanned = len(found[name, "named"][0]), found[name, "named"][1]
        print(f"{name:52}: median {named:7.3f} s (min {min(times[name, 'named']):.3f}, max "
              f"{max(times[name, 'named']):.3f}) vs {asked:7.3f} s, {named / asked:5.2f}x; "
              f"{matched} found, {scanned:,} scanned")


def test_the_consoles_search_of_a_million_letters(
        filled: tuple[Path, dict[str, object]]) -> None:
    place, facts = filled
    stores = {way: Archive(place / "archive", index=SqliteTextIndex(
        place / "archive" / "index.sqlite3")) for way in ("named", "asked")}
    _measure(stores, MESSAGES, f"SQLite: the text index of {MESSAGES:,} synthetic letters "
             f"({int(str(facts['bytes'])):,} bytes, {int(str(facts['bytes'])) / MESSAGES:,.0f} "
             f"a letter; written in {float(str(facts['written_s'])):.0f} s; kept in {place})")


def test_the_consoles_search_on_postgresql(pg_filled: tuple[Archive, str]) -> None:
    store, facts = pg_filled
    _measure({"named": store, "asked": store}, PG_MESSAGES,
             f"PostgreSQL: the text index of {PG_MESSAGES:,} synthetic letters ({facts})")
