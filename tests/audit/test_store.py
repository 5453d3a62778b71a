"""The store: append-only writes, derived indexes, bad input stored faithfully."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from audit.config import AuditConfig
from audit.errors import AuditError, KeyFileError
from audit.records import AdminEvent, AdminKind, Attachment, Completion, Fate
from audit.schema import MIGRATIONS
from audit.store import AuditLog
from support.audit import T0, make_record, sha


def test_record_and_complete_are_linked_events(backend_db: AuditLog) -> None:
    rid = backend_db.record(make_record())
    cid = backend_db.complete(Completion(record_id=rid, outcome=Fate.RELAYED,
                                       reply="250 2.0.0 Ok: queued as 7Q", ms=3.5))
    rows = list(backend_db.db.query("SELECT seq, kind, record_id, outcome FROM events"))
    assert rows == [
        {"seq": rid, "kind": "message", "record_id": None, "outcome": None},
        {"seq": cid, "kind": "completion", "record_id": rid, "outcome": "relayed"},
    ]


def test_completion_of_unknown_record_is_refused(backend_db: AuditLog) -> None:
    with pytest.raises(AuditError, match="no message record 42"):
        backend_db.complete(Completion(record_id=42, outcome=Fate.RELAYED))


def test_bad_item_in_batch_does_not_sink_the_others(backend_db: AuditLog) -> None:
    results = backend_db.write_each([
        make_record(), Completion(record_id=99, outcome=Fate.RELAYED), make_record(),
    ])
    assert results[0] == 1 and results[2] == 2
    assert isinstance(results[1], AuditError)
    assert backend_db.verify().is_intact


def test_completion_in_the_same_batch_as_its_record(backend_db: AuditLog) -> None:
    assert backend_db.write([make_record(), Completion(record_id=1, outcome=Fate.REJECTED)]) \
        == [1, 2]


def test_memberships_sent_and_received(backend_db: AuditLog) -> None:
    rid = backend_db.record(make_record(sender_unit="stc", recipient_units=["ubnd", "sgd", "ubnd"]))
    rows = {(r["unit_id"], r["role"]) for r in backend_db.db.query(
        "SELECT unit_id, role FROM memberships WHERE record_id = ?", [rid])}
    assert rows == {("stc", "sent"), ("ubnd", "received"), ("sgd", "received")}


def test_admin_events_join_the_chain(backend_db: AuditLog) -> None:
    backend_db.record(make_record())
    eid = backend_db.admin(AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin",
                                    target="q-17", unit_id="stc", details={"reason": "ok"}))
    row = next(backend_db.db.query("SELECT * FROM events WHERE seq = ?", [eid]))
    assert (row["kind"], row["admin_kind"], row["target"]) == ("admin", "quarantine-release",
                                                               "q-17")
    assert backend_db.verify().is_intact


def test_schema_is_migrated_once(audit_config: AuditConfig) -> None:
    AuditLog.open(audit_config).close()
    with AuditLog.open(audit_config) as log:
        names = [r["name"] for r in log.db.query("SELECT name FROM _migrations")]
        assert names == [name for name, _ in MIGRATIONS]
        assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert log.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        sql = log.db.execute("SELECT sql FROM sqlite_master WHERE name='events'").fetchone()[0]
        assert "STRICT" in sql.upper()


# -- bad input, stored faithfully ----------------------------------------------------


def _message(log: AuditLog, rid: int) -> dict[str, object]:
    return next(log.db.query("SELECT * FROM events WHERE seq = ?", [rid]))


def test_nul_bytes_and_lone_surrogates_are_stored_faithfully(backend_db: AuditLog) -> None:
    subject = "Công\x00văn \udcff\ud800 undecodable =?x-unknown?q?abc?="
    rid = backend_db.record(make_record(subject=subject, header_from="a\x00b <x@y.vn>"))
    row = _message(backend_db, rid)
    # Undecodable bytes (surrogateescape) are kept as visible escapes of the bytes.
    assert row["subject"] == "Công\x00văn \\xff\\ud800 undecodable =?x-unknown?q?abc?="
    assert row["header_from"] == "a\x00b <x@y.vn>"
    assert backend_db.verify().is_intact


def test_nul_bytes_in_indexed_values(backend_db: AuditLog) -> None:
    rid = backend_db.record(make_record(
        envelope_recipients=["a\x00b@x.vn", "ÂB@X.VN"], recipient_units=["u\x001"],
        attachments=[Attachment(path="1", filename="a\x00.pdf", size=1, sha256="a" * 64)],
    ))
    detail = json.loads(str(_message(backend_db, rid)["detail"]))
    assert detail["envelope_recipients"] == ["a\x00b@x.vn", "ÂB@X.VN"]
    assert detail["attachments"][0]["filename"] == "a\x00.pdf"
    report = backend_db.verify()
    assert report.is_intact, report.describe()


def test_ten_thousand_recipients(backend_db: AuditLog) -> None:
    recipients = [f"user{i}@xa{i % 50}.example.gov.vn" for i in range(10_000)]
    rid = backend_db.record(make_record(envelope_recipients=recipients,
                                      recipient_units=[f"xa{i}" for i in range(50)]))
    detail = json.loads(str(_message(backend_db, rid)["detail"]))
    assert detail["envelope_recipients"] == recipients
    assert backend_db.db.execute("SELECT count(*) FROM recipients").fetchone()[0] == 10_000
    assert backend_db.verify().is_intact


def test_five_thousand_attachments(backend_db: AuditLog) -> None:
    attachments = [Attachment(path=f"1.{i}", filename=f"tệp {i}.pdf", size=i,
                              sha256=sha(str(i))) for i in range(5000)]
    rid = backend_db.record(make_record(attachments=attachments))
    detail = json.loads(str(_message(backend_db, rid)["detail"]))
    assert len(detail["attachments"]) == 5000
    assert detail["attachments"][4999]["filename"] == "tệp 4999.pdf"
    assert backend_db.db.execute("SELECT count(*) FROM attachments").fetchone()[0] == 5000


# -- failures become AuditError --------------------------------------------------------


def test_read_only_store_gives_audit_error(audit_config: AuditConfig) -> None:
    AuditLog.open(audit_config).close()
    with AuditLog.open_readonly(audit_config.path) as log, \
            pytest.raises(AuditError, match=r"could not append audit events.*readonly"):
        log.record(make_record())


def test_read_only_file_gives_audit_error(audit_config: AuditConfig) -> None:
    AuditLog.open(audit_config).close()
    if os.geteuid() != 0:
        audit_config.path.chmod(0o444)
        undo: list[str] = []
    else:  # root ignores file modes; the immutable attribute stops it
        undo = ["chattr", "-i", str(audit_config.path)]
        if subprocess.run(["chattr", "+i", str(audit_config.path)]).returncode != 0:
            pytest.skip("LOUD SKIP: as root, and this file system refuses chattr +i")
    try:
        with pytest.raises(AuditError):
            AuditLog.open(audit_config).record(make_record())
    finally:
        if undo:
            subprocess.run(undo, check=True)


def test_store_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "audit.sqlite3").mkdir()
    config = AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=tmp_path / "keys")
    with pytest.raises(AuditError, match="could not open for writing"):
        AuditLog.open(config)


def test_locked_store_gives_audit_error(audit_config: AuditConfig) -> None:
    quick = audit_config.model_copy(update={"busy_timeout_ms": 0})
    with AuditLog.open(quick) as log:
        other = sqlite3.connect(audit_config.path)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(AuditError, match="locked"):
                log.record(make_record())
        finally:
            other.rollback()
            other.close()
        assert log.record(make_record()) == 1


def test_not_an_audit_store(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(AuditError, match="not an audit store"):
        AuditLog.open_readonly(path)
    with pytest.raises(AuditError, match="no such file"):
        AuditLog.open_readonly(tmp_path / "missing.sqlite3")


# -- the checkpoint key ----------------------------------------------------------------


def test_key_is_generated_with_mode_0600(audit_config: AuditConfig) -> None:
    AuditLog.open(audit_config).close()
    key = audit_config.keys_dir / "audit-checkpoint.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_key_open_to_group_or_others_is_refused(audit_config: AuditConfig, mode: int) -> None:
    AuditLog.open(audit_config).close()
    key = audit_config.keys_dir / "audit-checkpoint.key"
    key.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600") as info:
        AuditLog.open(audit_config)
    assert info.value.path == key


def test_key_that_is_not_a_key(audit_config: AuditConfig) -> None:
    audit_config.keys_dir.mkdir()
    key = audit_config.keys_dir / "audit-checkpoint.key"
    key.write_text("hello")
    key.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        AuditLog.open(audit_config)


def test_checkpoints_follow_the_schedule(backend_config: AuditConfig) -> None:
    config = backend_config.model_copy(update={"checkpoint_every_records": 10,
                                             "checkpoint_every_seconds": 3600})
    with AuditLog.open(config) as log:
        for i in range(25):
            log.record(make_record(received_at=T0 + timedelta(seconds=i)))
        seqs = [r[0] for r in log.db.execute("SELECT seq FROM checkpoints ORDER BY seq")]
        assert seqs == [1, 11, 21]  # the first write, then every 10 events
        cp = log.checkpoint()
        assert (cp.seq, cp.is_valid()) == (25, True)


def test_an_older_store_is_migrated_on_open(audit_config: AuditConfig) -> None:
    from sqlite_utils import Database

    from audit.schema import migrate

    old = Database(sqlite3.connect(audit_config.path))
    assert migrate(old, MIGRATIONS[:1]) == ["0001-events-indexes-checkpoints"]
    old.close()
    with AuditLog.open(audit_config) as log:
        columns = {c.name for c in log.db.table("recipients").columns}
        assert "unit_id" in columns
        log.record(make_record())
        assert log.verify().is_intact
