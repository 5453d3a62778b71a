"""Administrators: quarantine (inspect, release to a real SMTP sink, delete), directory
edits with history, user management; every act is in the audit chain.

Release goes through the console's one seam, :class:`web.Releaser`: here a stand-in
that sends the held bytes over SMTP to the real test sink (tests/support/sink.py),
audits and deletes (milter's release, which also signs, is the production one).
"""

from __future__ import annotations

import html
import re

import pytest

from audit import AuditLog
from directory import Directory
from policies import open_quarantine
from support.webconsole import DOMAIN, HELD, client, csrf_of, login, smtp_releaser, users_of


def _events(env, kind):
    with AuditLog.open_readonly(env.config.audit.path) as log:
        return log.admin_events(kind=kind)


def _admin(env, **kw):
    c = client(env.settings, **kw)
    login(c, "admin")
    return c, csrf_of(c.get("/audit").text)


def _cell(page: str, row_id: str, cls: str) -> str:
    row = page[page.index(f'id="{row_id}"'):]
    row = row[:row.index("</tr>")]
    cell = row[row.index(f'class="{cls}"'):]
    return cell[cell.index(">") + 1:cell.index("</td>")]


def test_quarantine_lists_and_inspects(env):
    c, _ = _admin(env)
    page = c.get("/admin/quarantine").text
    assert env.held in page and "vanthu@stc.laocai.gov.vn" in page
    # what it is and why it is held, escaped: the list's own columns
    row = f"held-{env.held}"
    assert _cell(page, row, "subject") == (
        "&lt;script&gt;alert(&#39;held&#39;)&lt;/script&gt; Công văn")
    assert _cell(page, row, "from") == "Văn thư &lt;script&gt; &lt;vanthu@stc.laocai.gov.vn&gt;"
    assert _cell(page, row, "rule") == "<code>encrypted-archive</code>"
    # held before reasons had codes: its English, said to be so
    assert _cell(page, row, "reason") == (
        '<span class="reason as-recorded"><span data-value>&lt;b&gt;cannot inspect&lt;/b&gt;'
        '</span> <small>(nguyên văn tiếng Anh như đã ghi)</small></span> '
        '(<span data-value>&lt;svg onload=alert(1)&gt;.zip</span>)')
    page = c.get(f"/admin/quarantine/{env.held}").text
    assert "encrypted-archive" in page and "application/zip" in page
    assert "&lt;held-1@stc.laocai.gov.vn&gt;" in page
    assert 'id="subject" data-value>&lt;script&gt;' in page
    assert c.get("/admin/quarantine/nope").status_code == 404


def _act(reason="đã xác minh với người gửi qua điện thoại", confirm="yes", **more):
    return {"reason": reason, "confirm": confirm, **more}


def test_release_sends_the_message_to_the_next_hop_and_is_audited(env, next_hop):
    c, token = _admin(env, release=smtp_releaser(env.settings, "127.0.0.1", next_hop.port))
    r = c.post(f"/admin/quarantine/{env.held}/release", data=_act(csrf_token=token))
    assert r.status_code == 200 and 'id="done"' in r.text and 'id="held-none"' in r.text
    got = next_hop.get()
    assert got.recipients == ["vanthu@ubnd.laocai.gov.vn"]
    assert got.content.replace(b"\r\n", b"\n") == HELD.replace(b"\r\n", b"\n")
    events = _events(env, "quarantine-release")
    assert [(e["actor"], e["target"], e["details"]["reason"]) for e in events] == [
        ("admin", env.held, "đã xác minh với người gửi qua điện thoại")]
    assert env.held not in c.get("/admin/quarantine").text


@pytest.mark.parametrize(("act", "form"), [
    ("release", {}), ("release", {"reason": "  \r\n "}), ("release", {"confirm": ""}),
    ("delete", {}), ("delete", {"reason": "x" * 501}), ("delete", {"confirm": "no"}),
])
def test_release_and_delete_need_a_reason_and_a_confirmation(env, next_hop, act, form):
    c, token = _admin(env, release=smtp_releaser(env.settings, "127.0.0.1", next_hop.port))
    data = {"csrf_token": token, **({"reason": "", "confirm": "yes"} if not form else
                                    _act(**form))}
    r = c.post(f"/admin/quarantine/{env.held}/{act}", data=data)
    assert r.status_code == 400
    assert 'id="error"' in r.text and 'id="reason"' in r.text
    with open_quarantine(env.settings.quarantine) as store:
        assert store.get(env.held)
    assert _events(env, f"quarantine-{act}") == []
    next_hop.assert_empty()


