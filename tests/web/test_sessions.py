"""Console sessions kept in the users store: logging out, a password change and
disabling a user end them on every server sharing the store; sessions expire; the
store holds only the ids' hashes; a store of the previous release opens, migrates and
keeps working; the store is private on disk; the hashes' cost; one's own password page."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import click
import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY
from click.testing import CliRunner
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer

from audit import AuditLog
from congvu.config import parse_config, web_settings
from support.webconsole import PASSWORD, client, csrf_of, login, users_of
from web import UserStore, commands, create_app
from web.keys import KEY_NAME

NEW_PASSWORD = "một mật khẩu mới dài"


def _logged_in(c: TestClient) -> bool:
    return c.get("/audit").status_code == 200


def _copy(c: TestClient, app) -> TestClient:
    """Another browser holding a copy of ``c``'s cookie (a stolen one, or the same
    user on another server)."""
    other = TestClient(app, base_url="http://testserver", follow_redirects=False)
    other.cookies.set("congvu_session", c.cookies.get("congvu_session"))
    return other


def _logout(c: TestClient) -> None:
    token = csrf_of(c.get("/audit").text)
    assert c.post("/logout", data={"csrf_token": token}).status_code == 303


def test_logging_out_ends_the_session_for_a_copy_of_the_cookie_too(env):
    c = client(env.settings)
    login(c, "auditor-a")
    stolen = _copy(c, c.app)
    assert _logged_in(stolen)
    _logout(c)
    assert not _logged_in(c)
    assert not _logged_in(stolen)


def test_logging_out_on_one_server_ends_the_session_on_another(env):
    one, two = create_app(env.settings), create_app(env.settings)
    c = TestClient(one, base_url="http://testserver", follow_redirects=False)
    login(c, "auditor-a")
    elsewhere = _copy(c, two)
    assert _logged_in(elsewhere)
    _logout(c)
    assert not _logged_in(elsewhere)


def test_a_password_change_ends_every_session_of_that_user_only(env):
    first, second, other = client(env.settings), client(env.settings), client(env.settings)
    login(first, "auditor-a")
    login(second, "auditor-a")
    login(other, "auditor-b")
    with users_of(env.settings) as users:
        assert users.set_password("auditor-a", NEW_PASSWORD) == 2
    assert not _logged_in(first) and not _logged_in(second)
    assert _logged_in(other)
    assert login(first, "auditor-a").status_code == 401
    assert login(first, "auditor-a", NEW_PASSWORD).status_code == 303


def test_disabling_ends_the_sessions_and_enabling_does_not_bring_them_back(env):
    c = client(env.settings)
    login(c, "auditor-a")
    with users_of(env.settings) as users:
        users.set_active("auditor-a", False)
        assert not _logged_in(c)
        users.set_active("auditor-a", True)
    assert not _logged_in(c)
    assert login(c, "auditor-a").status_code == 303 and _logged_in(c)


def test_an_administrator_disabling_a_user_in_the_console_logs_them_out(env):
    admin, auditor = client(env.settings), client(env.settings)
    login(admin, "admin")
    login(auditor, "auditor-b")
    token = csrf_of(admin.get("/admin/users").text)
    assert admin.post("/admin/users/auditor-b/disable",
                      data={"csrf_token": token}).status_code == 303
    assert not _logged_in(auditor)


def test_a_session_past_its_end_is_refused_and_forgotten(env):
    with users_of(env.settings) as users:
        old = users.start_session("auditor-a", timedelta(seconds=0))
        assert users.session_user(old) is None
        live = users.start_session("auditor-a", timedelta(hours=1))
        assert users.session_user(live).name == "auditor-a"
        rows = users._run("SELECT count(*) FROM sessions")
    assert rows == [(1,)]  # the expired one went when the next one started


def test_the_console_gives_sessions_the_configured_length(env):
    c = client(replace(env.settings, session_seconds=3600))
    r = login(c, "auditor-a")
    assert r.status_code == 303 and "Max-Age=3600" in r.headers["set-cookie"]
    with users_of(env.settings) as users:
        [(created, expires)] = users._run("SELECT created, expires FROM sessions")
    assert (datetime.fromisoformat(str(expires)) - datetime.fromisoformat(str(created))
            == timedelta(hours=1))


def test_the_store_holds_only_the_hash_of_a_session_id(env):
    c = client(env.settings)
    login(c, "auditor-a")
    serializer = URLSafeTimedSerializer((env.settings.keys_dir / KEY_NAME).read_bytes(),
                                        salt="congvu-web-session")
    cookie = serializer.loads(c.cookies.get("congvu_session"))
    assert set(cookie) == {"csrf", "sid"}  # no user name in the cookie
    sid = cookie["sid"]
    db = sqlite3.connect(env.settings.users_path)
    try:
        hashes = [r[0] for r in db.execute("SELECT id_hash FROM sessions")]
    finally:
        db.close()
    assert hashes == [hashlib.sha256(sid.encode()).hexdigest()]
    stored = b"".join(p.read_bytes() for p in env.settings.users_path.parent.iterdir())
    assert sid.encode() not in stored


def test_a_cookie_of_the_previous_release_logs_nobody_in(env):
    # it named the user; whoever holds one cannot be logged out, so it counts for nothing
    c = client(env.settings)
    serializer = URLSafeTimedSerializer((env.settings.keys_dir / KEY_NAME).read_bytes(),
                                        salt="congvu-web-session")
    c.cookies.set("congvu_session", serializer.dumps({"csrf": "x" * 43, "user": "admin"}))
    assert c.get("/audit").status_code == 303
    assert c.get("/api/audit/records").status_code == 401


def test_a_made_up_session_id_logs_nobody_in(env):
    c = client(env.settings)
    serializer = URLSafeTimedSerializer((env.settings.keys_dir / KEY_NAME).read_bytes(),
                                        salt="congvu-web-session")
    c.cookies.set("congvu_session", serializer.dumps({"csrf": "x" * 43, "sid": "guess"}))
    assert not _logged_in(c)


# -- the previous release's store ---------------------------------------------------

PREVIOUS_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL,
    is_active     INTEGER NOT NULL,
    created       TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS grants (
    user_name TEXT NOT NULL REFERENCES users(name),
    unit_id   TEXT NOT NULL,
    PRIMARY KEY (user_name, unit_id)
) STRICT;
"""


