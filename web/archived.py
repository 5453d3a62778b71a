"""Archived messages in the console: whose content a user may read, their text for a
search, and the proof bundle a download carries.

A user reads content only of the units a grant of content names (``congvu user grant
NAME UNIT --content``), the units below them and those they succeed, and only where
the user's grants reach as well (administrators: where content is granted). A
message is a unit's when the unit sent it or received it (a From that merely claims a
unit does not make the message that unit's).

The search asks the archive's text index (archive/index.py: subject, From, To and Cc,
attachments' names, text and HTML parts and the text of PDFs, folded as every search of
congvu folds, case and diacritics ignored; every word of the query required) about
the scope's newest thousand messages and, when they hold fewer than
:data:`MATCHES_MAX` matches, which messages match, keeping the scope's newest of those
(a word more than :data:`FOUND_MAX` messages hold is looked for a thousand at a time
instead); the messages it looked at that the index lacks are counted and said. An archive without an
index (encrypted ones, by default) is read instead: the same text of the newest
:data:`SCANNED_MAX` messages of the scope, read with the same reader and matched the
same way, and the search says when it stopped.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive import (
    TEXT_MAX,
    Archive,
    ArchiveError,
    Bundle,
    Query,
    bundle_files,
    index_words,
    parse_query,
)
from audit import AuditLog
from directory import Unit
from policies import searchable_text
from web import access
from web.users import User

#: how many archived messages a search without an index reads at most, newest first
SCANNED_MAX = 2000
#: how many matches one search lists at most
MATCHES_MAX = 100
#: archived messages asked of the index at a time, newest first: the first thousand,
#: and the rest when the index would name more than FOUND_MAX messages
ASKED = 1000
#: messages the index names for one search at most (20,000 names are a few megabytes);
#: a word more common than that is found among the scope's newest messages
FOUND_MAX = 20_000


def content_scope(user: User, units: Sequence[Unit]) -> frozenset[str]:
    """The units whose archived messages ``user`` may read (empty: none)."""
    granted = access.covered(units, user.content_units) if user.content_units else frozenset()
    if user.is_admin:
        return granted
    return granted & access.covered(units, user.units)


def message_units(record: dict[str, Any]) -> set[str]:
    """The units a message record's content belongs to: its sender's and its
    recipients'."""
    units = set(record.get("recipient_units") or ())
    if record.get("sender_unit"):
        units.add(str(record["sender_unit"]))
    return units


@dataclass(frozen=True, slots=True)
class Found:
    """What one search found: the matching records (newest first), how many messages
    of the scope it looked at and how many the scope has, how many of those could not
    be read (pruned, missing, changed: ``archive verify`` names them), how many the
    index lacks, how many of those it is about to hold (named by the filter's journals:
    indexed a batch at a time, within seconds, or at the filter's next start when the
    index could not be written, archive/backlog.py), and whether it asked the index."""

    record_ids: list[int]
    scanned: int
    candidates: int
    unreadable: int
    unindexed: int = 0
    is_indexed: bool = False
    waiting: int = 0

    @property
    def is_complete(self) -> bool:
        """Whether every message of the scope was read (or enough were to fill the
        list)."""
        return self.scanned == self.candidates or len(self.record_ids) == MATCHES_MAX


def query_words(query: str) -> Query:
    """What a search asks for (archive/index.py says how words match).

    :raises ValueError: it has no word (letters or digits), or is too long.
    """
    return parse_query(query)


def search(log: AuditLog, store: Archive, scope: Iterable[str], query: Query, *,
           since: datetime | None = None, until: datetime | None = None) -> Found:
    """The archived messages of ``scope`` received in [since, until) whose text holds
    ``query``, newest first, at most :data:`MATCHES_MAX`: from the archive's index, or
    without one by reading the newest :data:`SCANNED_MAX`.

    :raises AuditError: the log cannot be read.
    :raises ArchiveError: the index cannot be read.
    """
    units = frozenset(scope)
    candidates = [r for r in log.archived(since=since)
                  if r.sha256 is not None and (until is None or r.received_at < until)
                  and units.intersection(r.units)]
    candidates.sort(key=lambda r: r.record_id, reverse=True)
    if store.index is not None:
        return _indexed(store, candidates, query)
    matched: list[int] = []
    unreadable = scanned = 0
    for record in candidates[:SCANNED_MAX]:
        assert record.sha256 is not None
        scanned += 1
        try:
            words = index_words(searchable_text(store.get(record.sha256), limit=TEXT_MAX))
        except ArchiveError:
            unreadable += 1  # pruned, missing or changed: archive verify names it
            continue
        if query.matches(words):
            matched.append(record.record_id)
            if len(matched) == MATCHES_MAX:
                break
    return Found(matched, scanned, len(candidates), unreadable)


def _indexed(store: Archive, candidates: list[Any], query: Query, *,
             found_max: int = FOUND_MAX, asked_at_once: int = ASKED) -> Found:
    """The search of ``candidates`` (newest first) in the archive's index: it is asked
    which of the newest ``asked_at_once`` match; when they hold fewer than
    :data:`MATCHES_MAX`, it names every message that matches (unless more than
    ``found_max`` do: then it is asked about the next ``asked_at_once``, and so on) and
    the scope's newest of those are the rest. A common word is so found among the
    newest without the index naming all its messages (on PostgreSQL, 20,000 rows
    fetched to learn they are too many cost four times the first thousand asked), a
    rare one without the index being asked about every message of the scope. Then the
    messages looked at that the index lacks are counted, each once, in one question."""
    index = store.index
    assert index is not None
    found: set[str] | None = None
    matched: list[int] = []
    scanned = 0
    for start in range(0, len(candidates), asked_at_once):
        asked = candidates[start:start + asked_at_once]
        if start == asked_at_once:
            found = index.found(query, found_max)
        held = found if found is not None else index.matching(
            query, list(dict.fromkeys(r.sha256 for r in asked)))
        for record in asked:
            scanned += 1
            if record.sha256 in held:
                matched.append(record.record_id)
                if len(matched) == MATCHES_MAX:
                    break
        if len(matched) == MATCHES_MAX:
            break
    looked = [r.sha256 for r in candidates[:scanned]]
    soon = store.waiting_to_index()
    unindexed = index.lacking([name for name in looked if name not in soon])
    waiting = index.lacking([name for name in looked if name in soon]) if soon else 0
    return Found(matched, scanned, len(candidates), 0, unindexed, True, waiting)


def proof_zip(record_id: int, message: bytes, proof: dict[str, Any]) -> bytes:
    """The proof bundle of ``record_id`` (what ``congvu archive proof`` writes) as a zip
    file, ``proof`` as :meth:`audit.AuditLog.proof` gives it."""
    checkpoint = json.loads(proof["checkpoint"].to_json())
    checkpoint.pop("format")
    files = bundle_files(Bundle(record_id, message, {**proof, "checkpoint": checkpoint}))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(f"{record_id}/{name}", data)
    return out.getvalue()