def test_the_reason_kept_is_one_line(env):
    c, token = _admin(env)
    r = c.post(f"/admin/quarantine/{env.held}/delete",
               data=_act(reason=" spam\r\n  gửi nhầm\x00 ", csrf_token=token))
    assert r.status_code == 200 and 'id="done"' in r.text
    [event] = _events(env, "quarantine-delete")
    assert event["details"]["reason"] == "spam gửi nhầm"


def test_release_refused_by_the_next_hop_keeps_the_message(env, next_hop):
    next_hop.queue_reply("DATA", "554 5.7.1 no thanks")
    c, token = _admin(env, release=smtp_releaser(env.settings, "127.0.0.1", next_hop.port))
    r = c.post(f"/admin/quarantine/{env.held}/release", data=_act(csrf_token=token))
    assert r.status_code == 502
    assert "no thanks" in r.text.split('id="error">', 1)[1].split("</p>", 1)[0]
    with open_quarantine(env.settings.quarantine) as store:
        assert store.get(env.held)
    assert _events(env, "quarantine-release") == []


def test_release_without_a_releaser_is_not_offered(env):
    c, token = _admin(env)
    assert 'id="release"' not in c.get(f"/admin/quarantine/{env.held}").text
    r = c.post(f"/admin/quarantine/{env.held}/release", data=_act(csrf_token=token))
    assert r.status_code == 501


def test_delete_is_audited_then_done(env):
    c, token = _admin(env)
    r = c.post(f"/admin/quarantine/{env.held}/delete",
               data=_act(reason="thư rác", csrf_token=token))
    assert r.status_code == 200 and f"{env.held}: deleted" in r.text
    with open_quarantine(env.settings.quarantine) as store:
        assert store.list() == []
    [event] = _events(env, "quarantine-delete")
    assert (event["actor"], event["target"], event["details"]["reason"]) == (
        "admin", env.held, "thư rác")
    assert 'id="held-none"' in c.get("/admin/quarantine").text
    r = c.post("/admin/quarantine/nope/delete", data=_act(csrf_token=token))
    assert r.status_code == 400 and 'id="error"><span data-value>nope: ' in r.text


def _text(page: str) -> str:
    """What the page reads, without its tags."""
    return re.sub(r"<[^>]+>", "", page)


def _errors(page: str) -> list[str]:
    """The form's listed problems, as read."""
    listed = page.split('id="errors">', 1)[1].split("</ul>", 1)[0]
    return [html.unescape(_text(item)).strip() for item in listed.split("</li>")
            if _text(item).strip()]


def test_directory_edit_keeps_history_and_is_audited(env):
    c, token = _admin(env)
    form = {"csrf_token": token, **_row(env, "stc"), "name": "Sở Tài chính tỉnh Lào Cai",
            "phone": "0214 3840 000"}
    r = c.post("/admin/units/stc", data=form)
    assert r.status_code == 303
    with Directory.open(env.settings.directory_path, read_only=True) as directory:
        assert directory.get("stc").name == "Sở Tài chính tỉnh Lào Cai"
        assert {u.id for u in directory.units() if u.is_active} == {"ubnd", "stc", "stc-a",
                                                                   "sgd"}
        assert directory.history("stc")[-1].actor == "admin"
    change = "Tên: Sở Tài chính → Sở Tài chính tỉnh Lào Cai"  # the field by its label
    assert change in _text(c.get("/admin/units/stc").text)
    assert change in _text(c.get("/admin/history").text)
    [event] = _events(env, "directory-change")
    assert event["target"] == "stc" and event["actor"] == "admin"


def test_directory_edit_with_a_bad_address_is_refused(env):
    c, token = _admin(env)
    form = {"csrf_token": token, **_row(env, "stc"), "address": "not an address"}
    r = c.post("/admin/units/stc", data=form)
    assert r.status_code == 400 and 'id="errors"' in r.text
    # the problem in the page's language by its code; the value and email-validator's
    # own English words are data
    invalid = "An email address must have an @-sign."
    assert _errors(r.text) == [
        f"Địa chỉ thư công vụ: 'not an address' không phải địa chỉ thư hợp lệ: {invalid}"]
    assert 'data-code="address.invalid"' in r.text
    assert '<span data-value>not an address</span>' in r.text
    c.get("/lang/en")
    assert _errors(c.post("/admin/units/stc", data=form).text) == [
        f"Official address: 'not an address' is not a valid address: {invalid}"]
    with Directory.open(env.settings.directory_path, read_only=True) as directory:
        assert directory.get("stc").address.addr_spec == f"vanthu@stc.{DOMAIN}"
    assert _events(env, "directory-change") == []


