"""The audit chain's hashed columns, frozen (tests/data/chain-vectors/hashed-columns.json).

Every row's hash covers the columns of HASHED_COLUMNS, and the verifier reads rows by
their position in it: a column renamed, removed, moved or newly hashed changes what
every existing store's rows must hash to, and the round-trip tests, which write and
verify with the same list, would not notice. The list is pinned beside the chain
vectors, so that a change to it is made on purpose, in both places.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from audit.config import AuditConfig
from audit.schema import EVENT_COLUMNS, HASHED_COLUMNS
from audit.store import AuditLog

VECTORS = Path(__file__).parents[1] / "data" / "chain-vectors"
PINNED = json.loads((VECTORS / "hashed-columns.json").read_text("utf-8"))["columns"]
EVENTS = json.loads((VECTORS / "events.json").read_text("utf-8"))


def test_the_hashed_columns_are_the_pinned_list_in_its_order() -> None:
    assert list(HASHED_COLUMNS) == PINNED


def test_neither_the_position_nor_the_hash_itself_is_hashed() -> None:
    # seq is proved by prev_hash, not hashed; hash cannot cover itself
    assert list(EVENT_COLUMNS) == ["seq", *PINNED, "hash"]


def test_every_column_the_vectors_hash_is_still_hashed() -> None:
    vectored = {name for vector in EVENTS["events"] + EVENTS["rows"]
                for name in vector["columns"]}
    assert vectored <= set(PINNED)


def test_a_hashed_column_the_vectors_do_not_set_may_be_null(tmp_path: Path) -> None:
    # a column added after the vectors is NULL in every row written before it, so those
    # rows keep their hash only if the store lets it be NULL
    config = AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
    with AuditLog.open(config):
        pass
    conn = sqlite3.connect(config.path)
    try:
        not_null = {row[1] for row in conn.execute("PRAGMA table_info(events)") if row[3]}
    finally:
        conn.close()
    always_set = set.intersection(*({name for name, value in vector["columns"].items()
                                     if value is not None}
                                    for vector in EVENTS["events"] + EVENTS["rows"]))
    assert not_null - {"seq", "hash"} <= always_set
