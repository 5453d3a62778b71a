"""``congvu web`` and ``congvu user ...`` through click's CliRunner."""

from __future__ import annotations

import json
import os
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
        directory.import_csv("id,name,parent,address,aliases\nubnd,UBND,,a@ubnd.gov.vn,\n"
                             "stc,Sở Tài chính,ubnd,a@stc.gov.vn,vanthu@stc.gov.vn\n"
                             "sgd,SGD,ubnd,a@sgd.gov.vn,\n")
        directory.import_mailboxes("unit,address,full_name\n"
                                   "stc,nguyen.van.a@stc.gov.vn,Nguyễn Văn A\n")
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
    assert r.output == "đã thêm người dùng admin (quản trị viên)\n"  # Vietnamese by default
    r = _run(group, "user", "add", "thanhtra", "--password-stdin", "--lang", "en",
             input="another long password\n")
    assert r.output == "user thanhtra added (auditor)\n"
    r = _run(group, "user", "grant", "thanhtra", "stc", "sgd")
    assert r.exit_code == 0 and r.output == "thanhtra: đang hoạt động; đơn vị: sgd, stc\n"
    r = _run(group, "user", "grant", "thanhtra", "stc", "--content", "--lang", "en")
    assert r.output == "thanhtra: active; units: sgd, stc; content: stc\n"
    r = _run(group, "user", "revoke", "thanhtra", "sgd")
    assert r.output == "thanhtra: đang hoạt động; đơn vị: stc; nội dung thư: stc\n"
    assert _run(group, "user", "revoke", "thanhtra", "stc", "--content").exit_code == 0
    r = _run(group, "user", "list", "--lang", "en")
    assert "admin\tadmin\tactive" in r.output and "thanhtra\tauditor\tactive\tstc" in r.output
    r = _run(group, "user", "list")  # Vietnamese by default
    assert r.stdout.splitlines() == ["admin\tquản trị viên\tđang hoạt động\t",
                                     "thanhtra\tkiểm tra viên\tđang hoạt động\tstc"]
    r = _run(group, "user", "disable", "thanhtra", "--lang", "en")
    assert r.exit_code == 0 and r.output == "thanhtra: disabled; units: stc\n"
    r = _run(group, "user", "enable", "thanhtra")
    assert r.exit_code == 0 and r.output == "thanhtra: đang hoạt động; đơn vị: stc\n"
    c = client(settings)
    assert login(c, "admin").status_code == 303
    with AuditLog.open_readonly(settings.audit.path) as log:
        actions = [e["details"]["action"] for e in log.admin_events(kind="user-grant")]
    assert actions == ["enable", "disable", "revoke-content", "revoke", "grant-content", "grant",
                       "grant", "add", "add-admin"]


def test_prompted_password(cli):
    group, settings = cli
    r = _run(group, "user", "add", "admin", "--admin",
             input="correct horse battery\ncorrect horse battery\n")
    assert r.exit_code == 0, r.output
    with users_of(settings) as users:
        assert users.authenticate("admin", "correct horse battery")


def _invalid(address):
    """The address parser's own English words about ``address`` (email-validator's)."""
    from directory import InvalidAddress, parse_official_address
    with pytest.raises(InvalidAddress) as refused:
        parse_official_address(address)
    return refused.value.reason


