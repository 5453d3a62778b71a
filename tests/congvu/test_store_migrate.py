"""`congvu store migrate`: a data directory's SQLite stores into the shared PostgreSQL
store, with the command line's exit codes (0 done or already done, 1 could not, 2 usage)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from congvu.cli import main
from support.audit import T0, make_record
from support.postfix import free_port
from support.postgres import password_file


def _server(root: Path, name: str, records: int = 3) -> Path:
    """A mail server's data directory with an audit log of ``records`` messages; its
    congvu.toml."""
    data = root / name
    config = AuditConfig(path=data / "audit.sqlite3", keys_dir=data / "keys")
    with AuditLog.open(config) as log:
        for i in range(records):
            seq = log.record(make_record(received_at=T0 + timedelta(hours=i),
                                         subject=f"{name} {i}"))
            log.complete(Completion(record_id=seq, outcome=Fate.RELAYED, reply="250 ok"))
    path = root / f"{name}.toml"
    path.write_text(f'[service]\ndata_dir = "{data}"\n', encoding="utf-8")
    return path


def _migrate(config: Path, url: str, secret: Path, *more: str) -> Result:
    return CliRunner().invoke(main, ["store", "migrate", "--to", url, "--password-file",
                                     str(secret), "--config", str(config), *more])


def test_migrate_into_an_empty_store_then_again(postgres_url: str, tmp_path: Path) -> None:
    config, secret = _server(tmp_path, "lamdong"), password_file(tmp_path)
    first = _migrate(config, postgres_url, secret)
    assert first.exit_code == 0, first.output
    assert "6 events copied as the start of the live chain" in first.stdout
    assert "before: intact: 6 events" in first.stdout
    assert "after (the live chain): intact: 6 events" in first.stdout
    again = _migrate(config, postgres_url, secret)
    assert again.exit_code == 0, again.output
    assert "already copied (6 events are the start of the live chain)" in again.stdout
    assert again.stdout.rstrip().endswith("nothing changed")
    with AuditLog.open_readonly(AuditConfig(url=postgres_url,
                                            password_file=secret)) as log:
        assert log.head()[0] == 6


def test_a_second_server_is_imported_as_a_chain(postgres_url: str, tmp_path: Path) -> None:
    secret = password_file(tmp_path)
    assert _migrate(_server(tmp_path, "lamdong"), postgres_url, secret).exit_code == 0
    daknong = _server(tmp_path, "daknong", 2)
    refused = _migrate(daknong, postgres_url, secret)
    assert refused.exit_code == 2
    assert "give a chain id (--chain-id) to import" in refused.output
    imported = _migrate(daknong, postgres_url, secret, "--chain-id", "daknong")
    assert imported.exit_code == 0, imported.output
    assert "4 events imported as chain daknong" in imported.stdout
    assert "after (chain daknong): intact: 4 events" in imported.stdout
    again = _migrate(daknong, postgres_url, secret, "--chain-id", "daknong")
    assert again.exit_code == 0 and "already imported as chain daknong" in again.stdout


@pytest.mark.parametrize(("more", "says"), [
    (("--chain-id", "Đắk Nông"), "is not a chain id"),
    (("--chain-id", "a" * 65), "is not a chain id"),
])
def test_a_chain_id_that_is_refused_exits_2(postgres_url: str, tmp_path: Path,
                                            more: tuple[str, ...], says: str) -> None:
    result = _migrate(_server(tmp_path, "daknong", 1), postgres_url, password_file(tmp_path),
                      *more)
    assert result.exit_code == 2 and says in result.output


def test_a_url_with_a_password_exits_2(tmp_path: Path) -> None:
    result = _migrate(_server(tmp_path, "daknong", 1), "postgresql://congvu:secret@db/congvu",
                      password_file(tmp_path))
    assert result.exit_code == 2
    assert "--to: the store URL must not contain a password" in result.output
    assert "secret@" not in result.output


def test_a_log_that_is_not_intact_exits_1_and_copies_nothing(
        postgres_url: str, tmp_path: Path) -> None:
    config, secret = _server(tmp_path, "daknong"), password_file(tmp_path)
    conn = sqlite3.connect(tmp_path / "daknong" / "audit.sqlite3")
    with conn:
        conn.execute("UPDATE events SET subject = 'forged' WHERE seq = 3")
    conn.close()
    result = _migrate(config, postgres_url, secret)
    assert result.exit_code == 1
    assert "the log is not intact, so nothing was copied: record 3 was changed" in result.output
    assert _migrate(_server(tmp_path, "other"), postgres_url, secret).exit_code == 0


def test_an_unreachable_database_exits_1(tmp_path: Path) -> None:
    result = _migrate(_server(tmp_path, "daknong", 1),
                      f"postgresql://congvu@127.0.0.1:{free_port()}/congvu",
                      password_file(tmp_path))
    assert result.exit_code == 1
    assert "audit log: audit store postgresql://congvu@127.0.0.1:" in result.output


def test_no_audit_log_exits_1(postgres_url: str, tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    config.write_text(f'[service]\ndata_dir = "{tmp_path / "empty"}"\n', encoding="utf-8")
    result = _migrate(config, postgres_url, password_file(tmp_path))
    assert result.exit_code == 1
    assert "no such file" in result.output