def test_new_unit(env):
    c, token = _admin(env)
    assert c.get("/admin/new-unit?id=sxd").headers["location"] == "/admin/units/sxd"
    form = {"csrf_token": token, "name": "Sở Xây dựng", "parent": "ubnd",
            "address": f"vanthu@sxd.{DOMAIN}", "active": "yes"}
    assert c.post("/admin/units/sxd", data=form).status_code == 303
    assert "Sở Xây dựng" in client(env.settings).get("/units/sxd").text


def _row(env, unit_id):
    from web.actions import EDITABLE, unit_row
    with Directory.open(env.settings.directory_path) as directory:
        _, row = unit_row(directory, unit_id)
    return {k: row[k] for k in EDITABLE if k in row}


def test_user_management_is_audited(env):
    c, token = _admin(env)
    r = c.post("/admin/users", data={"csrf_token": token, "name": "thanhtra",
                                      "password": "a long password"})
    assert r.status_code == 303 and "error" not in r.headers["location"]
    c.post("/admin/users/thanhtra/grant", data={"csrf_token": token, "unit": "sgd"})
    with users_of(env.settings) as users:
        assert users.get("thanhtra").units == ("sgd",)
    t = client(env.settings)
    login(t, "thanhtra", "a long password")
    assert t.get("/api/audit/records").json()["total"] == 2
    c.post("/admin/users/thanhtra/disable", data={"csrf_token": token})
    assert t.get("/api/audit/records").status_code == 401
    actions = [e["details"]["action"] for e in _events(env, "user-grant")]
    assert actions == ["disable", "grant", "add"]


def test_a_grant_by_address_in_the_console_is_of_its_unit(env):
    c, token = _admin(env)
    r = c.post("/admin/users/auditor-b/grant",
               data={"csrf_token": token, "unit": f"VanThu@stc.{DOMAIN}"})
    assert "error" not in r.headers["location"]
    with users_of(env.settings) as users:
        assert users.get("auditor-b").units == ("sgd", "stc")
    [event] = _events(env, "user-grant")
    assert (event["target"], event["unit_id"]) == ("auditor-b", "stc")
    r = c.post("/admin/users/auditor-b/grant",
               data={"csrf_token": token, "unit": f"nobody@stc.{DOMAIN}"})
    assert r.status_code == 400 and 'data-code="grant.no-unit-at-address' in r.text


def test_the_users_page_flags_grants_of_no_unit(env):
    with users_of(env.settings) as users:
        users.grant("auditor-a", "so-cu-da-xoa")
    c, _ = _admin(env)
    page = c.get("/admin/users").text
    row = page[page.index('<tr id="user-auditor-a">'):]
    row = row[:row.index("</tr>")]
    assert row.count('class="stale-grant"') == 1
    assert row.index("so-cu-da-xoa") < row.index('class="stale-grant"')


def _error(page: str) -> str:
    """The users page's error, as read."""
    shown = page.split('id="error">', 1)[1].split("</p>", 1)[0]
    return html.unescape(_text(shown)).strip()


@pytest.mark.parametrize(("act", "form", "vietnamese", "english"), [
    ("/admin/users", {"name": "x", "password": "short"},
     "người dùng x: mật khẩu cần ít nhất 10 ký tự",
     "user x: the password needs at least 10 characters"),
    ("/admin/users", {"name": "auditor-a", "password": "a long password"},
     "người dùng auditor-a đã có rồi", "user auditor-a exists already"),
    ("/admin/users/auditor-a/grant", {"unit": "stcc"},
     "không có đơn vị 'stcc' trong danh bạ (có phải là stc?)",
     "no unit 'stcc' in the directory (did you mean stc?)"),
    ("/admin/users/nobody/revoke", {"unit": "stc"},
     "không có người dùng 'nobody'", "no user 'nobody'"),
    ("/admin/users/admin/disable", {},
     "bạn không thể tự khóa chính mình", "you cannot disable yourself"),
])
def test_a_refused_user_change_is_said_in_the_pages_language(env, act, form, vietnamese,
                                                              english):
    c, token = _admin(env)
    r = c.post(act, data={"csrf_token": token, **form})
    assert r.status_code == 400
    assert _error(r.text) == vietnamese
    assert 'class="reason" data-code=' in r.text  # said by its code, not as recorded
    c.get("/lang/en")
    again = c.post(act, data={"csrf_token": token, **form})
    assert (again.status_code, _error(again.text)) == (400, english)
    with users_of(env.settings) as users:
        assert "x" not in {u.name for u in users.users()}
        assert users.get("auditor-a").units == ("stc",) and users.get("admin").is_active
    assert _events(env, "user-grant") == []