#: a refusal of ``congvu user``, as said in Vietnamese (the default) and with --lang en;
#: names, ids, addresses and a library's words are data, the same in both
REFUSALS = [
    (["user", "add", "x", "--password-stdin"], "short\n",
     "người dùng x: mật khẩu cần ít nhất 10 ký tự",
     "user x: the password needs at least 10 characters"),
    (["user", "add", "two words", "--password-stdin"], "long enough pw\n",
     "tên người dùng 'two words': 1-64 ký tự in được, không có dấu cách",
     "user name 'two words': 1-64 printable characters, no spaces"),
    (["user", "add", "tab\there", "--password-stdin"], "long enough pw\n",
     "tên người dùng 'tab\\there': 1-64 ký tự in được, không có dấu cách",
     "user name 'tab\\there': 1-64 printable characters, no spaces"),
    (["user", "add", "admin", "--password-stdin"], "long enough pw\n",
     "người dùng admin đã có rồi", "user admin exists already"),
    (["user", "grant", "nobody", "stc"], None,
     "không có người dùng 'nobody'", "no user 'nobody'"),
    (["user", "disable", "nobody"], None, "không có người dùng 'nobody'", "no user 'nobody'"),
    (["user", "grant", "admin", "  "], None,
     "mã đơn vị không được để trống", "a unit id cannot be empty"),
    (["user", "grant", "admin", "stcc"], None,
     "không có đơn vị 'stcc' trong danh bạ (có phải là stc?)",
     "no unit 'stcc' in the directory (did you mean stc?)"),
    (["user", "grant", "admin", "sở tài chính"], None,
     "không có đơn vị 'sở tài chính' trong danh bạ (có phải là stc?)",
     "no unit 'sở tài chính' in the directory (did you mean stc?)"),
    (["user", "grant", "admin", "phong-xyz"], None,
     "không có đơn vị 'phong-xyz' trong danh bạ", "no unit 'phong-xyz' in the directory"),
    (["user", "grant", "admin", "nguyen.van.a@stc.gov.vn"], None,
     "nguyen.van.a@stc.gov.vn là hộp thư của Nguyễn Văn A, không phải địa chỉ của một đơn "
     "vị: quyền được cấp cho cả một đơn vị; để cấp quyền đơn vị của hộp thư này, hãy cấp stc",
     "nguyen.van.a@stc.gov.vn is the mailbox of Nguyễn Văn A, not a unit's address: a grant "
     "is of a whole unit; to grant the unit of this mailbox, grant stc"),
    (["user", "grant", "admin", "nobody@stc.gov.vn"], None,
     "không có đơn vị nào có địa chỉ nobody@stc.gov.vn (hãy cấp quyền theo mã đơn vị, như "
     "`congvu directory show` liệt kê); các đơn vị có địa chỉ tại stc.gov.vn: stc",
     "no unit has the address nobody@stc.gov.vn (grant a unit by its id, as `congvu "
     "directory show` lists it); units with addresses at stc.gov.vn: stc"),
    (["user", "grant", "admin", "nobody@elsewhere.vn"], None,
     "không có đơn vị nào có địa chỉ nobody@elsewhere.vn (hãy cấp quyền theo mã đơn vị, như "
     "`congvu directory show` liệt kê)",
     "no unit has the address nobody@elsewhere.vn (grant a unit by its id, as `congvu "
     "directory show` lists it)"),
    (["user", "grant", "admin", "a@@b"], None,
     "'a@@b' không phải mã đơn vị, cũng không phải địa chỉ thư: {invalid}",
     "'a@@b' is neither a unit id nor an address: {invalid}"),
]


@pytest.mark.parametrize(("args", "stdin", "vietnamese", "english"), REFUSALS)
def test_a_refusal_exits_1_in_vietnamese_or_english(cli, args, stdin, vietnamese, english):
    group, settings = cli
    _run(group, "user", "add", "admin", "--password-stdin", input="long enough pw\n")
    invalid = _invalid("a@@b")
    for lang, said in ((None, vietnamese), ("en", english)):
        r = _run(group, *args, *(["--lang", lang] if lang else []), input=stdin)
        assert (r.exit_code, r.stdout) == (1, "")
        assert r.stderr == f"Error: {said.format(invalid=invalid)}\n"
    with users_of(settings) as users:
        assert [(u.name, u.units) for u in users.users()] == [("admin", ())]


def test_a_grant_without_a_directory_says_why_in_the_directorys_words(tmp_path):
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")}})
    group = click.Group("congvu")
    for command in commands(lambda path: cheap_settings(config)):
        group.add_command(command)
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    store = config.directory.path
    r = _run(group, "user", "grant", "thanhtra", "stc")
    assert (r.exit_code, r.stderr) == (1, (
        f"Error: không kiểm tra được đơn vị 'stc': {store}: chưa có kho danh bạ; hãy nhập "
        "một tệp CSV trước\n"))
    r = _run(group, "user", "grant", "thanhtra", "stc", "--lang", "en")
    assert (r.exit_code, r.stderr) == (1, (
        f"Error: cannot check unit 'stc': {store}: no such directory store; import a CSV "
        "file first\n"))


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


