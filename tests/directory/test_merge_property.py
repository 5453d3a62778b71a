"""Property: whatever ids and addresses the provinces share, a merge either lists its
problems or writes a file that a real store imports whole and exports back unchanged,
with every id unique and every reference renamed with its unit."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import event, given, settings
from hypothesis import strategies as st

from directory import Directory
from directory.merge import MergeRejected, merge_files

IDS = ["ubnd-tinh", "so-tai-chinh", "so-y-te", "bt-so-y-te", "a", "phuong-1", "x" * 61]
LOCALS = ["ubnd", "stc", "syt", "vanthu", "STC"]


@st.composite
def province(draw: st.DrawFn, domain: str) -> list[tuple[str, str | None, str, str | None]]:
    """Rows (id, parent, address, successor): a tree over some of IDS."""
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=5, unique=True))
    rows = []
    for index, unit_id in enumerate(ids):
        parent = draw(st.sampled_from([None, *ids[:index]]))
        # mostly the province's own domain; sometimes another province's, to clash
        where = draw(st.sampled_from([domain, domain, domain, "b.gov.vn"]))
        address = f"{draw(st.sampled_from(LOCALS))}{index}@{where}"
        successor = draw(st.sampled_from([None, None, *[i for i in ids if i != unit_id]]))
        rows.append((unit_id, parent, address, successor))
    return rows


def as_csv(rows: list[tuple[str, str | None, str, str | None]]) -> str:
    return "id,name,parent,address,successor\n" + "".join(
        f"{unit_id},Đơn vị {unit_id},{parent or ''},{address},{successor or ''}\n"
        for unit_id, parent, address, successor in rows)


@settings(max_examples=40)
@given(provinces=st.tuples(province("a.gov.vn"), province("b.gov.vn"), province("c.gov.vn")),
       prefixes=st.lists(st.sampled_from(["a", "b", "bt", "c", "x1"]), min_size=3,
                         max_size=3, unique=True))
def test_a_merge_lists_its_problems_or_imports_whole_and_round_trips(
    provinces: tuple[list[tuple[str, str | None, str, str | None]], ...],
    prefixes: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        paths = []
        for number, rows in enumerate(provinces):
            path = base / f"p{number}.csv"
            path.write_text(as_csv(rows), encoding="utf-8")
            paths.append(path)
        try:
            merged = merge_files(paths, prefixes)
        except MergeRejected as exc:
            assert exc.problems and all(str(problem) for problem in exc.problems)
            event("refused")
            return
        event("merged")
        new_ids = [unit.id for unit in merged.units]
        assert len(new_ids) == len(set(new_ids)) == sum(len(rows) for rows in provinces)
        by_file = {(item.file, item.old_id): item.new_id for item in merged.renamed}
        for path, rows in zip(paths, provinces, strict=True):
            for unit_id, parent, _address, successor in rows:
                unit = next(u for u in merged.units if u.id == by_file[(str(path), unit_id)])
                assert unit.parent == (by_file[(str(path), parent)] if parent else None)
                assert unit.successor == (by_file[(str(path), successor)] if successor
                                          else None)
        text = merged.csv_text()
        with Directory.open(base / "directory.sqlite3") as store:
            summary = store.import_csv(text, actor="property")
            assert (len(summary.created), summary.skipped) == (len(new_ids), ())
            assert store.export_csv() == text
