"""mailbase/groupcommit.py: writes from many sessions committed in batches by one thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from mailbase.groupcommit import GroupCommit, GroupCommitClosed


class Store:
    """A commit function that records its batches; one batch can be held open."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def commit(self, items: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(items))
        self.entered.set()
        self.release.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_writes_queued_during_a_commit_share_the_next_one() -> None:
    store = Store()
    writer: GroupCommit[int, int] = GroupCommit(store.commit, name="test")
    store.release.clear()
    first = asyncio.ensure_future(writer.submit(0))
    await asyncio.to_thread(store.entered.wait)  # the first batch is committing
    rest = [asyncio.ensure_future(writer.submit(i)) for i in (2, 4, 6)]
    await asyncio.sleep(0)  # let them queue (no timing: the commit is held open)
    store.release.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [20, 40, 60]
    assert store.batches == [[0], [2, 4, 6]]
    writer.close()


async def test_an_item_that_failed_raises_for_its_writer_only() -> None:
    store = Store()
    writer: GroupCommit[int, int] = GroupCommit(store.commit, name="test")
    results = await asyncio.gather(writer.submit(1), writer.submit(2),
                                   return_exceptions=True)
    assert isinstance(results[0], ValueError) and str(results[0]) == "odd 1"
    assert results[1] == 20
    writer.close()


async def test_a_commit_that_raises_fails_its_whole_batch_and_the_writer_goes_on() -> None:
    calls: list[list[str]] = []

    def commit(items: Sequence[str]) -> list[str | Exception]:
        calls.append(list(items))
        if "bad" in items:
            raise OSError("disk gone")
        return list(items)

    writer: GroupCommit[str, str] = GroupCommit(commit, name="test")
    with pytest.raises(OSError, match="disk gone"):
        await writer.submit("bad")
    assert await writer.submit("good") == "good"
    writer.close()


async def test_a_commit_that_miscounts_its_outcomes_fails_the_batch() -> None:
    writer: GroupCommit[int, int] = GroupCommit(lambda items: [], name="test")
    with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
        await writer.submit(1)
    writer.close()


async def test_no_thread_before_the_first_write_and_none_after_close() -> None:
    writer: GroupCommit[int, int] = GroupCommit(Store().commit, name="congvu-test-gc")
    names = {t.name for t in threading.enumerate()}
    assert "congvu-test-gc" not in names
    assert await writer.submit(4) == 40
    assert "congvu-test-gc" in {t.name for t in threading.enumerate()}
    writer.close()
    assert "congvu-test-gc" not in {t.name for t in threading.enumerate()}
    with pytest.raises(GroupCommitClosed):
        await writer.submit(4)


def test_sessions_on_several_event_loops_each_get_their_own_result() -> None:
    writer: GroupCommit[int, int] = GroupCommit(Store().commit, name="test")
    results: dict[int, int] = {}

    def session(item: int) -> None:
        results[item] = asyncio.run(writer.submit(item))

    threads = [threading.Thread(target=session, args=(i,)) for i in (2, 4, 8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert results == {2: 20, 4: 40, 8: 80}
