"""The console's search of an indexed archive on both backends (web/archived.py): the
index is asked about the scope's newest messages, then names what matches and the
scope's newest of those are listed, or, for a word more common than the index names at
once, it is asked about the scope's next messages, and so on; every way the same
matches, newest first, at most MATCHES_MAX, never a message outside the scope, and the
messages looked at that the index lacks counted once each."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from archive import Archive, ArchiveConfig, Stored, parse_query
from policies import searchable_text
from support.postgres import password_file
from web.archived import ASKED, FOUND_MAX, MATCHES_MAX, Found, _indexed


@dataclass(frozen=True, slots=True)
class Record:
    """What the search reads of a message record."""

    record_id: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Letter:
    """One record of the test's log: whose it is, whether the index has its message,
    and which searches find it."""

    record: Record
    in_scope: bool
    indexed: bool
    words: frozenset[str]


def letter(subject: str, n: int) -> bytes:
    return (f"Subject: {subject}\r\nFrom: vanthu@stc.lamdong.gov.vn\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nVăn bản số {n}.\r\n").encode()


#: (how many, subject, in the scope, indexed, the searches that find it)
KINDS: tuple[tuple[int, str, bool, bool, set[str]], ...] = (
    (130, "Báo cáo ngân sách", True, True, {"budget"}),
    (3, "Quyết toán đặc biệt", True, True, {"rare"}),
    (6, "Quyết toán đặc biệt", False, True, {"rare"}),
    (30, "Lịch họp giao ban", True, True, set()),
    (25, "Báo cáo ngân sách", False, True, {"budget"}),
    (3, "Quyết toán đặc biệt chưa lập chỉ mục", True, False, set()),
    (2, "Chưa lập chỉ mục", False, False, set()),
)


@pytest.fixture(params=["directory", pytest.param("postgresql", marks=pytest.mark.slow)])
def letters(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Archive, list[Letter]]:
    """An archive (as the console opens it) and its log, newest first: letters of the
    scope and of other units shuffled in time, some stored by a store that indexes
    nothing, one of those named by two records (a quarantine release's and its
    message's)."""
    where: dict[str, Any] = {"path": tmp_path / "archive"}
    if request.param == "postgresql":
        where = {"url": request.getfixturevalue("postgres_url"),
                 "password_file": password_file(tmp_path)}
    config = ArchiveConfig(key_file=tmp_path / "keys" / "archive.key", **where)
    archive = Archive.from_config(config, create=True, reader=searchable_text)
    unindexing = Archive.from_config(config, create=True)
    kinds = [(subject, n, scope, index, frozenset(words))
             for count, subject, scope, index, words in KINDS for n in range(count)]
    random.Random(20261207).shuffle(kinds)
    # the oldest a message the index lacks: a search that stops early never looks at it
    kinds.insert(0, kinds.pop(next(at for at, kind in enumerate(kinds)
                                   if kind[2] and not kind[3])))
    outcomes = archive.put_many([letter(s, n) for s, n, _, index, _ in kinds if index])
    stored = iter([o.sha256 for o in outcomes if isinstance(o, Stored)])
    assert len(outcomes) == 130 + 3 + 6 + 30 + 25
    log: list[Letter] = []
    for subject, n, scope, index, words in kinds:
        name = next(stored) if index else unindexing.put(letter(subject, n)).sha256
        log.append(Letter(Record(len(log) + 1, name), scope, index, words))
    again = next(lt for lt in reversed(log) if lt.in_scope and not lt.indexed)
    log.append(Letter(Record(len(log) + 1, again.record.sha256), True, False, frozenset()))
    return archive, log[::-1]


def expected(log: list[Letter], search: str, scanned: int) -> tuple[list[int], int]:
    """The matches the scope holds, newest first, at most MATCHES_MAX, and how many
    of the messages the first ``scanned`` records name the index lacks."""
    scope = [lt for lt in log if lt.in_scope]
    matches = [lt.record.record_id for lt in scope if search in lt.words][:MATCHES_MAX]
    lacking = {lt.record.sha256 for lt in scope[:scanned] if not lt.indexed}
    return matches, len(lacking)


# the newest ten asked, then every match named; the newest ten asked, then the next ten
# and so on (-1: more than any number match, so the index names none); the console's
# thousand: the whole scope asked at once
@pytest.mark.parametrize(("found_max", "at_once"), [(FOUND_MAX, 10), (-1, 10),
                                                    (FOUND_MAX, ASKED)],
                         ids=["named", "asked-by-scope", "asked-at-once"])
def test_the_search_lists_the_scopes_newest_matches_and_what_the_index_lacks(
        letters: tuple[Archive, list[Letter]], found_max: int, at_once: int) -> None:
    archive, log = letters
    scope = [lt.record for lt in log if lt.in_scope]
    assert len(scope) == 130 + 3 + 30 + 3 + 1

    def search(query: str) -> Found:
        return _indexed(archive, scope, parse_query(query), found_max=found_max,
                        asked_at_once=at_once)

    # more matches than a page: the newest MATCHES_MAX, none of the newer ones outside
    many = search("ngan sach")
    assert len(many.record_ids) == MATCHES_MAX and many.is_complete
    last = [r.record_id for r in scope].index(many.record_ids[-1]) + 1
    assert (many.scanned, many.candidates, many.unreadable, many.is_indexed) == (
        last, len(scope), 0, True)
    assert (many.record_ids, many.unindexed) == expected(log, "budget", last)
    assert many.unindexed == 2
    # a rare phrase, without diacritics or capitals: every match of the scope, only
    # those, and every message of the scope looked at
    for query in ("quyet toan dac biet", "QUYẾT TOÁN"):
        rare = search(query)
        assert (rare.record_ids, rare.unindexed) == expected(log, "rare", len(scope))
        assert len(rare.record_ids) == 3 and rare.scanned == len(scope) and rare.is_complete
    # a word found nowhere, and every word required: nothing, the scope all looked at,
    # the three messages of the scope the index lacks counted once each
    for query in ("khongcotrongthu", "quyet toan khongcotrongthu"):
        nowhere = search(query)
        assert (nowhere.record_ids, nowhere.scanned, nowhere.unindexed) == (
            [], len(scope), 3)
        assert nowhere.is_complete
    # a scope that holds none of the index's matches shows none of them
    outside = [lt.record for lt in log if not lt.in_scope]
    mine = [lt.record for lt in log if lt.in_scope and "budget" not in lt.words]
    found = _indexed(archive, mine, parse_query("ngan sach"), found_max=found_max,
                     asked_at_once=at_once)
    assert (found.record_ids, found.scanned, found.unindexed) == ([], len(mine), 3)
    theirs = _indexed(archive, outside, parse_query("quyet toan"), found_max=found_max,
                      asked_at_once=at_once)
    assert theirs.record_ids == [lt.record.record_id for lt in log
                                 if not lt.in_scope and "rare" in lt.words]
    assert theirs.unindexed == 2
