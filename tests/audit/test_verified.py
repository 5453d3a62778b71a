"""``congvu audit verify --since-verified`` on both backends: the last checkpoint a verify
proved is remembered, and the next walk reads only what came after it; a row changed
after it is found, one before it is out of scope and the report says so."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.keys import KeyTrust
from audit.store import AuditLog
from audit.verified import verify_since
from audit.verify import checkpoints_of
from support.audit import bulk_fill, make_record
from support.postgres import PostgresCluster

Tamper = Callable[[str], None]


@pytest.fixture
def cli(backend_config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: backend_config)
    assert isinstance(group, click.Group)
    return group


@pytest.fixture
def tamper(backend_config: AuditConfig, request: pytest.FixtureRequest) -> Tamper:
    """Run one statement on the store behind congvu's back (as its owner would)."""
    def run(sql: str) -> None:
        if backend_config.url is None:
            with sqlite3.connect(backend_config.path) as db:
                db.execute(sql)
            db.close()
            return
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        with cluster.admin(backend_config.url.rsplit("/", 1)[1]) as db:
            db.execute(sql)
    return run


def _write(config: AuditConfig, n: int, *, tag: str) -> list[int]:
    """``n`` records in one batch, and a checkpoint at the head."""
    with AuditLog.open(config) as log:
        ids = log.write([make_record(queue_id=f"{tag}{i}") for i in range(n)])
        log.checkpoint()
    return ids


def verify(cli: click.Group, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", *args])
    return result.exit_code, result.output


def test_the_first_walk_is_whole_and_the_next_reads_only_what_is_new(
        cli: click.Group, backend_config: AuditConfig) -> None:
    _write(backend_config, 30, tag="a")
    code, out = verify(cli, "--since-verified")
    assert code == 0, out
    assert "no checkpoint verified before" in out and "intact: 30 events (seq 1-30)" in out
    state = backend_config.keys_dir.parent / "audit-verified.json"
    assert state.stat().st_mode & 0o777 == 0o600
    [remembered] = json.loads(state.read_text())["stores"].values()
    assert remembered["checkpoint"]["seq"] == 30
    _write(backend_config, 5, tag="b")
    code, out = verify(cli, "--since-verified")
    assert code == 0, out
    assert "intact: 5 events (seq 31-35)" in out  # not the 30 verified before
    assert "from the checkpoint at record 30" in out and "were not read again" in out
    code, out = verify(cli, "--since-verified")
    assert code == 0 and "intact: 0 events" in out  # nothing new: nothing to read


def test_a_row_changed_after_the_checkpoint_is_found(
        cli: click.Group, backend_config: AuditConfig, tamper: Tamper) -> None:
    _write(backend_config, 10, tag="a")
    assert verify(cli)[0] == 0  # a full verify remembers its checkpoint too
    _write(backend_config, 10, tag="b")
    tamper("UPDATE events SET subject = 'đã sửa' WHERE seq = 14")
    code, out = verify(cli, "--since-verified")
    assert code == 1
    assert "NOT intact: record 14 was changed" in out


def test_a_row_changed_before_the_checkpoint_is_out_of_scope_and_said_so(
        cli: click.Group, backend_config: AuditConfig, tamper: Tamper) -> None:
    _write(backend_config, 10, tag="a")
    assert verify(cli, "--since-verified")[0] == 0
    _write(backend_config, 3, tag="b")
    tamper("UPDATE events SET subject = 'đã sửa' WHERE seq = 4")
    code, out = verify(cli, "--since-verified")
    assert code == 0, out
    assert "records up to 10 were not read again (a full verify reads them" in out
    code, out = verify(cli)
    assert code == 1 and "record 4 was changed" in out


def test_rows_removed_from_the_end_after_the_checkpoint_are_found(
        cli: click.Group, backend_config: AuditConfig, tamper: Tamper) -> None:
    _write(backend_config, 10, tag="a")
    assert verify(cli, "--since-verified")[0] == 0
    _write(backend_config, 4, tag="b")
    tamper("DELETE FROM events WHERE seq > 11")
    code, out = verify(cli, "--since-verified")
    assert code == 1 and "were removed from the end" in out


def test_an_edited_state_file_is_refused(cli: click.Group, backend_config: AuditConfig) -> None:
    _write(backend_config, 5, tag="a")
    assert verify(cli)[0] == 0
    state = backend_config.keys_dir.parent / "audit-verified.json"
    data = json.loads(state.read_text())
    [entry] = data["stores"].values()
    entry["checkpoint"]["seq"] = 4  # start from a head nobody signed
    state.write_text(json.dumps(data))
    code, out = verify(cli, "--since-verified")
    assert code != 0 and "has a bad signature: the file was edited" in out


def test_since_verified_with_an_exported_checkpoint_is_a_usage_error(
        cli: click.Group, tmp_path: Path) -> None:
    exported = tmp_path / "cp.json"
    exported.write_text("{}")
    result = CliRunner().invoke(cli, ["verify", "--since-verified", "--checkpoint",
                                      str(exported)])
    assert result.exit_code == 2 and "give one" in result.output


def _steps_of_an_incremental_walk(path: Path, before: int) -> int:
    """SQLite's virtual machine steps (counted ten at a time) of a walk from the
    checkpoint at ``before`` over the 5 records written after it."""
    keys = path.parent / "keys"
    path.parent.mkdir()
    bulk_fill(path, before, keys_dir=keys)
    _write(AuditConfig(path=path, keys_dir=keys), 5, tag="after")
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with AuditLog.open_readonly(path) as log:
        since = checkpoints_of(log.db.conn)[before]
        log.db.conn.set_progress_handler(count, 10)
        report = verify_since(log, since, KeyTrust.from_config([], keys))
    assert report.is_intact and (report.first_seq, report.last_seq) == (before + 1, before + 5)
    return steps


def test_an_incremental_walk_reads_no_row_before_its_checkpoint(tmp_path: Path) -> None:
    # a log ten times as long before the checkpoint: the same work after it (SQLite's
    # range scan takes one lower bound, and it must be the checkpoint's)
    short = _steps_of_an_incremental_walk(tmp_path / "short" / "audit.sqlite3", 300)
    long = _steps_of_an_incremental_walk(tmp_path / "long" / "audit.sqlite3", 3000)
    assert long < 1.2 * short, (short, long)