def test_password_changes_it_and_ends_every_session(cli, monkeypatch):
    import pwd

    monkeypatch.delenv("SUDO_USER", raising=False)
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    c = client(settings)
    assert login(c, "thanhtra", "long enough pw").status_code == 303
    assert c.get("/audit").status_code == 200
    r = _run(group, "user", "password", "thanhtra", "--stdin", "--lang", "en",
             input="a new long password\n")
    assert r.exit_code == 0, r.output
    assert r.output == "thanhtra: password changed; 1 session(s) ended\n"
    assert c.get("/audit").status_code == 303
    with users_of(settings) as users:
        assert users.authenticate("thanhtra", "long enough pw") is None
        assert users.authenticate("thanhtra", "a new long password") is not None
    with AuditLog.open_readonly(settings.audit.path) as log:
        event = log.admin_events(kind="user-grant")[0]
    assert (event["actor"], event["target"], event["details"]["action"]) == (
        pwd.getpwuid(os.getuid()).pw_name, "thanhtra", "password")


def test_password_asks_twice_on_the_terminal(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--password-stdin", input="long enough pw\n")
    r = _run(group, "user", "password", "thanhtra",
             input="first try differs\nsecond try\na new long password\na new long password\n")
    assert r.exit_code == 0, r.output
    # asked in Vietnamese (the mismatch is click's own words)
    assert r.output.count("Mật khẩu mới: ") == 2 and r.output.count("Nhập lại mật khẩu: ") == 2
    assert "do not match" in r.output
    assert "a new long password" not in r.output  # hidden input
    with users_of(settings) as users:
        assert users.authenticate("thanhtra", "a new long password") is not None


@pytest.mark.parametrize(("args", "stdin", "code", "message"), [
    (["nobody", "--stdin"], "a new long password\n", 1,
     "Error: không có người dùng 'nobody'"),
    (["nobody", "--stdin", "--lang", "en"], "a new long password\n", 1,
     "Error: no user 'nobody'"),
    (["thanhtra", "--stdin"], "short\n", 1,
     "Error: người dùng thanhtra: mật khẩu cần ít nhất 10 ký tự"),
    (["thanhtra", "--stdin"], "", 2,
     "Error: không có mật khẩu trên đầu vào chuẩn (--stdin đọc dòng đầu tiên)"),
    (["thanhtra", "--stdin", "--lang", "en"], "", 2,
     "Error: no password on standard input (--stdin reads its first line)"),
])
def test_password_refusals(cli, args, stdin, code, message):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    r = _run(group, "user", "password", *args, input=stdin)
    assert (r.exit_code, r.stdout, r.stderr) == (code, "", message + "\n")
    with users_of(settings) as users:
        assert users.authenticate("thanhtra", "long enough pw") is not None


def test_password_as_an_argument_is_a_usage_error(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    r = _run(group, "user", "password", "thanhtra", "a new long password")
    assert r.exit_code == 2 and "unexpected extra argument" in r.stderr
    with users_of(settings) as users:
        assert users.authenticate("thanhtra", "long enough pw") is not None


def test_disable_ends_every_session(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    c = client(settings)
    login(c, "thanhtra", "long enough pw")
    assert _run(group, "user", "disable", "thanhtra").exit_code == 0
    assert c.get("/audit").status_code == 303


def test_grant_by_address_resolves_to_the_unit(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    r = _run(group, "user", "grant", "thanhtra", "A@STC.gov.vn", "vanthu+x@stc.gov.vn",
             "--lang", "en")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "A@STC.gov.vn is the address of unit stc",
        "vanthu+x@stc.gov.vn is the address of unit stc",
        "thanhtra: active; units: stc"]
    r = _run(group, "user", "grant", "thanhtra", "A@STC.gov.vn")
    assert r.stdout.splitlines() == ["A@STC.gov.vn là địa chỉ của đơn vị stc",
                                     "thanhtra: đang hoạt động; đơn vị: stc"]
    with users_of(settings) as users:
        assert users.get("thanhtra").units == ("stc",)
    with AuditLog.open_readonly(settings.audit.path) as log:
        [event, _again] = [e for e in log.admin_events(kind="user-grant")
                           if e["details"]["action"] == "grant"]
    assert (event["target"], event["unit_id"]) == ("thanhtra", "stc")


def test_a_refused_grant_grants_nothing(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    r = _run(group, "user", "grant", "thanhtra", "sgd", "nobody@sgd.gov.vn")
    assert r.exit_code == 1
    with users_of(settings) as users:
        assert users.get("thanhtra").units == ()


def test_list_flags_grants_that_match_no_unit(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    _run(group, "user", "add", "other", "--stdin", input="long enough pw\n")
    with users_of(settings) as users:  # stored before the check, or the unit was removed
        users.grant("thanhtra", "stc")
        users.grant("thanhtra", "a@stc.gov.vn")
        users.grant("other", "sgd")
    r = _run(group, "user", "list", "--lang", "en")
    assert r.exit_code == 0
    rows = [line.split("\t") for line in r.stdout.splitlines()]
    assert rows == [["other", "auditor", "active", "sgd"],
                    ["thanhtra", "auditor", "active", "a@stc.gov.vn,stc",
                     "no such unit: a@stc.gov.vn"]]
    assert ("warning: thanhtra's grant of 'a@stc.gov.vn' matches no unit of the directory; "
            "take it back with `congvu user revoke thanhtra a@stc.gov.vn`") in r.stderr
    r = _run(group, "user", "list")  # Vietnamese by default, the data as stored
    assert r.stdout.splitlines()[1].split("\t") == [
        "thanhtra", "kiểm tra viên", "đang hoạt động", "a@stc.gov.vn,stc",
        "không có đơn vị: a@stc.gov.vn"]
    assert ("cảnh báo: quyền xem 'a@stc.gov.vn' cấp cho thanhtra không khớp đơn vị nào "
            "trong danh bạ; thu hồi bằng `congvu user revoke thanhtra a@stc.gov.vn`") in r.stderr
    # JSON is the same in both languages: the stored values
    as_json = [json.loads(line) for line in _run(group, "user", "list", "--format", "json",
                                                 "--lang", "en").stdout.splitlines()]
    assert as_json == [json.loads(line) for line in _run(
        group, "user", "list", "--format", "json").stdout.splitlines()]
    assert as_json[1] == {"name": "thanhtra", "is_admin": False, "is_active": True,
                          "units": ["a@stc.gov.vn", "stc"], "content_units": [],
                          "unknown_units": ["a@stc.gov.vn"]}
    assert _run(group, "user", "revoke", "thanhtra", "a@stc.gov.vn").exit_code == 0
    assert "no such unit" not in _run(group, "user", "list", "--lang", "en").stdout


def test_list_with_an_unreadable_directory_says_why_in_either_language(cli):
    group, settings = cli
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    _run(group, "user", "grant", "thanhtra", "stc")
    store = settings.directory_path
    store.write_bytes(b"not a database, " * 16)
    r = _run(group, "user", "list")
    # the directory's own problem, its step and SQLite's words as data
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", (
        f"Error: không đối chiếu được các quyền đã cấp với danh bạ: {store}: lỗi kho danh bạ "
        "khi reading the units: file is not a database\n"))
    r = _run(group, "user", "list", "--lang", "en")
    assert (r.exit_code, r.stderr) == (1, (
        f"Error: cannot check the grants against the directory: {store}: reading the units "
        "failed: file is not a database\n"))


def test_command_line_acts_are_recorded_with_the_user_behind_sudo(cli, monkeypatch):
    import pwd

    group, settings = cli
    monkeypatch.setenv("SUDO_USER", "nguyenvana")
    _run(group, "user", "add", "thanhtra", "--stdin", input="long enough pw\n")
    monkeypatch.delenv("SUDO_USER")
    _run(group, "user", "grant", "thanhtra", "stc")
    with AuditLog.open_readonly(settings.audit.path) as log:
        actors = [(e["details"]["action"], e["actor"]) for e in log.admin_events()]
    assert actors == [("grant", pwd.getpwuid(os.getuid()).pw_name), ("add", "nguyenvana")]
