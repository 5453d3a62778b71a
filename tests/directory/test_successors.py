"""Who succeeds whom: the import refuses successor links that loop or chain too far,
and the walks over them stay bounded whatever units they are given."""

from __future__ import annotations

import pytest

from directory import Directory, ImportRejected, ImportRowError, Unit, problems
from directory.model import parse_official_address
from directory.successors import (
    MAX_SUCCESSION,
    last_successor,
    predecessors,
    rolled_into,
    successors,
)

HEADER = "id,name,parent,address,active,successor\n"


def row(unit_id: str, successor: str = "", active: str = "no") -> str:
    return f"{unit_id},{unit_id.upper()},,{unit_id}@lamdong.gov.vn,{active},{successor}\n"


def unit(unit_id: str, successor: str | None = None) -> Unit:
    return Unit(unit_id, unit_id.upper(), parse_official_address(f"{unit_id}@lamdong.gov.vn"),
                successor=successor)


def test_a_cycle_of_successors_is_refused_on_every_row_of_it(store: Directory) -> None:
    text = HEADER + row("a", "b") + row("b", "c") + row("c", "a") + row("d", "", "yes")
    with pytest.raises(ImportRejected) as caught:
        store.import_csv(text)
    assert caught.value.errors == (
        ImportRowError(2, "successor", problems.SUCCESSOR_CYCLE(chain="a → b → c → a")),
        ImportRowError(3, "successor", problems.SUCCESSOR_CYCLE(chain="b → c → a → b")),
        ImportRowError(4, "successor", problems.SUCCESSOR_CYCLE(chain="c → a → b → c")),
    )
    assert store.units() == []


def test_a_chain_of_successors_is_accepted_up_to_its_bound(store: Directory) -> None:
    ids = [f"u{i}" for i in range(MAX_SUCCESSION + 2)]
    longest = [row(ids[i], ids[i + 1]) for i in range(MAX_SUCCESSION)]
    store.import_csv(HEADER + "".join(longest) + row(ids[MAX_SUCCESSION], "", "yes"))
    assert last_successor("u0", {u.id: u for u in store.units()}) == ids[MAX_SUCCESSION]
    one_more = [row(ids[i], ids[i + 1]) for i in range(MAX_SUCCESSION + 1)]
    with pytest.raises(ImportRejected) as caught:
        store.import_csv(HEADER + "".join(one_more) + row(ids[-1], "", "yes"))
    assert caught.value.errors == (ImportRowError(
        2, "successor", problems.SUCCESSION_TOO_LONG(unit="u0", limit=MAX_SUCCESSION)),)


def test_partial_refuses_a_cycle_through_a_stored_unit(store: Directory) -> None:
    store.import_csv(HEADER + row("a", "b") + row("b", "", "yes"))
    # b's new row is bad (no name), so b keeps its stored row; a new b → a would loop
    bad_b = "b,,,b@lamdong.gov.vn,yes,a\n"
    summary = store.import_csv(HEADER + row("a", "b") + bad_b + row("c", "a"), partial=True)
    assert [e.row for e in summary.skipped] == [3]
    assert store.get("c").successor == "a"
    assert store.get("b").successor is None


def test_predecessors_follow_links_backwards_and_only_backwards() -> None:
    units = [unit("bt-stc", "stc"), unit("ld-stc", "stc"), unit("xa-cu", "bt-stc"),
             unit("stc"), unit("snv"), unit("bt-snv", "snv")]
    assert predecessors(units, ["stc"]) == {"bt-stc", "ld-stc", "xa-cu"}
    assert predecessors(units, ["bt-stc"]) == {"xa-cu"}
    # a predecessor never reaches its successor's other predecessors, nor its successor
    assert predecessors(units, ["xa-cu"]) == frozenset()
    assert predecessors(units, ["snv", "nobody"]) == {"bt-snv"}
    assert rolled_into(units) == {"bt-stc": "stc", "ld-stc": "stc", "xa-cu": "stc",
                                  "bt-snv": "snv"}
    # into the last successor reported, a reported one too
    assert rolled_into(units, ["bt-stc", "stc"]) == {"bt-stc": "stc", "ld-stc": "stc",
                                                     "xa-cu": "stc"}
    assert rolled_into(units, ["bt-stc"]) == {"xa-cu": "bt-stc"}
    assert rolled_into(units, ["snv"]) == {"bt-snv": "snv"}


def test_the_walks_stop_on_a_cycle_and_after_their_bound() -> None:
    # a store written by hand (not through an import) may hold anything
    looping = {u.id: u for u in (unit("a", "b"), unit("b", "c"), unit("c", "a"))}
    assert successors("a", looping) == ("b", "c")
    assert predecessors(looping.values(), ["a"]) == {"a", "b", "c"}
    chain = {f"u{i}": unit(f"u{i}", f"u{i + 1}") for i in range(3 * MAX_SUCCESSION)}
    assert len(successors("u0", chain)) == MAX_SUCCESSION
    assert len(predecessors(chain.values(), [f"u{3 * MAX_SUCCESSION}"])) == MAX_SUCCESSION
    assert successors("unknown", chain) == ()
