"""Error pages: the technical detail in the page's language where the words are ours,
each value marked as data; another component's own words kept as they came, marked as
data and said to be its English as given; the JSON API keeps the English."""

from __future__ import annotations

import re
from html import unescape

import pytest

from support.pagewords import not_vietnamese
from support.webconsole import client, login

AS_GIVEN_VI = "(nguyên văn tiếng Anh như được báo)"
AS_GIVEN_EN = "(in English, as given)"


def _detail(page: str) -> str:
    """The HTML of the error page's detail."""
    return page.split('<p class="error" id="detail">', 1)[1].split("</p>", 1)[0]


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


@pytest.fixture
def admin(env):
    c = client(env.settings)
    login(c, "admin")
    return c


def test_our_detail_reads_in_the_pages_language_with_its_value_as_data(admin) -> None:
    page = admin.get("/audit/records/987654")
    assert page.status_code == 404
    detail = _detail(page.text)
    assert _text(detail) == "không có bản ghi 987654"
    assert detail == "không có bản ghi <span data-value>987654</span>"
    assert not_vietnamese(page.text) == set()
    admin.get("/lang/en")
    assert _text(_detail(admin.get("/audit/records/987654").text)) == "no record 987654"
    # the API's answer stays English, whatever the page's language
    assert admin.get("/api/audit/records/987654").json() == {"detail": "no record 987654"}


def test_another_components_words_are_kept_marked_as_its_english(admin) -> None:
    page = admin.get("/audit/export.csv?since=31/02/2026")
    assert page.status_code == 400
    detail = _detail(page.text)
    said, given = _text(detail).split(": ", 1)
    assert said == "không hiểu được bộ lọc"
    assert given == f"'31/02/2026' is not a date (dd/mm/yyyy, dd/mm/yyyy HH:MM) or an ISO " \
        f"8601 date {AS_GIVEN_VI}"
    # the filter's own words are data, in English, not the page's
    assert re.search(r'<span data-value lang="en">&#39;31/02/2026&#39; is not a date[^<]+'
                     r"</span> <small>", detail)
    assert not_vietnamese(page.text) == set()
    admin.get("/lang/en")
    said, given = _text(_detail(admin.get("/audit/export.csv?since=31/02/2026").text)
                        ).split(": ", 1)
    assert said == "the filter could not be read" and given.endswith(AS_GIVEN_EN)


def test_a_librarys_own_not_found_is_marked_as_its_english(admin) -> None:
    page = admin.get("/no/such/page")
    assert page.status_code == 404
    assert _detail(page.text) == ('<span class="as-given"><span data-value lang="en">Not Found'
                                  f"</span> <small>{AS_GIVEN_VI}</small></span>")
    assert not_vietnamese(page.text) == set()


def test_a_form_without_its_token_says_why_in_vietnamese(admin) -> None:
    page = admin.post("/admin/users", data={"name": "x", "password": "a long password"})
    assert page.status_code == 403
    assert _text(_detail(page.text)) == ("biểu mẫu đã hết hạn hoặc không do trang quản trị "
                                         "này tạo ra: hãy tải lại trang rồi thử lại")
    assert not_vietnamese(page.text) == set()


def test_a_unit_without_a_certificate_names_it_as_data(env) -> None:
    c = client(env.settings)
    page = c.get("/units/stc/certificate")
    assert page.status_code == 404
    assert _detail(page.text) == ("đơn vị <span data-value>stc</span> không có chứng thư số")
    assert c.get("/api/units/nope").json() == {"detail": "no unit nope"}
