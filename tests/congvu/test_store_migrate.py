"""`congvu store migrate`: a data directory's SQLite stores into the shared PostgreSQL
store, with the command line's exit codes (0 done or already done, 1 could not, 2 usage)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result

from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from congvu.cli import main
from support.audit import T0, make_record
from support.postfix import free_port
from support.postgres import PASSWORD, password_file


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
    assert "audit log: nothing changed" in again.stdout
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


@pytest.mark.slow  # the connection pool tries for its 10 s before giving up
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


def test_after_the_move_the_commands_read_every_chain(postgres_url: str, tmp_path: Path) -> None:
    secret = password_file(tmp_path)
    assert _migrate(_server(tmp_path, "lamdong"), postgres_url, secret).exit_code == 0
    assert _migrate(_server(tmp_path, "daknong", 2), postgres_url, secret,
                    "--chain-id", "daknong").exit_code == 0
    # lamdong's server, now on the shared store
    shared = tmp_path / "shared.toml"
    shared.write_text(f'[service]\ndata_dir = "{tmp_path / "lamdong"}"\n[store]\n'
                      f'url = "{postgres_url}"\npassword_file = "{secret}"\n', encoding="utf-8")
    runner = CliRunner()
    lamdong_key = AuditConfig(keys_dir=tmp_path / "lamdong" / "keys").key_trust().roots
    daknong_key = AuditConfig(keys_dir=tmp_path / "daknong" / "keys").key_trust().roots
    pins = [arg for key in [*lamdong_key, *daknong_key] for arg in ("--key", key)]
    # daknong's server signed the import with its key, enrolled in the live chain as
    # any server joining the store: pinned, it counts at once
    verified = runner.invoke(main, ["audit", "verify", *pins, "--config", str(shared)])
    assert verified.exit_code == 0, verified.output
    assert "live chain: intact: 8 events" in verified.stdout  # 6, daknong's key, the import
    assert "chain daknong: intact: 4 events" in verified.stdout
    # unpinned, once lamdong's next checkpoint vouches for the enrolment
    with AuditLog.open(AuditConfig(url=postgres_url, password_file=secret,
                                   keys_dir=tmp_path / "lamdong" / "keys")) as log:
        log.record(make_record(subject="the next mail"))
        log.checkpoint()
    verified = runner.invoke(main, ["audit", "verify", "--config", str(shared)])
    assert verified.exit_code == 0, verified.output
    assert "live chain: intact: 9 events" in verified.stdout
    listed = runner.invoke(main, ["audit", "query", "--format", "csv", "--config", str(shared)])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].endswith(",message_id,chain")
    assert sorted(line.rsplit(",", 1)[1] for line in lines[1:]) == ["", "", "", "", "daknong",
                                                                     "daknong"]
    with psycopg.connect(postgres_url, password=PASSWORD, autocommit=True) as conn:
        conn.execute("UPDATE events SET subject = 'forged' WHERE chain = 'daknong' "
                     "AND kind = 'message' AND subject = 'daknong 1'")
    tampered = runner.invoke(main, ["audit", "verify", "--config", str(shared)])
    assert tampered.exit_code == 1
    assert "chain daknong: NOT intact: record 3 was changed" in tampered.stdout


def _every_store(root: Path, name: str) -> Path:
    """A server's data directory with every store holding something; its congvu.toml."""
    import datetime as dt

    from argon2.profiles import CHEAPEST

    from archive import Archive
    from congvu.config import parse_config
    from directory import Directory
    from policies import Action, Decision, Violation, open_quarantine
    from policies.model import Finding
    from signer.keys import Algorithm
    from signer.rotation_store import editing_rotation
    from support.webconsole import UNITS_CSV
    from web import UserStore

    path = _server(root, name, 1)
    config = parse_config({"service": {"data_dir": str(root / name)}})
    with Directory.open(config.directory.path) as units:
        units.import_csv(UNITS_CSV, actor="tester")
    config.web.path.parent.mkdir(parents=True, exist_ok=True)
    with UserStore(config.web.path, hashing=CHEAPEST) as users:
        users.add(f"admin-{name}", "mat khau dai du dai", is_admin=True)
    held = open_quarantine(config.policies.quarantine)
    decision = Decision(Action.QUARANTINE, (Finding(Violation("macro", "VBA", "a.docm"),
                                                    Action.QUARANTINE, None),))
    held.put(f"From: a@{name}.gov.vn\r\nSubject: x\r\n\r\nhi\r\n".encode(),
             envelope_from=f"a@{name}.gov.vn", recipients=["b@x.gov.vn"],
             direction="outbound", unit_id="stc", decision=decision,  # type: ignore[arg-type]
             now=dt.datetime.now(dt.UTC))
    held.close()
    with editing_rotation(config.signer.dkim) as state:
        state.rotate(f"{name}.gov.vn", Algorithm.ED25519_SHA256, config.signer.dkim.key_dir,
                     dt.datetime.now(dt.UTC))
    Archive.from_config(config.archive, create=True).put(f"a message of {name}".encode())
    return path


def test_every_store_of_the_data_directory_is_copied(postgres_url: str, tmp_path: Path) -> None:
    secret = password_file(tmp_path)
    first = _migrate(_every_store(tmp_path, "lamdong"), postgres_url, secret)
    assert first.exit_code == 0, first.output
    said = dict(line.split(": ", 1) for line in first.stdout.splitlines()
                if line.split(": ", 1)[0] in ("directory", "console users", "quarantine",
                                              "DKIM rotation state", "archive"))
    assert said["directory"].startswith("copied 4 units")
    assert said["console users"].startswith("copied 1 users")
    assert said["quarantine"] == "copied 1 held messages"
    assert said["DKIM rotation state"] == "copied 1 rotated keys"
    assert said["archive"].startswith("copied 1 archived messages")
    # a second server: its log, held and archived messages join; the province keeps the
    # first server's directory, console users and selectors
    second = _migrate(_every_store(tmp_path, "daknong"), postgres_url, secret,
                      "--chain-id", "daknong")
    assert second.exit_code == 0, second.output
    assert "directory: the shared directory holds 4 units already" in second.stdout
    assert "console users: the shared users store holds 1 users already" in second.stdout
    assert "quarantine: copied 1 held messages" in second.stdout
    assert "DKIM rotation state: the shared state holds 1 rotated keys already" in second.stdout
    assert "archive: copied 1 archived messages" in second.stdout
    again = _migrate(tmp_path / "daknong.toml", postgres_url, secret, "--chain-id", "daknong")
    assert again.exit_code == 0, again.output
    assert "audit log: nothing changed" in again.stdout
    assert "quarantine: every held message is there already; nothing changed" in again.stdout
    # daknong's one archived message, there since the second run
    assert "archive: all 1 archived messages are there already; nothing changed" in again.stdout
