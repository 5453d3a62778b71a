"""The [audit] configuration model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from audit.config import AuditConfig
from audit.store import AuditLog
from support.audit import make_record


def test_defaults_are_relative_to_the_data_directory() -> None:
    config = AuditConfig()
    assert (config.path, config.keys_dir) == (Path("audit.sqlite3"), Path("keys"))
    assert (config.checkpoint_every_records, config.checkpoint_every_seconds) == (1000, 60.0)
    assert config.time_zone == "Asia/Ho_Chi_Minh"


def test_every_field_is_documented() -> None:
    for name, field in AuditConfig.model_fields.items():
        assert (field.description or "").strip(), name


@pytest.mark.parametrize(("values", "message"), [
    ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
    ({"checkpoint_every_records": 0}, "greater than or equal to 1"),
    ({"colour": "red"}, "Extra inputs"),
])
def test_bad_values_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AuditConfig(**values)  # type: ignore[arg-type]


def test_time_based_checkpoint_when_idle(tmp_path: Path) -> None:
    config = AuditConfig(path=tmp_path / "a.sqlite3", keys_dir=tmp_path / "k",
                         checkpoint_every_records=1000, checkpoint_every_seconds=1e-9)
    with AuditLog.open(config) as log:
        log.record(make_record())
        log.write([make_record(), make_record()])  # due by time: signed at once
        assert log.latest_checkpoint().seq == 3  # type: ignore[union-attr]
    quiet = config.model_copy(update={"checkpoint_every_seconds": 3600})
    with AuditLog.open(quiet) as log:
        # A new schedule is signed at its first commit (verify holds each stretch of
        # unsigned records to the schedule its checkpoint signed); then it is followed.
        log.record(make_record())
        assert log.latest_checkpoint().seq == 4  # type: ignore[union-attr]
        log.record(make_record())
        assert log.latest_checkpoint().seq == 4  # type: ignore[union-attr]
        log.checkpoint_if_due()  # not due yet
        assert log.latest_checkpoint().seq == 4  # type: ignore[union-attr]