_CHEAP = PasswordHasher.from_parameters(CHEAPEST)


def _previous_release_store(path: Path) -> None:
    """A users store as the previous release wrote it (its schema, verbatim)."""
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(PREVIOUS_SCHEMA)
        db.execute("INSERT INTO users VALUES (?, ?, 1, 1, '2024-05-01T08:00:00+00:00')",
                   ("admin", _CHEAP.hash(PASSWORD)))
        db.execute("INSERT INTO users VALUES (?, ?, 0, 1, '2024-05-01T08:00:00+00:00')",
                   ("thanhtra", _CHEAP.hash(PASSWORD)))
        db.execute("INSERT INTO grants VALUES ('thanhtra', 'stc')")
    finally:
        db.close()
    os.chmod(path, 0o644)  # what SQLite made of it under the usual umask


def test_a_store_of_the_previous_release_opens_migrates_and_keeps_working(env, tmp_path):
    path = tmp_path / "old" / "web" / "users.sqlite3"
    _previous_release_store(path)
    with UserStore(path, hashing=CHEAPEST) as users:
        assert users.authenticate("admin", PASSWORD).is_admin
        assert users.get("thanhtra").units == ("stc",)
        assert users.get("thanhtra").content_units == ()  # content is granted apart
        session = users.start_session("thanhtra", timedelta(hours=1))
        assert users.session_user(session).name == "thanhtra"
        assert users._run("PRAGMA user_version") == [(3,)]
    assert path.stat().st_mode & 0o777 == 0o600  # the hashes are no longer world-readable
    with UserStore(path) as users:  # opening again changes nothing
        assert users.session_user(session).name == "thanhtra"
        assert users._run("PRAGMA user_version") == [(3,)]
    # the previous release, rolled back to, runs its schema and reads its tables
    db = sqlite3.connect(path)
    try:
        db.executescript(PREVIOUS_SCHEMA)
        assert db.execute("SELECT name FROM users ORDER BY name").fetchall() == [
            ("admin",), ("thanhtra",)]
    finally:
        db.close()
    # and the console runs on it
    app = create_app(replace(env.settings, users_path=path))
    c = TestClient(app, base_url="http://testserver", follow_redirects=False)
    assert login(c, "thanhtra").status_code == 303 and _logged_in(c)


def test_a_step_another_process_applied_meanwhile_is_applied_again_harmlessly(tmp_path):
    # two processes read user_version 0; the first creates the sessions table; the
    # second, holding the stale number, runs the same steps again
    path = tmp_path / "web" / "users.sqlite3"
    _previous_release_store(path)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL,"
                   " created TEXT NOT NULL, expires TEXT NOT NULL, revoked TEXT) STRICT")
    finally:
        db.close()
    with UserStore(path) as users:
        assert users._run("PRAGMA user_version") == [(3,)]
        session = users.start_session("thanhtra", timedelta(hours=1))
        assert users.session_user(session).name == "thanhtra"


def test_the_users_store_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        with UserStore(tmp_path / "var" / "web" / "users.sqlite3", hashing=CHEAPEST) as users:
            users.add("admin", PASSWORD, is_admin=True)
            names = {p.name: p.stat().st_mode & 0o777
                     for p in (tmp_path / "var" / "web").iterdir()}
    finally:
        os.umask(old)
    assert (tmp_path / "var" / "web").stat().st_mode & 0o777 == 0o700
    assert names == {"users.sqlite3": 0o600, "users.sqlite3-wal": 0o600,
                     "users.sqlite3-shm": 0o600}


def _hash_parameters(path: Path, name: str):
    with UserStore(path) as users:
        [(stored,)] = users._run("SELECT password_hash FROM users WHERE name = ?", (name,))
    return extract_parameters(str(stored))


