"""Every page of the console reads in Vietnamese by default and in English after the
switch on it, at the same address: the switch is a cookie (``/lang/en?next=PAGE`` sets
it and goes back to PAGE), so record URLs and the links people share never change."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from audit import AdminKind
from support.webconsole import client, login
from web.i18n import WORDS, words

#: a page of each kind, and a heading it has in each language
PAGES = {
    "/": ("Đăng xuất", "Log out"),
    "/units/stc": ("Địa chỉ thư công vụ", "Official addresses"),
    "/audit": ("Xuất CSV", "Export CSV"),
    "/audit/records/1": ("Mã bản ghi", "Record id"),
    "/audit/trace": ("Truy vết tài liệu", "Document trace"),
    "/audit/report?period=2026-11": ("Báo cáo định kỳ", "Periodic report"),
    "/audit/chain": ("Kiểm tra chuỗi", "Chain verification"),
    "/audit/events": ("Sự kiện quản trị", "Administrative events"),
    "/admin/quarantine": ("Cách ly", "Quarantine"),
    "/admin/history": ("Lịch sử thay đổi", "Change history"),
    "/admin/users": ("Thêm người dùng", "Add user"),
    "/admin/units/stc": ("Lưu", "Save"),
    "/account/password": ("Đổi mật khẩu", "Change password"),
}
SWITCH = re.compile(r'<a href="/lang/(vi|en)\?next=([^"]*)" id="lang" lang="(vi|en)">([^<]*)</a>')


@pytest.fixture
def admin(env):
    c = client(env.settings)
    login(c, "admin")
    return c


@pytest.mark.parametrize("path", list(PAGES))
def test_a_page_reads_in_either_language_at_the_same_address(admin, path: str) -> None:
    vietnamese, english = PAGES[path]
    page = admin.get(path)
    assert page.status_code == 200, path
    assert '<html lang="vi">' in page.text and vietnamese in page.text
    (target, back, named, word), = SWITCH.findall(page.text)
    assert (target, named, word) == ("en", "en", "English")
    assert back == quote(path, safe="/")

    switched = admin.get(f"/lang/en?next={back}")
    assert (switched.status_code, switched.headers["location"]) == (303, path)
    page = admin.get(path)
    assert '<html lang="en">' in page.text and english in page.text
    assert [(t, w) for t, _, _, w in SWITCH.findall(page.text)] == [("vi", "Tiếng Việt")]
    if vietnamese != english:
        assert vietnamese not in page.text


def test_the_switch_goes_back_only_to_this_site(admin) -> None:
    response = admin.get("/lang/en?next=https://example.org/")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert admin.get("/lang/fr?next=/").status_code == 404


def test_every_administrative_act_the_chain_can_hold_has_a_word() -> None:
    """The events page reads each act by its word; a kind added to the chain without one
    would show its stored value to an inspector."""
    assert set(WORDS["admin"]) == {kind.value for kind in AdminKind}
    vietnamese = words("vi")
    assert all(vietnamese.word("admin", kind) not in (None, kind.value, english)
               for kind, (_, english) in ((k, WORDS["admin"][k.value]) for k in AdminKind))
