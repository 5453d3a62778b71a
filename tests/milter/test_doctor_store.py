"""``congvu doctor`` on the shared PostgreSQL store, against the session's private
cluster: the connection, each store's schema version and the clock, one line each;
and a database that is down, refuses the login, or was left behind or moved ahead; and
the console users store's schema wherever it is (PostgreSQL, or its SQLite file)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from argon2.profiles import CHEAPEST
from click.testing import CliRunner

from audit.config import AuditConfig
from audit.store import AuditLog
from congvu.cli import main
from congvu.config import CongvuConfig, load_config
from milter.doctor_store import (
    CLOCK_WARN_SECONDS,
    check_shared_store,
    check_users_file,
    clock_finding,
    schema_finding,
    shared_stores,
)
from milter.findings import Finding, Level
from support.postfix import free_port
from support.postgres import PostgresCluster, password_file
from web import UserStore


def _config(tmp_path: Path, url: str, *, secret: Path | None = None) -> CongvuConfig:
    secret = secret or password_file(tmp_path)
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n\n'
                    f'[store]\nurl = "{url}"\npassword_file = "{secret}"\n', encoding="utf-8")
    return load_config(path)


def _lines(findings: list[Finding]) -> list[str]:
    return [f.line() for f in findings]


def _audit(config: CongvuConfig) -> list[Finding]:
    return [f for f in check_shared_store(config) if f.where in ("audit.url", "store.url")]


def test_a_migrated_store_is_connected_current_and_on_time(
        postgres_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, postgres_url)
    AuditLog.open(config.audit).close()  # as serve does at its start
    findings = list(check_shared_store(config))
    lines = _lines(findings)
    assert lines[0].startswith(f"OK      store.url: {postgres_url}: connected as congvu "
                               "(PostgreSQL ")
    assert "OK      audit.url: the audit log's schema is current (" in lines[1]
    assert lines[-1].startswith(f"OK      store.url: {postgres_url}: this server's clock is ")
    # the stores serve has not created yet (it creates them at its start) say so
    assert [f.where for f in findings if f.level is Level.WARNING] == [
        "directory.url", "archive.url", "policies.quarantine.url", "signer.dkim.url",
        "web.url"]
    assert all("yet" in f.message for f in findings if f.level is Level.WARNING)


def test_a_store_lacking_a_migration_needs_migrating_and_says_which(
        postgres_url: str, postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    config = _config(tmp_path, postgres_url)
    AuditLog.open(config.audit).close()
    with postgres_cluster.admin(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("DELETE FROM _migrations WHERE name = '0006-admin-kind-index'")
    [schema] = [f for f in _audit(config) if "schema" in f.message]
    assert schema.level is Level.WARNING
    assert "needs migrating: it lacks 0006-admin-kind-index" in schema.message
    assert "restart `congvu serve`" in schema.fix


def test_a_store_newer_than_this_release_is_an_error(
        postgres_url: str, postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    config = _config(tmp_path, postgres_url)
    AuditLog.open(config.audit).close()
    with postgres_cluster.admin(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("INSERT INTO _migrations (name, applied_at) "
                   "VALUES ('9999-from-the-future', '2027-01-01')")
    [schema] = [f for f in _audit(config) if "schema" in f.message]
    assert schema.level is Level.ERROR
    assert "newer than this release (it has 9999-from-the-future" in schema.message


def test_a_database_that_is_down_is_one_error_line(tmp_path: Path) -> None:
    url = f"postgresql://congvu@127.0.0.1:{free_port()}/congvu"
    [finding] = list(check_shared_store(_config(tmp_path, url)))
    assert finding.level is Level.ERROR and finding.where == "store.url"
    assert finding.message.startswith(f"{url}: cannot connect: the database server cannot "
                                      "be reached")
    assert "deploy/README.md" in finding.fix


def test_a_refused_login_and_an_unsafe_password_file_are_errors(
        postgres_url: str, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    wrong.chmod(0o600)
    [refused] = list(check_shared_store(_config(tmp_path, postgres_url, secret=wrong)))
    assert refused.level is Level.ERROR
    assert "cannot connect: the database refused the login" in refused.message
    wrong.chmod(0o644)
    [unsafe] = list(check_shared_store(_config(tmp_path, postgres_url, secret=wrong)))
    assert unsafe.level is Level.ERROR and str(wrong) in unsafe.message
    assert unsafe.fix.startswith(f"chmod 600 {wrong}")


def test_the_doctor_command_prints_the_database_lines(
        postgres_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, postgres_url)
    AuditLog.open(config.audit).close()
    result = CliRunner().invoke(main, ["doctor", "--config", str(tmp_path / "congvu.toml"),
                                       "--no-postfix"])
    assert f"store.url: {postgres_url}: connected as congvu" in result.output
    assert "audit.url: the audit log's schema is current" in result.output
    assert "this server's clock is" in result.output


def test_a_configuration_without_a_shared_store_checks_no_database(tmp_path: Path) -> None:
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    config = load_config(path)
    assert [s.url for s in shared_stores(config)] == [None] * 6
    assert list(check_shared_store(config)) == []


def test_a_store_with_a_url_of_its_own_is_checked_on_its_database(tmp_path: Path) -> None:
    config = AuditConfig(url=f"postgresql://congvu@127.0.0.1:{free_port()}/audit",
                         keys_dir=tmp_path / "keys")
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n\n'
                    f'[audit]\nurl = "{config.url}"\n', encoding="utf-8")
    [finding] = list(check_shared_store(load_config(path)))
    assert finding.where == "audit.url" and finding.level is Level.ERROR


def _users(config: CongvuConfig) -> Finding:
    [found] = [f for f in check_shared_store(config) if f.where == "web.url"]
    return found


def test_the_console_users_store_in_postgresql_is_checked_with_the_others(
        postgres_url: str, postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    config = _config(tmp_path, postgres_url)
    assert "no console users store in this database yet" in _users(config).message
    UserStore(config.web, hashing=CHEAPEST).close()  # as `congvu user add` does
    current = _users(config)
    assert current.level is Level.OK
    assert current.message == "the console users store's schema is current (3 migrations)"
    with postgres_cluster.admin(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("DELETE FROM console._migrations WHERE name = '0003-content-grants'")
    lacking = _users(config)
    assert lacking.level is Level.WARNING and "lacks 0003-content-grants" in lacking.message
    with postgres_cluster.admin(postgres_url.rsplit("/", 1)[1]) as db:
        db.execute("INSERT INTO console._migrations (name, applied_at) "
                   "VALUES ('0004-from-the-future', '2027-01-01')")
    newer = _users(config)
    assert newer.level is Level.ERROR
    assert "newer than this release (it has 0004-from-the-future" in newer.message
    assert list(check_users_file(config)) == []  # no file to check: it is in PostgreSQL


def test_a_console_users_store_of_its_own_database_that_is_down_is_an_error(
        tmp_path: Path) -> None:
    url = f"postgresql://congvu@127.0.0.1:{free_port()}/console"
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n\n'
                    f'[web]\nurl = "{url}"\npassword_file = "{password_file(tmp_path)}"\n',
                    encoding="utf-8")
    [finding] = list(check_shared_store(load_config(path)))
    assert finding.where == "web.url" and finding.level is Level.ERROR
    assert finding.message.startswith(f"{url}: cannot connect: ")


def _sqlite_site(tmp_path: Path) -> CongvuConfig:
    path = tmp_path / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    return load_config(path)


def _set_version(path: Path, version: int) -> None:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {version}")


def test_the_console_users_file_is_checked_by_its_schema_version(tmp_path: Path) -> None:
    config = _sqlite_site(tmp_path)
    store = config.web.path
    assert list(check_users_file(config)) == []  # no console users yet: nothing to say
    UserStore(store, hashing=CHEAPEST).close()
    [current] = check_users_file(config)
    assert current.level is Level.OK and current.where == "web.path"
    assert current.message == (f"{store}: the console users store's schema is current "
                                "(version 3)")
    _set_version(store, 2)  # as a store the previous release wrote
    [older] = check_users_file(config)
    assert older.level is Level.WARNING and "needs migrating (version 2 of 3)" in older.message
    assert "opening the store migrates it" in older.fix
    _set_version(store, 4)  # as a later release leaves it
    [newer] = check_users_file(config)
    assert newer.level is Level.ERROR
    assert "newer than this release (version 4; this congvu writes 3)" in newer.message
    assert newer.fix.startswith("upgrade congvu")


def test_a_users_file_that_is_not_a_users_store_is_an_error(tmp_path: Path) -> None:
    config = _sqlite_site(tmp_path)
    store = config.web.path
    store.parent.mkdir(parents=True)
    store.write_bytes(b"not a database at all" * 100)
    [garbage] = check_users_file(config)
    assert garbage.level is Level.ERROR and "cannot read the console users store" in \
        garbage.message
    store.unlink()
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute("CREATE TABLE something_else (x)")
    [other] = check_users_file(config)
    assert other.level is Level.ERROR
    assert other.message == f"{store}: not a console users store (no users table)"


def test_the_doctor_command_prints_the_users_file_line(tmp_path: Path) -> None:
    config = _sqlite_site(tmp_path)
    UserStore(config.web.path, hashing=CHEAPEST).close()
    _set_version(config.web.path, 9)
    result = CliRunner().invoke(main, ["doctor", "--config", str(tmp_path / "congvu.toml"),
                                       "--no-postfix"])
    assert ("ERROR   web.path: " f"{config.web.path}: the console users store's schema is "
            "newer than this release") in result.output
    assert result.exit_code == 2


# -- the decisions, from values ---------------------------------------------------------------

@pytest.mark.parametrize(("database", "level", "said"), [
    (1000.0 + CLOCK_WARN_SECONDS + 0.5, Level.WARNING, "2.500 s behind"),
    (1000.0 - CLOCK_WARN_SECONDS - 0.5, Level.WARNING, "2.500 s ahead of"),
    (1000.0 + 1.9, Level.OK, "1.900 s behind"),
    (1000.0, Level.OK, "0.000 s"),
])
def test_the_clock_warns_only_beyond_two_seconds(
        database: float, level: Level, said: str) -> None:
    finding = clock_finding("store.url", "postgresql://db/x", before=1000.0 - 0.001,
                            database=database, after=1000.0 + 0.001)
    assert finding.level is level and said in finding.message
    if level is Level.WARNING:
        assert "NTP" in finding.fix


def test_a_clock_read_too_slowly_to_tell_is_not_a_warning() -> None:
    # 3 s off, but read over a 4 s round trip: it may as well be on time
    finding = clock_finding("store.url", "postgresql://db/x", before=1000.0,
                            database=1005.0, after=1004.0)
    assert finding.level is Level.OK and "±2.000 s" in finding.message


def test_the_schema_decisions() -> None:
    store = shared_stores(_bare())[0]
    known = set(store.migrations)
    assert schema_finding(store, known).level is Level.OK
    assert schema_finding(store, None).level is Level.WARNING
    assert schema_finding(store, known - {store.migrations[-1]}).level is Level.WARNING
    assert schema_finding(store, known | {"x"}).level is Level.ERROR


def _bare() -> CongvuConfig:
    return CongvuConfig()