def test_passwords_are_hashed_at_rfc_9106s_second_option_unless_told_otherwise(tmp_path):
    # the other tests hash at argon2's cheapest; the configuration, the commands, the
    # console and the store itself all hash at 3 passes over 64 MiB in 4 lanes
    settings = web_settings(parse_config({"service": {"data_dir": str(tmp_path / "var")}}))
    assert settings.password_hashing == RFC_9106_LOW_MEMORY
    assert (RFC_9106_LOW_MEMORY.time_cost, RFC_9106_LOW_MEMORY.memory_cost,
            RFC_9106_LOW_MEMORY.parallelism) == (3, 64 * 1024, 4)
    group = click.Group("congvu")
    for command in commands(lambda path: settings):
        group.add_command(command)
    done = CliRunner().invoke(group, ["user", "add", "admin", "--admin", "--password-stdin"],
                              input=PASSWORD + "\n")
    assert done.exit_code == 0, done.output
    assert _hash_parameters(settings.users_path, "admin") == RFC_9106_LOW_MEMORY
    # a hash of another cost is made again at the console's on the next login
    with UserStore(settings.users_path, hashing=CHEAPEST) as users:
        users.set_password("admin", PASSWORD)
    assert _hash_parameters(settings.users_path, "admin") == CHEAPEST
    assert login(client(settings), "admin").status_code == 303
    assert _hash_parameters(settings.users_path, "admin") == RFC_9106_LOW_MEMORY
    with UserStore(tmp_path / "alone.sqlite3") as users:
        users.add("thanhtra", PASSWORD)
    assert _hash_parameters(tmp_path / "alone.sqlite3", "thanhtra") == RFC_9106_LOW_MEMORY


# -- one's own password ------------------------------------------------------------


def _change(c: TestClient, current: str, new: str, confirm: str | None = None):
    token = csrf_of(c.get("/account/password").text)
    return c.post("/account/password", data={
        "csrf_token": token, "current": current, "new": new,
        "confirm": new if confirm is None else confirm})


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(env):
    c, elsewhere = client(env.settings), client(env.settings)
    login(c, "auditor-a")
    login(elsewhere, "auditor-a")
    page = c.get("/account/password").text
    assert "Đổi mật khẩu" in page and "Mật khẩu hiện tại" in page
    r = _change(c, PASSWORD, NEW_PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/account/password?done=1"
    assert "mọi phiên đăng nhập khác của bạn đã kết thúc" in c.get(r.headers["location"]).text
    assert _logged_in(c)
    assert not _logged_in(elsewhere)
    assert login(elsewhere, "auditor-a").status_code == 401
    assert login(elsewhere, "auditor-a", NEW_PASSWORD).status_code == 303
    with AuditLog.open_readonly(env.settings.audit.path) as log:
        event = log.admin_events(kind="user-grant")[0]
    assert (event["actor"], event["target"], event["details"]["action"]) == (
        "auditor-a", "auditor-a", "password")


@pytest.mark.parametrize(("current", "new", "confirm", "error"), [
    ("wrong password!", NEW_PASSWORD, None, "Mật khẩu hiện tại không đúng."),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "Hai lần nhập mật khẩu mới không khớp nhau."),
    (PASSWORD, "short", None, "Mật khẩu mới quá ngắn."),
])
def test_a_refused_change_says_why_and_changes_nothing(env, current, new, confirm, error):
    c = client(env.settings)
    login(c, "auditor-a")
    r = _change(c, current, new, confirm)
    assert r.status_code == 400 and error in r.text
    assert _logged_in(c)
    with users_of(env.settings) as users:
        assert users.authenticate("auditor-a", PASSWORD) is not None


@pytest.mark.slow  # waits out the store's 5 s busy timeout
def test_a_change_the_users_store_refuses_is_said_in_the_pages_language(env):
    c = client(env.settings)
    login(c, "auditor-a")
    token = csrf_of(c.get("/account/password").text)
    # another writer holds the store: the change waits its 5 s, then is refused
    holder = sqlite3.connect(env.settings.users_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        r = c.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                               "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    finally:
        holder.close()
    assert r.status_code == 400
    error = r.text.split('id="error">', 1)[1].split("</p>", 1)[0]
    assert error == (
        'Lỗi <span class="reason" data-code="users-store.refused">kho người dùng '
        f'<span data-value>{env.settings.users_path}</span>: '
        '<span data-value>database is locked</span></span>')
    with users_of(env.settings) as users:
        assert users.authenticate("auditor-a", PASSWORD) is not None


def test_guessing_the_current_password_is_throttled(env):
    c = client(replace(env.settings, login_attempts=2))
    login(c, "auditor-a")
    for _ in range(2):
        assert _change(c, "wrong password!", NEW_PASSWORD).status_code == 400
    r = _change(c, PASSWORD, NEW_PASSWORD)
    assert r.status_code == 429
    with users_of(env.settings) as users:
        assert users.authenticate("auditor-a", PASSWORD) is not None


def test_the_password_page_needs_a_login(env):
    c = client(env.settings)
    r = c.get("/account/password")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    token = csrf_of(c.get("/login").text)
    r = c.post("/account/password", data={"csrf_token": token, "current": PASSWORD,
                                           "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
