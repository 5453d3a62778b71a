"""The console's search of archived text at a million messages: the text index on
SQLite (archive/index.py) asked as the console asks it (web/archived.py: the scope's
messages newest first, a thousand at a time, until 100 are found).

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
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from archive import Archive, parse_query
from archive.index import SqliteTextIndex
from support.benchdata import complete, kept
from web.archived import MATCHES_MAX, _indexed

MESSAGES = int(os.environ.get("CONGVU_BENCH_INDEX_MESSAGES", "1000000"))
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


def _fill(index: SqliteTextIndex) -> None:
    rng = random.Random(20261207)
    words = _syllables(rng)
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    index.create()
    batch: list[tuple[str, str]] = []
    for n in range(MESSAGES):
        unit, other = rng.randrange(UNITS), rng.randrange(UNITS)
        body = " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(150, 300)))
        batch.append((_name(n), f"bao cao so {n} van thu don vi {unit} vanthu donvi{unit} "
                                f"lamdong gov vn so noi vu don vi {other} vanthu donvi"
                                f"{other} lamdong gov vn {body}"))
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


def test_the_consoles_search_of_a_million_letters(
        filled: tuple[Path, dict[str, object]]) -> None:
    place, facts = filled
    store = Archive(place / "archive", index=SqliteTextIndex(
        place / "archive" / "index.sqlite3"))
    candidates = [_Record(n + 1, _name(n)) for n in reversed(range(MESSAGES))]
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
    times: dict[str, list[float]] = {name: [] for name in queries}
    found: dict[str, tuple[int, int]] = {}
    for _ in range(ROUNDS):
        for name, text in queries.items():
            began = time.perf_counter()
            result = _indexed(store, candidates, parse_query(text))
            times[name].append(time.perf_counter() - began)
            found[name] = (len(result.record_ids), result.scanned)
            assert result.unindexed == 0
    assert found["a common word (" + words[0] + ")"][0] == MATCHES_MAX
    assert found["a word found nowhere"] == (0, MESSAGES)
    print(f"\nthe text index of {MESSAGES:,} synthetic letters ({int(str(facts['bytes'])):,} "
          f"bytes, {int(str(facts['bytes'])) / MESSAGES:,.0f} a letter; written in "
          f"{float(str(facts['written_s'])):.0f} s; kept in {place}); the console's "
          f"search over every message, newest first, until {MATCHES_MAX} are found, "
          f"{ROUNDS} rounds, alternating, in process:")
    for name, spent in times.items():
        matched, scanned = found[name]
        print(f"{name:52}: median {statistics.median(spent):7.3f} s (min "
              f"{min(spent):.3f}, max {max(spent):.3f}); {matched} found, {scanned:,} "
              "scanned")