def test_a_refusals_values_are_data(env):
    c, token = _admin(env)
    r = c.post("/admin/users", data={"csrf_token": token, "name": "<b>x</b>",
                                      "password": "short"})
    page = r.text
    assert '<span data-value>&lt;b&gt;x&lt;/b&gt;</span>' in page
    assert 'data-code="user.password-short"' in page


def test_no_address_puts_words_on_an_administrators_page(env):
    """A refusal or an act's result is said in the act's own answer: a link carrying
    words (as earlier releases' redirects did) shows none of them."""
    c, _ = _admin(env)
    words = "mật khẩu của bạn đã hết hạn, hãy vào evil.example"
    for address in (f"/admin/users?error={words}",
                    "/admin/users?why=%7B%22code%22%3A%22user.unknown%22%2C%22values%22%3A"
                    "%7B%22name%22%3A%22evil.example%22%7D%7D",
                    f"/admin/quarantine?error={words}", f"/admin/quarantine?done={words}"):
        page = c.get(address)
        assert page.status_code == 200, address
        assert 'id="error"' not in page.text and 'id="done"' not in page.text, address
        assert "evil.example" not in html.unescape(_text(page.text)), address  # as read


def test_an_unknown_user_action_is_not_found(env):
    c, token = _admin(env)
    assert c.post("/admin/users/admin/explode", data={"csrf_token": token}).status_code == 404


def test_events_page_lists_admin_acts(env):
    c, token = _admin(env)
    c.post(f"/admin/quarantine/{env.held}/delete", data=_act(csrf_token=token))
    page = c.get("/audit/events").text
    # each kind in the reader's words
    assert "Xóa thư bị cách ly" in page and "Thay khóa" in page
    c.get("/lang/en")
    page = c.get("/audit/events").text
    assert "Quarantine deletion" in page and "Key rotation" in page


def test_release_through_milters_release(env, next_hop):
    """The production seam: milter.quarantine.run_release (units and signing stages,
    the next hop, the audit event), as the lead wires it into ``congvu web``."""
    from congvu.config import parse_config
    from milter.quarantine import run_release
    config = parse_config({
        "service": {"data_dir": str(env.config.data_dir)},
        "next_hop": {"kind": "smtp", "port": next_hop.port, "connect_timeout": 5,
                     "command_timeout": 5, "data_timeout": 5},
    })
    c, token = _admin(env, release=lambda qid, actor, reason: run_release(
        config, qid, actor=actor, reason=reason))
    r = c.post(f"/admin/quarantine/{env.held}/release", data=_act(csrf_token=token))
    assert r.status_code == 200 and 'id="done"' in r.text, r.text
    got = next_hop.get()
    assert got.recipients == ["vanthu@ubnd.laocai.gov.vn"]
    assert b"Message-ID: <held-1@stc.laocai.gov.vn>" in got.content
    [event] = _events(env, "quarantine-release")
    assert (event["actor"], event["target"], event["details"]["reason"]) == (
        "admin", env.held, "đã xác minh với người gửi qua điện thoại")
    with open_quarantine(env.settings.quarantine) as store:
        assert store.list() == []


def _active_control(page: str) -> list[tuple[str, bool, str]]:
    """The unit form's ``active`` choices: value, selected, words."""
    control = page.split('<select name="active" id="u-active">', 1)[1].split("</select>", 1)[0]
    return [(value, bool(selected), _text(words).strip()) for value, selected, words in
            re.findall(r'<option value="([^"]*)"( selected)?[^>]*>(.*?)</option>', control)]


def test_the_unit_form_says_whether_the_unit_is_in_use_in_words(env):
    c, token = _admin(env)
    assert 'value="yes"' not in c.get("/admin/units/stc").text
    assert _active_control(c.get("/admin/units/stc").text) == [
        ("1", True, "Đang hoạt động"), ("0", False, "Đã ngừng hoạt động")]
    assert _active_control(c.get("/admin/units/sxd").text)[0] == (
        "1", True, "Đang hoạt động")  # a new unit is in use unless said otherwise
    form = {"csrf_token": token, **_row(env, "sgd"), "active": "0"}
    assert c.post("/admin/units/sgd", data=form).status_code == 303
    with Directory.open(env.settings.directory_path, read_only=True) as directory:
        assert not directory.get("sgd").is_active
    c.get("/lang/en")
    assert _active_control(c.get("/admin/units/sgd").text) == [
        ("1", False, "In use"), ("0", True, "No longer in use")]
    # a value the import refuses is shown as typed, marked as data, with the error
    refused = c.post("/admin/units/sgd", data={**form, "active": "maybe"})
    assert refused.status_code == 400 and "maybe" in refused.text.split('id="errors"')[1]
    assert _active_control(refused.text)[2] == ("maybe", True, "maybe")
    assert '<option value="maybe" selected data-value>' in refused.text
