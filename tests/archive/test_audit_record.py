"""The archived message's SHA-256 in its audit record: chained in the record's detail
only when a message was archived, so a store the previous release wrote opens and
verifies unchanged, and the previous release still verifies a store this one wrote
(rollback is reinstalling it). The previous release's audit/ runs from `git archive`
in its own interpreter."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from audit import Action, AuditConfig, AuditLog, AuditRecord, Direction, Role

REPO = Path(__file__).resolve().parents[2]
# The last commit before records named archived messages.
PREVIOUS = "b30eba3d9db47f2e0867e29f7fc6b518747c37b7"
SHA = hashlib.sha256(b"the bytes as relayed").hexdigest()

_PREVIOUS_RUN = """
import json, sys
from datetime import UTC, datetime
from pathlib import Path
import audit
from audit import Action, AuditConfig, AuditLog, AuditRecord, Direction, Role
assert audit.__file__.startswith(sys.argv[1]), audit.__file__
config = AuditConfig(path=Path(sys.argv[2]), keys_dir=Path(sys.argv[3]))
with AuditLog.open(config) as log:
    if sys.argv[4] == "write":
        log.record(AuditRecord(
            received_at=datetime(2026, 11, 3, 2, 30, tzinfo=UTC),
            decided_at=datetime(2026, 11, 3, 2, 30, 1, tzinfo=UTC),
            listener="submission", role=Role.OUTBOUND, direction=Direction.OUTBOUND,
            envelope_sender="sotc@lamdong.gov.vn", envelope_recipients=["snv@lamdong.gov.vn"],
            subject="Công văn số 6", size=1234, action=Action.ACCEPT, processing_ms=3.0,
            sender_unit="sotc", recipient_units=["snv"]))
    report = log.verify()
print(json.dumps({"intact": report.is_intact, "detail": str(report)}))
"""


def record(**overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "received_at": datetime(2026, 11, 4, 2, 30, tzinfo=UTC),
        "decided_at": datetime(2026, 11, 4, 2, 30, 1, tzinfo=UTC),
        "listener": "submission", "role": Role.OUTBOUND, "direction": Direction.OUTBOUND,
        "envelope_sender": "sotc@lamdong.gov.vn", "envelope_recipients": ["snv@lamdong.gov.vn"],
        "subject": "Công văn số 7", "size": 1234, "action": Action.ACCEPT,
        "processing_ms": 4.5, "sender_unit": "sotc", "recipient_units": ["snv"],
    }
    return AuditRecord(**{**values, **overrides})


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's audit/ and mailbase/, unpacked."""
    present = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{PREVIOUS}^{{commit}}"],
                             capture_output=True)
    if present.returncode != 0:
        pytest.skip(f"LOUD SKIP: the previous release's code is commit {PREVIOUS}, which "
                    "this checkout does not have (a shallow clone): fetch the history")
    tree = tmp_path_factory.mktemp("previous")
    packed = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS, "audit", "mailbase"],
                            capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(packed)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def run_previous(tree: Path, config: AuditConfig, what: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _PREVIOUS_RUN, str(tree), str(config.path),
         str(config.keys_dir), what],
        cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
        text=True)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.slow
def test_a_store_the_previous_release_wrote_takes_archived_records_both_ways(
        previous: Path, audit_config: AuditConfig) -> None:
    assert run_previous(previous, audit_config, "write")["intact"]
    with AuditLog.open(audit_config) as log:  # this release, as after an upgrade
        [old] = list(log.archived())
        old_id = old.record_id
        new_id = log.record(record(archived_sha256=SHA))
        plain_id = log.record(record(subject="không lưu"))
        assert log.verify().is_intact
        assert "archived_sha256" not in log.show(old_id)
        assert log.show(new_id)["archived_sha256"] == SHA
        assert [(r.record_id, r.sha256) for r in log.archived()] == [
            (old.record_id, None), (new_id, SHA), (plain_id, None)]
        [new] = log.archived(record_id=new_id)
        assert (new.sha256, new.direction, new.units) == (SHA, "outbound", ("sotc", "snv"))
        assert new.received_at == datetime(2026, 11, 4, 2, 30, tzinfo=UTC)
        assert list(log.archived(record_id=new_id + 100)) == []
        stored = dict(log.db.conn.execute(
            "SELECT seq, detail FROM events WHERE kind = 'message'").fetchall())
    assert old.sha256 is None
    assert f'"archived_sha256":"{SHA}"' in stored[new_id]
    assert "archived_sha256" not in stored[plain_id]
    # rollback: the previous release verifies the chain this one extended
    checked = run_previous(previous, audit_config, "verify")
    assert checked["intact"], checked["detail"]


def test_a_changed_archived_sha256_breaks_the_chain(audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        rid = log.record(record(archived_sha256=SHA))
        log.db.conn.execute("UPDATE events SET detail = replace(detail, ?, ?) WHERE seq = ?",
                            (SHA, "0" * 64, rid))
        log.db.conn.commit()
        assert not log.verify().is_intact


def test_an_archived_sha256_must_be_one() -> None:
    with pytest.raises(ValidationError, match="64 lower-case hexadecimal"):
        record(archived_sha256=SHA.upper())
    with pytest.raises(ValidationError, match="64 lower-case hexadecimal"):
        record(archived_sha256="../" + SHA[3:])
