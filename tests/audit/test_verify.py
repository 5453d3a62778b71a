"""Tamper evidence: plain sqlite3 edits are caught and the record is named."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from audit.chain import Checkpoint
from audit.config import AuditConfig
from audit.errors import AuditError
from audit.records import Completion, Fate
from audit.store import AuditLog
from support.audit import T0, make_record


@pytest.fixture
def chain(audit_config: AuditConfig) -> AuditConfig:
    """A store of 10 messages and 2 completions; checkpoints every 4 events."""
    config = audit_config.model_copy(update={"checkpoint_every_records": 4,
                                             "checkpoint_every_seconds": 86400})
    with AuditLog.open(config) as log:
        for i in range(10):
            log.record(make_record(received_at=T0 + timedelta(days=i), subject=f"Số {i}"))
        log.complete(Completion(record_id=3, outcome=Fate.RELAYED, reply="250 ok"))
        log.complete(Completion(record_id=4, outcome=Fate.QUARANTINED))
    return config


def _tamper(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()


def _verify(config: AuditConfig, exported: Checkpoint | None = None) -> tuple[bool, str]:
    with AuditLog.open_readonly(config.path, trust=config.key_trust()) as log:
        report = log.verify(exported=exported)
    return report.is_intact, report.describe()


def test_untouched_chain_is_intact(chain: AuditConfig) -> None:
    ok, text = _verify(chain)
    assert ok, text
    assert "intact: 12 events (seq 1-12)" in text


def test_changed_field_is_named(chain: AuditConfig) -> None:
    _tamper(chain.path, "UPDATE events SET subject = 'Số 99' WHERE seq = 5")
    assert _verify(chain) == (False, "NOT intact: record 5 was changed "
                                     "(its content does not match its hash)")


def test_changed_detail_json_is_named(chain: AuditConfig) -> None:
    _tamper(chain.path, "UPDATE events SET detail = replace(detail, 'ubnd', 'xyz') "
                        "WHERE seq = 7")
    assert _verify(chain)[1].startswith("NOT intact: record 7 was changed")


def test_deleted_row_is_named(chain: AuditConfig) -> None:
    _tamper(chain.path, "DELETE FROM events WHERE seq = 6")
    assert _verify(chain) == (False, "NOT intact: record(s) 6 were removed "
                                     "(the chain breaks before record 7)")


def test_inserted_row_is_named(chain: AuditConfig) -> None:
    # Make room at 6 by shifting the rest up, then copy record 2 in as 6.
    _tamper(
        chain.path,
        "UPDATE events SET seq = seq + 100 WHERE seq >= 6",
        "UPDATE events SET seq = seq - 99 WHERE seq >= 106",
        "INSERT INTO events SELECT 6, kind, at, record_id, decided_at, listener, role, "
        "direction, client_address, client_helo, queue_id, message_id, envelope_sender, "
        "header_from, 'forged', size, action, dkim, smime, processing_ms, sender_unit, "
        "outcome, reply, admin_kind, actor, target, detail, prev_hash, hash, chain "
        "FROM events WHERE seq = 2",
    )
    ok, text = _verify(chain)
    assert not ok
    assert text == "NOT intact: record 6 was changed (its content does not match its hash)"


def test_inserted_row_with_a_recomputed_hash_is_named(chain: AuditConfig) -> None:
    # A forger who knows the hash rule: the inserted row is self-consistent.
    from audit.chain import row_hash

    conn = sqlite3.connect(chain.path)
    conn.row_factory = sqlite3.Row
    with conn:
        conn.execute("UPDATE events SET seq = seq + 100 WHERE seq >= 6")
        conn.execute("UPDATE events SET seq = seq - 99 WHERE seq >= 106")
        row = dict(conn.execute("SELECT * FROM events WHERE seq = 5").fetchone())
        row.update(seq=6, subject="forged", prev_hash=row["hash"])
        row["hash"] = row_hash(row)
        conn.execute(f"INSERT INTO events ({', '.join(row)}) VALUES "
                     f"({', '.join('?' * len(row))})", list(row.values()))
    conn.close()
    assert _verify(chain) == (False, "NOT intact: record 6 was inserted "
                                     "(the chain continues without it)")


def test_reordered_rows_are_named(chain: AuditConfig) -> None:
    _tamper(
        chain.path,
        "UPDATE events SET seq = 1000 WHERE seq = 5",
        "UPDATE events SET seq = 5 WHERE seq = 6",
        "UPDATE events SET seq = 6 WHERE seq = 1000",
    )
    assert _verify(chain) == (False, "NOT intact: records 5 and 6 were reordered")


def test_rows_removed_from_the_end_before_a_checkpoint(chain: AuditConfig) -> None:
    _tamper(chain.path, "DELETE FROM events WHERE seq >= 8")
    ok, text = _verify(chain)
    assert not ok
    assert "records 8-9 were removed from the end" in text


def test_forged_checkpoint_is_caught(chain: AuditConfig) -> None:
    _tamper(chain.path, "UPDATE checkpoints SET hash = substr(hash, 2) || '0' WHERE seq = 5")
    assert _verify(chain) == (False, "NOT intact: the checkpoint at record 5 has a bad "
                                     "signature")


def test_exported_checkpoint_proves_the_tail(chain: AuditConfig) -> None:
    with AuditLog.open(chain) as log:
        exported = Checkpoint.from_json(log.checkpoint().to_json())
    assert exported.seq == 12
    # Without the export, removing the last rows and their checkpoint goes unseen...
    _tamper(chain.path, "DELETE FROM events WHERE seq >= 11",
            "DELETE FROM checkpoints WHERE seq >= 10")
    assert _verify(chain)[0]
    # ...with it, it does not.
    assert _verify(chain, exported) == (
        False, "NOT intact: records up to 12 were removed from the end (the exported "
               "checkpoint covers record 12)")


def test_exported_checkpoint_with_a_bad_signature(chain: AuditConfig) -> None:
    with AuditLog.open(chain) as log:
        cp = log.checkpoint()
    forged = Checkpoint(cp.seq, "0" * 64, cp.at, cp.public_key, cp.signature)
    assert _verify(chain, forged) == (
        False, "NOT intact: the exported checkpoint's signature is not valid")


def test_bad_checkpoint_file() -> None:
    with pytest.raises(AuditError, match="not a congvu audit checkpoint"):
        Checkpoint.from_json('{"seq": 1}')
    with pytest.raises(AuditError, match="not a congvu audit checkpoint"):
        Checkpoint.from_json("not json")


# -- retention ---------------------------------------------------------------------------


def test_prune_keeps_the_chain_verifiable(chain: AuditConfig) -> None:
    with AuditLog.open(chain) as log:
        before_prune = log.checkpoint()
        removed = log.prune(T0 + timedelta(days=5))  # records 1-5 are older
        assert removed == 5
        report = log.verify()
        assert report.is_intact, report.describe()
        assert report.first_seq == 6
        assert "records 1-5 were removed by retention" in report.notes
        kinds = [r[0] for r in log.db.execute("SELECT admin_kind FROM events WHERE kind='admin'")]
        assert kinds == ["prune"]
        assert log.db.execute("SELECT min(record_id) FROM memberships").fetchone()[0] == 6
        # An export taken before the prune still verifies the part that is left.
        assert log.verify(exported=before_prune).is_intact


def test_prune_everything_then_write_again(chain: AuditConfig) -> None:
    with AuditLog.open(chain) as log:
        assert log.prune(T0 + timedelta(days=400)) == 12
        log.record(make_record())
        report = log.verify()
        assert report.is_intact, report.describe()
        assert (report.first_seq, report.last_seq) == (13, 14)


def test_prune_with_nothing_old(chain: AuditConfig) -> None:
    with AuditLog.open(chain) as log:
        assert log.prune(T0 - timedelta(days=1)) == 0


def test_removing_the_pruned_boundary_checkpoint_is_caught(chain: AuditConfig) -> None:
    with AuditLog.open(chain) as log:
        log.prune(T0 + timedelta(days=5))
    _tamper(chain.path, "DELETE FROM checkpoints WHERE seq = 5")
    ok, text = _verify(chain)
    assert not ok
    assert "records 1-5 are missing and no signed checkpoint" in text


# -- the query indexes are checked against the chained rows -------------------------------


@pytest.mark.parametrize(("statement", "expected"), [
    ("DELETE FROM memberships WHERE record_id = 4 AND role = 'received'",
     "the memberships index lost or changed an entry of record 4 (ubnd, received"),
    ("UPDATE memberships SET unit_id = 'other' WHERE record_id = 6 AND role = 'sent'",
     "the memberships index lost or changed an entry of record 6 (stc, sent"),
    ("INSERT INTO memberships VALUES (2, 'spy', 'received', '2026-11-04')",
     "the memberships index has an entry record 2 does not carry (spy, received"),
    ("UPDATE attachments SET sha256 = '00' WHERE record_id = 3",
     "the attachments index lost or changed an entry of record 3"),
    ("DELETE FROM recipients WHERE record_id = 9",
     "the recipients index lost or changed an entry of record 9"),
])
def test_tampered_index_is_named(chain: AuditConfig, statement: str, expected: str) -> None:
    _tamper(chain.path, statement)
    ok, text = _verify(chain)
    assert not ok
    assert text.startswith(f"NOT intact: {expected}"), text
