"""Checkpoint keys that count: forgeries by someone without the key fail `verify`.

Each forgery is done on the real file with plain sqlite3 (tests/support/forgery.py),
and checked through the real `congvu audit verify` command line.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from audit.chain import KEY_FILE, CheckpointSigner, canonical, row_hash
from audit.cli import commands
from audit.config import AuditConfig
from audit.keys import fingerprint, own_public_key, parse_pin
from audit.records import AdminEvent, AdminKind, Completion, Fate
from audit.rows import message_rows
from audit.schema import MIGRATIONS, migrate
from audit.store import AuditLog
from support.audit import T0, make_record
from support.forgery import rechain


def _cli(config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: config)
    assert isinstance(group, click.Group)
    return group


def verify(config: AuditConfig, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_cli(config), ["verify", *args])
    return result.exit_code, result.output


def own(config: AuditConfig) -> str:
    key = own_public_key(config.keys_dir)
    assert key is not None
    return fingerprint(key)


@pytest.fixture
def store(audit_config: AuditConfig) -> AuditConfig:
    """Ten messages, checkpoints every 4 events, dated in the past."""
    config = audit_config.model_copy(update={"checkpoint_every_records": 4,
                                             "checkpoint_every_seconds": 86400})
    with AuditLog.open(config) as log:
        for i in range(10):
            log.record(make_record(received_at=T0 + timedelta(hours=i), subject=f"Số {i}"))
    return config


# -- the happy paths -------------------------------------------------------------------


def test_own_key_is_trusted_without_a_pin_and_says_so(store: AuditConfig) -> None:
    code, out = verify(store)
    assert code == 0, out
    assert out.startswith("intact: 10 events (seq 1-10), 3 signed checkpoints checked")
    assert f"note: no checkpoint key is pinned: trusted {own(store)} " in out


def test_pinned_key_in_the_configuration(store: AuditConfig) -> None:
    pinned = store.model_copy(update={"checkpoint_public_keys": [own(store)]})
    code, out = verify(pinned)
    assert code == 0, out
    assert "not pinned" not in out


def test_a_raw_key_in_hex_is_a_pin_too(store: AuditConfig) -> None:
    raw = own_public_key(store.keys_dir)
    assert raw is not None
    assert parse_pin(raw) == own(store)
    with pytest.raises(ValueError, match="sha256:<64 hex digits>"):
        parse_pin("sha256:1234")


def test_not_yet_covered_events_are_reported_not_refused(store: AuditConfig) -> None:
    # A crash leaves events after the last checkpoint: informational, not tampering.
    rechain(store.path, keep_checkpoints_below=9)  # drops the checkpoint at 9
    code, out = verify(store)
    assert code == 0, out
    assert "note: not yet covered by a checkpoint: 5 events, newest at " \
           f"{(T0 + timedelta(hours=9)).isoformat(timespec='microseconds')}" in out


# -- forgeries -------------------------------------------------------------------------


def test_rechained_and_resigned_with_a_new_key(store: AuditConfig, tmp_path: Path) -> None:
    forger = rechain(store.path, edit={3: {"envelope_sender": "ke-gia-mao@x.vn"}},
                     sign_with=tmp_path / "forger")
    assert forger is not None
    code, out = verify(store)
    assert code == 1
    assert out.startswith(f"NOT intact: the checkpoint at record 10 is signed by key "
                          f"{fingerprint(forger)}, which is not trusted (trusted: {own(store)}")


def test_checkpoints_deleted(store: AuditConfig) -> None:
    rechain(store.path, edit={3: {"subject": "đã sửa"}})
    code, out = verify(store)
    assert code == 1
    assert out.startswith("NOT intact: the store holds 10 events and no signed checkpoint")


def test_record_removed_and_renumbered_then_resigned(store: AuditConfig,
                                                    tmp_path: Path) -> None:
    rechain(store.path, remove=6, sign_with=tmp_path / "forger")
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*), max(seq) FROM events").fetchone() == (9, 9)
    code, out = verify(store)
    assert code == 1
    assert "the checkpoint at record 9 is signed by key sha256:" in out


def test_record_removed_and_renumbered_checkpoints_deleted(store: AuditConfig) -> None:
    rechain(store.path, remove=2)
    code, out = verify(store)
    assert (code, out.splitlines()[0]) == (1, (
        "NOT intact: the store holds 9 events and no signed checkpoint: its checkpoints "
        "were deleted (every writer signs one with its first event)"))


def test_a_key_that_is_not_pinned(store: AuditConfig, tmp_path: Path) -> None:
    other = fingerprint(CheckpointSigner.load_or_create(tmp_path / "other").public_key)
    pinned = store.model_copy(update={"checkpoint_public_keys": [other]})
    code, out = verify(pinned)
    assert code == 1
    assert f"is signed by key {own(store)}, which is not trusted (trusted: {other} " \
           "(pinned in [audit] checkpoint_public_keys))" in out


def test_inspector_pins_with_key_and_no_configuration(store: AuditConfig,
                                                      tmp_path: Path) -> None:
    # The inspector's machine: no key file, no pins; only the store copy and --key.
    inspector = AuditConfig(path=tmp_path / "nowhere.sqlite3", keys_dir=tmp_path / "none")
    code, out = verify(inspector, "--store", str(store.path))
    assert code == 1
    assert "no key is trusted: this host has no audit-checkpoint.key" in out
    code, out = verify(inspector, "--store", str(store.path), "--key", own(store))
    assert code == 0, out
    assert "not pinned" not in out
    forger = rechain(store.path, edit={2: {"subject": "x"}}, sign_with=tmp_path / "forger")
    assert forger is not None
    code, out = verify(inspector, "--store", str(store.path), "--key", own(store))
    assert code == 1 and "re-signed" in out
    # --key replaces the configured pins, it does not add to them.
    code, out = verify(store, "--key", fingerprint(forger))
    assert code == 0, out
    code, out = verify(inspector, "--store", str(store.path), "--key", "nonsense")
    assert code == 2 and "--key: 'nonsense' is not a checkpoint key" in out


def test_schedule_gap_in_records(store: AuditConfig) -> None:
    # A live rewrite: records 6-10 changed and re-chained, the checkpoint at 9 dropped;
    # the running service then signs the forged chain at its next commit.
    rechain(store.path, edit={6: {"subject": "đã sửa"}}, keep_checkpoints_below=9)
    with AuditLog.open(store) as log:
        log.record(make_record(received_at=T0 + timedelta(hours=11)))
    code, out = verify(store)
    assert (code, out.splitlines()[0]) == (1, (
        "NOT intact: 5 records after the checkpoint at record 5 went unsigned, but its "
        "schedule signs every 4: the checkpoints between it and record 11 were removed"))


def test_schedule_gap_in_time(audit_config: AuditConfig) -> None:
    config = audit_config.model_copy(update={"checkpoint_every_seconds": 60})
    with AuditLog.open(config) as log:
        log.record(make_record(received_at=T0))  # signed: the first event
        log.complete(Completion(record_id=1, outcome=Fate.RELAYED))
        log.admin(AdminEvent(kind=AdminKind.DIRECTORY_CHANGE, actor="admin"))
        assert log.latest_checkpoint().seq == 1  # type: ignore[union-attr]
    # A completion dated a day after the checkpoint, which no checkpoint signed: the
    # schedule (60 s) would have signed it at its commit.
    late = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="microseconds")
    rechain(config.path, edit={2: {"at": late}}, keep_checkpoints_below=2)
    with AuditLog.open(config) as log:
        log.checkpoint()  # the service signs the forged chain later
    code, out = verify(config)
    assert code == 1
    assert out.startswith(f"NOT intact: record 2 (at {late}) went unsigned although the "
                          "checkpoint at record 1")


def test_service_stop_uncovered(audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        log.record(make_record())
        stop = log.admin(AdminEvent(kind=AdminKind.SERVICE_STOP, actor="system"))
        cp = log.latest_checkpoint()
        assert cp is not None and cp.seq == stop  # a clean stop is signed at once
    assert verify(audit_config)[0] == 0
    with sqlite3.connect(audit_config.path) as conn:
        conn.execute("DELETE FROM checkpoints WHERE seq = ?", (stop,))
    code, out = verify(audit_config)
    assert code == 1
    assert out.startswith(f"NOT intact: the service stopped cleanly at record {stop}")


# -- keys enrolled by rotation and by other servers ------------------------------------


def test_key_rotation(store: AuditConfig, tmp_path: Path) -> None:
    old = own(store)
    group = _cli(store)
    result = CliRunner().invoke(group, ["key", "rotate", "--actor", "root"])
    assert result.exit_code == 0, result.output
    new = own(store)
    assert new != old
    assert f"old key {old}\nnew key {new}\n" in result.output
    assert (store.keys_dir / KEY_FILE).stat().st_mode & 0o777 == 0o600
    # The own (new) key vouches for the rotation event, which names the old key.
    code, out = verify(store)
    assert code == 0, out
    assert f"accepted key {old} without a pin: replaced at record 11 (rotation)" in out
    # An inspector who pinned the old key accepts the new one through the old key's
    # checkpoint of the enrolment.
    code, out = verify(store, "--key", old)
    assert code == 0, out
    assert f"accepted key {new} without a pin: enrolled at record 11 (rotation), " \
           f"confirmed by a checkpoint of {old}" in out
    result = CliRunner().invoke(group, ["checkpoint", "export", "--out",
                                        str(tmp_path / "cp.json")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"key {new}"
    with AuditLog.open_readonly(store.path, trust=store.key_trust()) as log:
        kinds = [e["kind"] for e in log.admin_events()]
    assert kinds == ["key-rotation", "audit-key-enrolled"]


def test_a_second_server_enrols_its_key(store: AuditConfig, tmp_path: Path) -> None:
    second = store.model_copy(update={"keys_dir": tmp_path / "second-keys"})
    with AuditLog.open(second) as log:  # opening a store others sign enrols the key
        log.record(make_record(received_at=T0 + timedelta(hours=20)))
    theirs = own(second)
    # Only the second server's own checkpoints cover its enrolment: not trusted yet.
    code, out = verify(store)
    assert code == 1 and f"signed by key {theirs}, which is not trusted" in out
    with AuditLog.open(store) as log:
        log.checkpoint()  # this server's checkpoint now covers the enrolment
    code, out = verify(store)
    assert code == 0, out
    assert f"accepted key {theirs} without a pin: enrolled at record 11 (another server " \
           f"writing to this store), confirmed by a checkpoint of {own(store)}" in out


def test_forged_enrolment_of_a_forgers_key_is_not_trusted(store: AuditConfig,
                                                          tmp_path: Path) -> None:
    forger = CheckpointSigner.load_or_create(tmp_path / "forger")
    with sqlite3.connect(store.path) as conn:
        head = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC").fetchone()
        row = {"kind": "admin", "at": T0.isoformat(), "admin_kind": "audit-key-enrolled",
               "actor": "system", "target": "x", "prev_hash": head[1],
               "detail": canonical({"key": forger.public_key, "reason": "rotation"})}
        row["hash"] = row_hash(row)
        conn.execute("INSERT INTO events (seq, kind, at, admin_kind, actor, target, detail, "
                     "prev_hash, hash) VALUES (:seq, :kind, :at, :admin_kind, :actor, "
                     ":target, :detail, :prev_hash, :hash)", {**row, "seq": head[0] + 1})
        cp = forger.sign(head[0] + 1, row["hash"], T0.isoformat())
        conn.execute("INSERT INTO checkpoints (seq, hash, at, public_key, signature) "
                     "VALUES (?, ?, ?, ?, ?)", (cp.seq, cp.hash, cp.at, cp.public_key,
                                                cp.signature))
    code, out = verify(store)
    assert code == 1 and f"signed by key {fingerprint(forger.public_key)}" in out


# -- compatibility ---------------------------------------------------------------------


def test_a_store_written_by_the_previous_release(audit_config: AuditConfig) -> None:
    """Rows and a checkpoint as the release before signed schedules wrote them."""
    db = sqlite3.connect(audit_config.path)
    from sqlite_utils import Database

    assert migrate(Database(db), MIGRATIONS[:3])[-1] == "0003-document-verdicts"
    signer = CheckpointSigner.load_or_create(audit_config.keys_dir)
    prev, columns = "0" * 64, None
    for seq in (1, 2, 3):
        rows = message_rows(make_record(received_at=T0 + timedelta(minutes=seq)))
        event = dict(rows.event)
        event.update(seq=seq, prev_hash=prev)
        db.executemany("INSERT INTO memberships VALUES (?, ?, ?, ?)",
                       [(seq, unit, role, event["at"]) for unit, role in rows.memberships])
        db.executemany("INSERT INTO recipients VALUES (?, ?, ?, ?)",
                       [(seq, i, *r) for i, r in enumerate(rows.recipients)])
        db.executemany("INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [(seq, i, *a) for i, a in enumerate(rows.attachments)])
        event["hash"] = prev = row_hash(event)
        columns = list(event)
        db.execute(f"INSERT INTO events ({', '.join(columns)}) VALUES "
                   f"({', '.join('?' * len(columns))})", [event[c] for c in columns])
    at = T0.isoformat()
    # The old signature covered exactly {"at", "hash", "seq"}.
    old_signature = signer._key.sign(canonical({"at": at, "hash": prev, "seq": 3}).encode())
    db.execute("INSERT INTO checkpoints (seq, hash, at, public_key, signature) VALUES "
               "(?, ?, ?, ?, ?)", (3, prev, at, signer.public_key, old_signature.hex()))
    db.commit()
    db.close()
    with AuditLog.open(audit_config) as log:  # migrates, keeps the old rows' hashes
        assert log.verify().is_intact
        log.record(make_record(received_at=T0 + timedelta(minutes=9)))
        log.complete(Completion(record_id=4, outcome=Fate.RELAYED))
        cps = log.db.execute("SELECT seq, every_records FROM checkpoints ORDER BY seq").fetchall()
        assert cps == [(3, None), (4, 1000)]  # a new schedule is signed at once
        report = log.verify()
    assert report.is_intact, report.describe()
    exported = json.loads(json.dumps({"format": "congvu-audit-checkpoint/1", "seq": 3,
                                      "hash": prev, "at": at, "public_key": signer.public_key,
                                      "signature": old_signature.hex()}))
    (audit_config.path.parent / "old.json").write_text(json.dumps(exported))
    code, out = verify(audit_config, "--checkpoint", str(audit_config.path.parent / "old.json"))
    assert code == 0, out
