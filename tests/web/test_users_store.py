"""The console's users store on both backends (SQLite, and PostgreSQL shared by the
consoles of several servers): users, grants, sessions and logins; every way the
database can fail; the configuration; the copy of a SQLite store into PostgreSQL; and a
console configured with [store] url that reads its directory and users there."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import extract_parameters
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY
from fastapi.testclient import TestClient

from congvu.config import parse_config
from directory import Directory
from policies import open_quarantine
from support.postfix import free_port
from support.postgres import PostgresCluster, password_file
from support.webconsole import (
    HELD,
    PASSWORD,
    UNITS_CSV,
    cheap_settings,
    csrf_of,
    held_decision,
    login,
)
from web import UserError, UserStore, WebConfig, create_app
from web.users import _MIGRATIONS, PG_MIGRATIONS, copy_users_to_postgresql

LONG = timedelta(hours=1)


@pytest.fixture(scope="session")
def _users_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    url = postgres_cluster.database()
    yield url
    postgres_cluster.drop(url)


@pytest.fixture
def pg_users(_users_database: str, postgres_cluster: PostgresCluster,
             tmp_path: Path) -> WebConfig:
    """A ``[web]`` table naming the session's database, its console schema dropped
    first: a new users store per test without the cost of a new database."""
    with postgres_cluster.admin(_users_database.rsplit("/", 1)[1]) as db:
        db.execute("DROP SCHEMA IF EXISTS console CASCADE")
    return WebConfig(url=_users_database, password_file=password_file(tmp_path))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Path | WebConfig:
    if request.param == "postgresql":
        config: WebConfig = request.getfixturevalue("pg_users")
        return config
    return tmp_path / "web" / "users.sqlite3"


@pytest.fixture
def users(where: Path | WebConfig) -> Iterator[UserStore]:
    with UserStore(where, hashing=CHEAPEST) as store:
        yield store


def _database(config: WebConfig) -> str:
    assert config.url is not None
    return config.url.rsplit("/", 1)[1]


def _end_sessions(cluster: PostgresCluster, config: WebConfig) -> None:
    with cluster.admin() as db:
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (_database(config),))


# -- the same store on both backends ----------------------------------------------------------

def test_users_and_their_grants(users: UserStore) -> None:
    admin = users.add("admin", PASSWORD, is_admin=True)
    assert (admin.name, admin.is_admin, admin.is_active, admin.units) == (
        "admin", True, True, ())
    users.add("auditor", PASSWORD)
    users.grant("auditor", "stc")
    users.grant("auditor", "stc")  # twice is once
    users.grant("auditor", "sgd", content=True)
    found = users.get("auditor")
    assert (found.units, found.content_units) == (("sgd", "stc"), ("sgd",))
    assert users.revoke("auditor", "sgd").units == ("stc",)
    assert [u.name for u in users.users()] == ["admin", "auditor"]
    assert users.has_admin()
    with pytest.raises(UserError, match="exists already"):
        users.add("auditor", PASSWORD)
    with pytest.raises(UserError, match="no user 'nobody'"):
        users.grant("nobody", "stc")
    assert users.find("nobody") is None


def test_logins_sessions_and_their_end(users: UserStore) -> None:
    users.add("auditor", PASSWORD)
    assert users.authenticate("auditor", PASSWORD) is not None
    assert users.authenticate("auditor", "wrong password!") is None
    assert users.authenticate("nobody", PASSWORD) is None
    first, second = users.start_session("auditor", LONG), users.start_session("auditor", LONG)
    expired = users.start_session("auditor", timedelta(seconds=-1))
    user = users.session_user(first)
    assert user is not None and user.name == "auditor"
    users.grant("auditor", "so tai chinh", content=True)  # a stale grant's odd id, whole
    users.grant("auditor", "ubnd")
    user = users.session_user(first)
    assert user == users.get("auditor")
    assert (user.units, user.content_units) == (("so tai chinh", "ubnd"), ("so tai chinh",))
    assert users.session_user(expired) is None
    users.end_session(first)
    assert users.session_user(first) is None
    assert users.session_user(second) is not None
    assert users.set_password("auditor", "một mật khẩu mới dài") == 1  # the live one
    assert users.session_user(second) is None
    third = users.start_session("auditor", LONG)
    users.set_active("auditor", False)
    assert users.session_user(third) is None
    assert users.authenticate("auditor", "một mật khẩu mới dài") is None


def test_a_hash_of_another_cost_is_made_again_at_login(where: Path | WebConfig) -> None:
    with UserStore(where, hashing=CHEAPEST) as cheap:
        cheap.add("admin", PASSWORD, is_admin=True)
    with UserStore(where, hashing=RFC_9106_LOW_MEMORY) as store:
        assert store.authenticate("admin", PASSWORD) is not None
        stored = store._run("SELECT password_hash FROM users WHERE name = ?", ("admin",))
        assert extract_parameters(str(stored[0][0])) == RFC_9106_LOW_MEMORY


def test_every_migration_is_written_for_both_backends(pg_users: WebConfig) -> None:
    assert len(PG_MIGRATIONS) == len(_MIGRATIONS)
    UserStore(pg_users).close()
    with UserStore(pg_users) as store:  # a second open applies nothing again
        names = [row[0] for row in store._run("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in PG_MIGRATIONS]


# -- several servers, one store ----------------------------------------------------------------

def test_a_session_ended_on_one_server_is_ended_on_the_other(pg_users: WebConfig) -> None:
    with UserStore(pg_users, hashing=CHEAPEST) as one, \
            UserStore(pg_users, hashing=CHEAPEST) as two:
        one.add("auditor", PASSWORD)
        session = one.start_session("auditor", LONG)
        assert two.session_user(session) is not None
        two.set_active("auditor", False)
        assert one.session_user(session) is None


# -- every way of failing ----------------------------------------------------------------------

def test_a_wrong_password_is_a_user_error_that_says_so(pg_users: WebConfig,
                                                      tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    wrong.chmod(0o600)
    with pytest.raises(UserError, match=r"refused the login.*password authentication"):
        UserStore(pg_users.model_copy(update={"password_file": wrong}))


def test_a_password_file_others_can_read_is_refused(pg_users: WebConfig) -> None:
    assert pg_users.password_file is not None
    pg_users.password_file.chmod(0o644)
    with pytest.raises(UserError, match=r"store password file .*chmod 600"):
        UserStore(pg_users)


def test_no_database_there_is_a_user_error_that_says_so(tmp_path: Path) -> None:
    config = WebConfig(url=f"postgresql://congvu@127.0.0.1:{free_port()}/congvu",
                       password_file=password_file(tmp_path))
    with pytest.raises(UserError, match=r"cannot open it: the database server cannot be "
                       r"reached.*refused"):
        UserStore(config)


def test_a_lost_session_is_replaced_without_an_error(
        pg_users: WebConfig, postgres_cluster: PostgresCluster) -> None:
    with UserStore(pg_users, hashing=CHEAPEST) as store:
        store.add("auditor", PASSWORD)
        _end_sessions(postgres_cluster, pg_users)  # a restart, a failover
        assert store.get("auditor").name == "auditor"  # the pool checks before lending


def test_a_read_only_database_refuses_changes_and_keeps_logins(
        pg_users: WebConfig, postgres_cluster: PostgresCluster) -> None:
    name = _database(pg_users)
    with UserStore(pg_users, hashing=CHEAPEST) as store:
        store.add("auditor", PASSWORD)
        with postgres_cluster.admin() as db:
            db.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        try:
            _end_sessions(postgres_cluster, pg_users)
            with pytest.raises(UserError, match="the database is read-only"):
                store.add("other", PASSWORD)
            with pytest.raises(UserError, match="the database is read-only"):
                store.start_session("auditor", LONG)
            assert store.authenticate("auditor", PASSWORD) is not None
        finally:
            with postgres_cluster.admin() as db:
                db.execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")
            _end_sessions(postgres_cluster, pg_users)
        assert store.add("other", PASSWORD).name == "other"


# -- the configuration -------------------------------------------------------------------------

def test_the_store_table_puts_the_users_in_postgresql_unless_web_names_its_own(
        tmp_path: Path) -> None:
    base = {"service": {"data_dir": str(tmp_path)},
            "store": {"url": "postgresql://congvu@db/shared", "password_file": "pw"}}
    shared = parse_config(base).web
    assert (shared.url, shared.password_file) == ("postgresql://congvu@db/shared",
                                                  tmp_path / "pw")
    local = parse_config({**base, "web": {"path": "users.sqlite3"}}).web
    assert (local.url, local.path) == (None, tmp_path / "users.sqlite3")
    alone = parse_config({"service": {"data_dir": str(tmp_path)}}).web
    assert (alone.url, alone.path) == (None, tmp_path / "web" / "users.sqlite3")
    with pytest.raises(ValueError, match="path and url name two users stores"):
        WebConfig(path=Path("u.sqlite3"), url="postgresql://congvu@db/congvu")


# -- the copy for `congvu store migrate` ------------------------------------------------------

def test_a_sqlite_store_copies_into_an_empty_postgresql_one(pg_users: WebConfig,
                                                          tmp_path: Path) -> None:
    source = tmp_path / "users.sqlite3"
    with UserStore(source, hashing=CHEAPEST) as sqlite:
        sqlite.add("admin", PASSWORD, is_admin=True)
        sqlite.add("auditor", PASSWORD)
        sqlite.grant("auditor", "stc", content=True)
        session = sqlite.start_session("auditor", LONG)
        expected = sqlite.users()
    counts = copy_users_to_postgresql(source, pg_users)
    assert counts == {"users": 2, "grants": 1, "sessions": 1, "content_grants": 1}
    with UserStore(pg_users, hashing=CHEAPEST) as copy:
        assert copy.users() == expected
        assert copy.authenticate("admin", PASSWORD) is not None  # the same hashes
        user = copy.session_user(session)  # a console's cookie still holds
        assert user is not None and user.name == "auditor"
    with pytest.raises(UserError, match="holds users already"):
        copy_users_to_postgresql(source, pg_users)


def test_a_copy_refuses_a_file_of_another_version(pg_users: WebConfig,
                                                  tmp_path: Path) -> None:
    source = tmp_path / "users.sqlite3"
    UserStore(source).close()
    with sqlite3.connect(source) as db:
        db.execute("PRAGMA user_version = 1")
    with pytest.raises(UserError, match="schema version 1, this release's is"):
        copy_users_to_postgresql(source, pg_users)


# -- the console on PostgreSQL -----------------------------------------------------------------

def test_a_console_on_the_shared_store_shows_its_units_and_logs_users_in(
        postgres_url: str, tmp_path: Path) -> None:
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")},
                           "store": {"url": postgres_url,
                                     "password_file": str(password_file(tmp_path))}})
    settings = cheap_settings(config)
    with Directory.open(config.directory) as directory:
        directory.import_csv(UNITS_CSV, actor="test")
    with UserStore(config.web, hashing=CHEAPEST) as users:
        users.add("admin", PASSWORD, is_admin=True)
    assert not (tmp_path / "var" / "directory.sqlite3").exists()
    assert not (tmp_path / "var" / "web" / "users.sqlite3").exists()
    one, two = (TestClient(create_app(settings), base_url="http://testserver",
                           follow_redirects=False) for _ in range(2))
    page = one.get("/units/stc")
    assert page.status_code == 200 and "Sở Tài chính" in page.text
    assert login(one, "admin").status_code == 303
    two.cookies.set("congvu_session", one.cookies.get("congvu_session") or "")
    assert two.get("/admin/units/stc").status_code == 200  # the other server's console
    token = csrf_of(one.get("/admin/units/stc").text)
    assert one.post("/logout", data={"csrf_token": token}).status_code == 303
    assert two.get("/admin/units/stc").status_code != 200
    settings_elsewhere = dataclasses.replace(settings, directory=None)
    assert settings_elsewhere.directory_store == config.directory.path


def test_the_console_lists_and_shows_what_another_server_held_in_the_shared_quarantine(
        postgres_url: str, tmp_path: Path) -> None:
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")},
                           "store": {"url": postgres_url,
                                     "password_file": str(password_file(tmp_path))}})
    with Directory.open(config.directory) as directory:
        directory.import_csv(UNITS_CSV, actor="test")
    with UserStore(config.web, hashing=CHEAPEST) as users:
        users.add("admin", PASSWORD, is_admin=True)
    with open_quarantine(config.policies.quarantine) as store:  # the filter of mx1, say
        held = store.put(HELD, envelope_from="vanthu@stc.laocai.gov.vn",
                         recipients=["vanthu@ubnd.laocai.gov.vn"], direction="outbound",
                         unit_id="stc", decision=held_decision())
    console = TestClient(create_app(cheap_settings(config)), base_url="http://testserver",
                         follow_redirects=False)
    assert login(console, "admin").status_code == 303
    listed = console.get("/admin/quarantine")
    assert listed.status_code == 200 and f"/admin/quarantine/{held}" in listed.text
    assert console.get(f"/admin/quarantine/{held}").status_code == 200
    assert not (tmp_path / "var" / "quarantine").exists()  # nothing on this server's disk
