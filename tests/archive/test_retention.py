"""How long a message is kept: the longest class covering its direction and any of its
units (or a unit above one) wins; none covering it, keep_years; the same bytes named by
several records stay until the last expires."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from archive import ArchiveConfig, ArchivedMessage, Retention

PARENTS = {"sotc": "ubnd-tinh", "snv": "ubnd-tinh", "phong-ns": "snv", "ubnd-tinh": None}
T = datetime(2020, 2, 29, 8, 0, tzinfo=UTC)


def chain(unit: str) -> list[str]:
    found = [unit]
    while PARENTS.get(found[-1]) is not None:
        found.append(PARENTS[found[-1]])  # type: ignore[arg-type]
    return found


def retention(**config: Any) -> Retention:
    return Retention(ArchiveConfig.model_validate({
        "keep_years": 10,
        "retention": [
            {"name": "5-nam", "years": 5, "units": ["snv"], "directions": ["inbound"]},
            {"name": "vinh-vien", "years": "permanent", "units": ["ubnd-tinh"],
             "directions": ["outbound"]},
            {"name": "20-nam", "years": 20, "units": ["phong-ns"]},
        ], **config}), chain)


def msg(record_id: int, direction: str, *units: str, sha: str = "a" * 64,
        at: datetime = T) -> ArchivedMessage:
    return ArchivedMessage(record_id, sha, at, direction, units)


def test_the_longest_class_covering_the_message_wins() -> None:
    keep = retention()
    assert keep.keeps(msg(1, "inbound", "snv")) == ("5-nam", 5)
    # a unit below snv: its own 20 years outlast snv's 5
    assert keep.keeps(msg(2, "inbound", "phong-ns")) == ("20-nam", 20)
    # sent by a department of the province: permanent, whatever its recipients' classes
    assert keep.keeps(msg(3, "outbound", "sotc", "snv")) == ("vinh-vien", "permanent")
    assert keep.until(msg(3, "outbound", "sotc")) is None
    # no class covers sotc's inbound mail: keep_years
    assert keep.keeps(msg(4, "inbound", "sotc")) == ("default", 10)
    # a unit the directory does not (or no longer) know
    assert keep.keeps(msg(5, "inbound", "xa-cu")) == ("default", 10)


def test_a_class_shorter_than_keep_years_still_decides_for_what_it_covers() -> None:
    assert retention(keep_years="permanent").keeps(msg(1, "inbound", "snv")) == ("5-nam", 5)


def test_expiry_counts_whole_years_from_receipt_and_29_february_becomes_28() -> None:
    keep = retention()
    assert keep.until(msg(1, "inbound", "snv")) == datetime(2025, 2, 28, 8, 0, tzinfo=UTC)
    message = msg(1, "inbound", "snv")
    assert keep.expired([message], datetime(2025, 2, 28, 7, 59, tzinfo=UTC)) == []
    [gone] = keep.expired([message], datetime(2025, 2, 28, 8, 0, tzinfo=UTC))
    assert (gone.sha256, gone.record_ids, gone.retention) == ("a" * 64, (1,), "5-nam")


def test_bytes_named_by_several_records_stay_until_the_last_expires() -> None:
    keep = retention()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    old = msg(1, "inbound", "snv")
    again = msg(2, "inbound", "snv", at=datetime(2024, 1, 1, tzinfo=UTC))
    forever = msg(3, "outbound", "sotc", sha="b" * 64)
    forever_too = msg(4, "inbound", "snv", sha="b" * 64)
    assert keep.expired([old, again, forever_too, forever], now) == []
    [gone] = keep.expired([old, again], datetime(2029, 1, 2, tzinfo=UTC))
    assert gone.record_ids == (1, 2)


def test_bad_classes_are_refused_with_their_key() -> None:
    with pytest.raises(ValidationError, match="years must be 1 to 500"):
        ArchiveConfig.model_validate({"retention": [{"name": "x", "years": 0}]})
    with pytest.raises(ValidationError, match=r"retention\.0\.years"):
        ArchiveConfig.model_validate({"retention": [{"name": "x", "years": "forever"}]})
    with pytest.raises(ValidationError, match="names must be unique"):
        ArchiveConfig.model_validate({"retention": [{"name": "x", "years": 1},
                                                    {"name": "x", "years": 2}]})
