"""The edge models: what is accepted, what is refused, and how it is normalised."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from audit.records import Attachment, Completion, Fate
from support.audit import make_record, sha


def test_times_are_stored_in_utc() -> None:
    local = datetime(2026, 11, 3, 9, 30, tzinfo=timezone(timedelta(hours=7)))
    rec = make_record(received_at=local)
    assert rec.received_at.utcoffset() == timedelta(0)
    assert rec.received_at.hour == 2


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="offset"):
        make_record(received_at=datetime(2026, 11, 3, 9, 30))


def test_sha256_must_be_hex_and_is_lowered() -> None:
    upper = sha("x").upper()
    assert Attachment(path="1", size=1, sha256=upper).sha256 == upper.lower()
    with pytest.raises(ValidationError, match="64 hexadecimal"):
        Attachment(path="1", size=1, sha256="abc")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        make_record(colour="blue")


def test_completion_outcomes_are_a_closed_set() -> None:
    with pytest.raises(ValidationError):
        Completion(record_id=1, outcome="delivered")  # type: ignore[arg-type]
    assert Completion(record_id=1, outcome=Fate.RELAYED).outcome is Fate.RELAYED


def test_fates_keep_the_values_stores_hold() -> None:
    # stored in every completion since the first store: a value is never renamed
    assert [fate.value for fate in Fate] == [
        "relayed", "stripped", "quarantined", "rejected", "tempfailed"]
    assert Completion.model_validate({"record_id": 1, "outcome": "stripped"}).outcome \
        is Fate.STRIPPED


def test_recipient_unit_of_must_name_recipients_and_joins_units() -> None:
    rec = make_record(envelope_recipients=["a@x.vn", "b@y.vn"], recipient_units=["x"],
                      recipient_unit_of={"a@x.vn": "x", "b@y.vn": "y"})
    assert rec.recipient_units == ["x", "y"]
    with pytest.raises(ValidationError, match="not envelope recipients"):
        make_record(recipient_unit_of={"nobody@z.vn": "z"})
