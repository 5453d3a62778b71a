"""``congvu web`` and ``congvu user ...`` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from audit import AuditLog
from congvu.config import parse_config
from support.webconsole import cheap_settings, client, login, users_of
from web import commands
from web.cli import parse_listen


@pytest.fixture
def cli(tmp_path: Path):
    from directory import Directory
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")}})
    with Directory.open(config.directory.path) as directory:
        directory.import_csv("id,name,parent,address\nubnd,UBND,,a@ubnd.gov.vn\n"
                             "stc,STC,ubnd,a@stc.gov.vn\nsgd,SGD,ubnd,a@sgd.gov.vn\n")
    group = click.Group("congvu")
    for command in commands(lambda path: cheap_settings(config)):
        group.add_command(command)
    return group, cheap_settings(config)


def _run(group, *args, input=None):
    return CliRunner().invoke(group, list(args), input=input)


def test_first_administrator_then_auditor(cli):
    group, settings = cli
    r = _run(group, "user", "add", "admin", "--admin", "--password-stdin",
             input="correct horse battery\n")
    assert r.exit_code == 0, r.output
    assert "administrator" in r.output
    assert _run(group, "user", "add", "thanhtra", "--password-stdin",
                input="another long password\n").exit_code == 0
    r = _run(group, "user", "grant", "thanhtra", "stc", "sgd")
    assert r.exit_code == 0 and "units: sgd, stc" in r.output
    assert _run(group, "user", "revoke", "thanhtra", "sgd").exit_code == 0
    r = _run(group, "user", "list")
    assert "admin\tadmin\tactive" in r.output and "thanhtra\tauditor\tactive\tstc" in r.output
    r = _run(group, "user", "disable", "thanhtra")
    assert r.exit_code == 0 and "disabled" in r.output
    assert _run(group, "user", "enable", "thanhtra").exit_code == 0
    c = client(settings)
    assert login(c, "admin").status_code == 303
    with AuditLog.open_readonly(settings.audit.path) as log:
        actions = [e["details"]["action"] for e in log.admin_events(kind="user-grant")]
    assert actions == ["enable", "disable", "revoke", "grant", "grant", "add", "add-admin"]


def test_prompted_password(cli):
    group, settings = cli
    r = _run(group, "user", "add", "admin", "--admin",
             input="correct horse battery\ncorrect horse battery\n")
    assert r.exit_code == 0, r.output
    with users_of(settings) as users:
        assert users.authenticate("admin", "correct horse battery")


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["user", "add", "x", "--password-stdin"], "short\n", "at least 10"),
    (["user", "add", "two words", "--password-stdin"], "long enough pw\n", "no spaces"),
    (["user", "grant", "nobody", "stc"], None, "no user 'nobody'"),
    (["user", "disable", "nobody"], None, "no user 'nobody'"),
    (["user", "grant", "admin", "stcc"], None, "no unit 'stcc' in the directory"),
])
def test_user_errors_exit_1(cli, args, stdin, message):
    group, _ = cli
    _run(group, "user", "add", "admin", "--password-stdin", input="long enough pw\n")
    r = _run(group, *args, input=stdin)
    assert r.exit_code == 1 and message in r.output


def test_duplicate_user(cli):
    group, _ = cli
    _run(group, "user", "add", "a", "--password-stdin", input="long enough pw\n")
    r = _run(group, "user", "add", "a", "--password-stdin", input="long enough pw\n")
    assert r.exit_code == 1 and "exists already" in r.output


@pytest.mark.parametrize("text", ["8080", "host:", ":80", "h:99999", "h:x"])
def test_bad_listen(cli, text):
    group, _ = cli
    r = _run(group, "web", "--listen", text)
    assert r.exit_code == 2 and "HOST:PORT" in r.output


def test_listen_forms():
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)


def test_every_command_has_help(cli):
    group, _ = cli
    for name in ("web", "user"):
        assert group.commands[name].help
    for sub in group.commands["user"].commands.values():
        assert sub.help, sub.name


@pytest.mark.slow
def test_web_command_serves(tmp_path):
    """``web --listen 127.0.0.1:0`` as a real process: it serves the directory and
    refuses a cookie key others can read."""
    import os
    import re
    import subprocess
    import sys

    import httpx
    script = ("import click, sys\n"
              "from congvu.config import load_config, web_settings\n"
              "from web import commands\n"
              "group = click.Group('congvu')\n"
              "[group.add_command(c) for c in commands(lambda p: web_settings(load_config(p)))]\n"
              "group(sys.argv[1:])\n")
    environ = {**os.environ, "CONGVU_VAR": str(tmp_path / "var")}
    proc = subprocess.Popen([sys.executable, "-c", script, "web", "--listen", "127.0.0.1:0"],
                            stderr=subprocess.PIPE, text=True, env=environ)
    try:
        assert proc.stderr is not None
        port = None
        for line in proc.stderr:
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "the server did not start"
        r = httpx.get(f"http://127.0.0.1:{port}/")
        assert r.status_code == 200 and "content-security-policy" in r.headers
        assert "server" not in r.headers
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    key = tmp_path / "var" / "keys" / "web-cookie.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    key.chmod(0o640)
    done = subprocess.run([sys.executable, "-c", script, "web", "--listen", "127.0.0.1:0"],
                          capture_output=True, text=True, env=environ, timeout=30)
    assert done.returncode == 1 and "chmod 600" in done.stderr


def test_password_changes_it_and_ends_every_session(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    c = client(settings)
    assert login(c, "thanhtra", "long enough pw").status_code == 303
    assert c.get("/audit").status_code == 200
    r = _run(group, "user", "password", "thanhtra", "--stdin", input="a new long password\n")
    assert r.exit_code == 0, r.output
    assert r.output == "thanhtra: password changed; 1 session(s) ended\n"
    assert c.get("/audit").status_code == 303
    with users_of(settings) as users:
        assert users.authenticate("thanhtra", "long enough pw") is None
        assert users.authenticate("thanhtra", "a new long password") is not None
    with AuditLog.open_readonly(settings.audit.path) as log:
        event = log.admin_events(kind="user-grant")[0]
    assert (event["actor"], event["target"], event["details"]["action"]) == (
        "cli", "thanhtra", "password")


def test_password_asks_twice_on_the_terminal(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--password-stdin", input="long enough pw\n")
    r = _run(group, "user", "password", "thanhtra",
             input="first try differs\nsecond try\na new long password\na new long password\n")
    assert r.exit_code == 0, r.output
    assert "do not match" in r.output
    assert "a new long password" not in r.output  # hidden input
    with users_of(settings) as users:
        assert users.authenticate("thanhtra", "a new long password") is not None


@pytest.mark.parametrize(("args", "stdin", "code", "message"), [
    (["nobody", "--stdin"], "a new long password\n", 1, "no user 'nobody'"),
    (["thanhtra", "--stdin"], "short\n", 1, "at least 10"),
    (["thanhtra", "--stdin"], "", 2, "no password on standard input"),
    (["thanhtra", "a new long password"], None, 2, "unexpected extra argument"),
])
def test_password_refusals(cli, args, stdin, code, message):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    r = _run(group, "user", "password", *args, input=stdin)
    assert r.exit_code == code and message in r.output
    with users_of(settings) as users:
        assert users.authenticate("thanhtra", "long enough pw") is not None


def test_disable_ends_every_session(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    c = client(settings)
    login(c, "thanhtra", "long enough pw")
    assert _run(group, "user", "disable", "thanhtra").exit_code == 0
    assert c.get("/audit").status_code == 303
