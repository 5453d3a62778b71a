"""An event built before the write lock hashes exactly as row_hash does once linked: the
canonical text split around ``prev_hash`` is the whole text, for the pinned vectors'
events and for the columns and texts that move the split (a first or last hashed column
present or NULL, lone surrogates, quotes and backslashes, the key ``"prev_hash":"`` in
the texts themselves)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audit.chain import GENESIS, row_hash
from audit.pending import Pending
from audit.records import AdminEvent, AdminKind, AuditRecord, Completion
from audit.schema import HASHED_COLUMNS
from support.audit import make_record

VECTORS = Path(__file__).parents[1] / "data" / "chain-vectors"
EVENTS = json.loads((VECTORS / "events.json").read_text())["events"]
MODELS: dict[str, Any] = {"record": AuditRecord, "completion": Completion,
                          "admin": AdminEvent}
PREVS = [GENESIS, "f" * 64, "0123456789abcdef" * 4]


def _whole(pending: Pending, prev: str) -> str:
    return row_hash({**dict.fromkeys(HASHED_COLUMNS), **pending.event, "prev_hash": prev})


@pytest.mark.parametrize("vector", EVENTS, ids=[v["about"][:40] for v in EVENTS])
def test_a_vector_event_links_to_its_pinned_hash(vector: dict[str, Any]) -> None:
    pending = Pending.of(MODELS[vector["item"]].model_validate(vector["input"]))
    assert pending.link(vector["columns"]["prev_hash"]) == vector["hash"]


@pytest.mark.parametrize("item", [
    make_record(subject='"prev_hash":"x" \\ \udcff\ud800 ký', header_from=None),
    make_record(client_helo=None, sender_unit=None, subject=None),
    AdminEvent(kind=AdminKind.PRUNE, actor="a\x00b", target="\"", details={"k": "\udcff"}),
    # the key as the text is cut at it, in columns sorted before and after prev_hash
    make_record(header_from='","prev_hash":"', subject='\\","prev_hash":""}',
                envelope_recipients=['"prev_hash":"@x'], client_address='"prev_hash":"'),
], ids=["odd text", "nulls", "admin", "the key in the text"])
def test_linking_is_row_hash_whatever_the_row_holds(item: AuditRecord | AdminEvent) -> None:
    pending = Pending.of(item)
    for prev in PREVS:
        assert pending.link(prev) == _whole(pending, prev)
    # linking twice from one built event gives the same hash (the state is copied)
    assert pending.link(PREVS[1]) == pending.link(PREVS[1])
