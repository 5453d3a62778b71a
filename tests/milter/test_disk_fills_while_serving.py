"""The disk fills while ``congvu serve`` runs (a tmpfs of its own, filled): a message
it cannot archive or record is answered 451 4.3.1, insufficient system storage (RFC
3463), not 4.3.0, a fault of the filter; nothing is relayed; once space is freed the
next message goes through and the chain verifies. What counts as a full disk is one
function (milter/outofspace.py), shared with ``serve`` started on a full disk."""

from __future__ import annotations

import smtplib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from audit import AuditError, AuditLog
from audit.config import AuditConfig
from congvu.config import load_config
from directory import Directory
from milter.outofspace import is_out_of_space, store_failure_reply
from milter.replies import R451_AUDIT, R451_NO_SPACE
from support import fulldisk
from support.audit import make_record
from support.process import ServeProcess
from support.sink import Sink

MESSAGE = b"From: a@b.vn\r\nSubject: dia day dan\r\n\r\nCong van.\r\n"


@pytest.fixture
def var(tmp_path: Path) -> Iterator[Path]:
    with fulldisk.data_dir(tmp_path) as mounted:
        yield mounted


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["", "[pipeline]\naudit = false\n"],
                         ids=["archive-and-audit", "archive-alone"])
def test_a_message_met_by_a_full_disk_is_deferred_4_3_1_and_the_next_goes_once_freed(
        var: Path, next_hop: Sink, pipeline: str) -> None:
    config = fulldisk.serve_config(var, next_hop.port, max_message_size=65536,
                                   extra=pipeline)
    units = Directory.open(var / "directory.sqlite3")  # a unit's mail is archived
    units.import_csv("id,name,parent,address,senders\n"
                     "so-tu-phap,Sở Tư pháp,,a@b.vn,a@b.vn\n", actor="test")
    units.close()
    serving = ServeProcess(config)
    try:
        serving.wait_for("worker ready")
        with smtplib.SMTP("127.0.0.1", serving.port, timeout=30) as client:
            assert client.sendmail("a@b.vn", ["cv@d.vn"], MESSAGE) == {}
        assert next_hop.get().recipients == ["cv@d.vn"]

        filler = fulldisk.fill(var)
        with (smtplib.SMTP("127.0.0.1", serving.port, timeout=30) as client,
              pytest.raises(smtplib.SMTPDataError) as refused):
            client.sendmail("a@b.vn", ["cv@d.vn"], MESSAGE.replace(b"Cong", b"Lan hai"))
        assert (refused.value.smtp_code, refused.value.smtp_error) == (
            451, str(R451_NO_SPACE)[4:].encode())
        next_hop.assert_empty()

        filler.unlink()
        with smtplib.SMTP("127.0.0.1", serving.port, timeout=30) as client:
            assert client.sendmail("a@b.vn", ["cv@d.vn"], MESSAGE.replace(b"Cong", b"Ba")) == {}
        assert b"Ba van" in next_hop.get().content
    finally:
        assert serving.stop() == 0
    audit = load_config(config).audit
    if not pipeline:
        with AuditLog.open_readonly(audit, trust=audit.key_trust()) as log:
            assert log.verify().is_intact


def test_an_audit_log_that_cannot_grow_says_its_disk_is_full(var: Path) -> None:
    log = AuditLog.open(AuditConfig(path=var / "audit.sqlite3", keys_dir=var / "keys"))
    try:
        log.write([make_record()])
        fulldisk.fill(var)
        with pytest.raises(AuditError) as failed:  # the WAL must grow within a few records
            for n in range(500):
                log.write([make_record(subject="Công văn " + str(n) * 2000)])
    finally:
        log.close()
    assert is_out_of_space(failed.value), repr(failed.value)
    assert store_failure_reply(failed.value, R451_AUDIT) is R451_NO_SPACE


def _caused(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("cause", [
    OSError(28, "No space left on device"),
    OSError(122, "Disk quota exceeded"),
    psycopg.errors.DiskFull("could not extend file: No space left on device"),
], ids=["ENOSPC", "EDQUOT", "postgresql-disk-full"])
def test_what_counts_as_a_full_disk(cause: BaseException) -> None:
    error = _caused(AuditError("audit store: could not write"), cause)
    assert is_out_of_space(error)
    assert store_failure_reply(error, R451_AUDIT) is R451_NO_SPACE


@pytest.mark.parametrize("cause", [
    OSError(13, "Permission denied"),
    sqlite3.OperationalError("database is locked"),
    psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
    psycopg.OperationalError("connection refused"),
], ids=["EACCES", "sqlite-locked", "postgresql-read-only", "postgresql-down"])
def test_other_store_failures_stay_4_3_0(cause: BaseException) -> None:
    error = _caused(AuditError("audit store: could not write"), cause)
    assert not is_out_of_space(error)
    assert store_failure_reply(error, R451_AUDIT) is R451_AUDIT
