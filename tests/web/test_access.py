"""Authorization, tested by trying: anonymous sees only the directory; an auditor of
one unit cannot see another's records by any URL, API call or export."""

from __future__ import annotations

import csv
import io

import pytest

from support.webconsole import SGD_DOC, SHARED_DOC, XSS_SUBJECT, client, login, users_of

ADMIN_ONLY = ["/admin/quarantine", "/admin/history", "/admin/users", "/admin/units/stc",
              "/audit/events", "/admin/new-unit?id=x"]
LOGGED_IN = ["/audit", "/audit/records/1", "/audit/export.csv", "/audit/trace",
             f"/audit/trace?sha256={SGD_DOC}", "/audit/report", "/audit/report/volume.svg",
             "/audit/chain", *ADMIN_ONLY]


def _ids(c, query: str = "") -> set[int]:
    data = c.get(f"/api/audit/records?page_size=1000{query}").json()
    return {item["id"] for item in data["items"]}


def _csv(c, query: str = "") -> list[dict[str, str]]:
    r = c.get(f"/audit/export.csv?{query}")
    assert r.status_code == 200
    return list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))


def test_anonymous_sees_the_directory(env):
    c = client(env.settings)
    for path in ["/", "/?q=tai+chinh", "/units/stc", "/units/stc/vcard", "/api/units",
                 "/api/units/stc", "/api/openapi.json", "/static/console.css"]:
        assert c.get(path).status_code == 200, path


@pytest.mark.parametrize("path", LOGGED_IN)
def test_anonymous_is_sent_to_login(env, path):
    r = client(env.settings).get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


def test_anonymous_api_says_401(env):
    c = client(env.settings)
    assert c.get("/api/audit/records").status_code == 401
    assert c.get("/api/audit/records/1").status_code == 401


@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_auditor_cannot_open_admin_pages(env, path):
    c = client(env.settings)
    login(c, "auditor-a")
    assert c.get(path).status_code == 403


def test_auditor_list_holds_only_granted_units_and_descendants(env):
    a, b, admin = (client(env.settings) for _ in range(3))
    login(a, "auditor-a")
    login(b, "auditor-b")
    login(admin, "admin")
    # ids: 1 stc->ubnd, 2 sgd->ubnd, 3 stc-a->sgd, 4 ubnd->stc-a, 5 admin event
    assert _ids(a) == {1, 3, 4}  # stc's grant covers stc-a below it
    assert _ids(b) == {2, 3}
    assert _ids(admin) == {1, 2, 3, 4}
    page = a.get("/audit").text
    assert "Bí mật SGD" not in page and "Công văn số 1/STC" in page


@pytest.mark.parametrize("query", ["&unit=sgd", "&unit=ubnd", "&unit=sgd&unit=ubnd",
                                   f"&sha256={SGD_DOC}", "&queue_id=SGDQ1",
                                   "&message_id=sgd-1@sgd", "&text=mat+sgd",
                                   "&sender=vanthu@sgd.laocai.gov.vn"])
def test_auditor_filters_cannot_reach_other_units(env, query):
    a = client(env.settings)
    login(a, "auditor-a")
    assert 2 not in _ids(a, query)
    rows = _csv(a, query.lstrip("&"))
    assert all(row["id"] != "2" for row in rows)
    assert XSS_SUBJECT not in a.get(f"/audit?{query.lstrip('&')}").text


def test_a_filter_on_a_granted_unit_narrows(env):
    a = client(env.settings)
    login(a, "auditor-a")
    assert _ids(a, "&unit=stc-a") == {3, 4}
    assert _ids(a, "&unit=stc-a&unit=sgd") == {3, 4}
    assert _ids(a, "&unit=stc") == {1}
    assert _ids(a, "&unit=stc&subtree=1") == {1, 3, 4}


def test_subtree_of_an_ancestor_stays_within_the_grant(env):
    a = client(env.settings)
    login(a, "auditor-a")
    assert _ids(a, "&unit=ubnd&subtree=1") == {1, 3, 4}
    assert 2 not in {int(r["id"]) for r in _csv(a, "unit=ubnd&subtree=1")}


@pytest.mark.parametrize("path", ["/audit/records/2", "/api/audit/records/2",
                                  "/audit/records/5", "/api/audit/records/5",
                                  "/audit/records/999", "/api/audit/records/999"])
def test_auditor_cannot_open_another_units_record(env, path):
    a = client(env.settings)
    login(a, "auditor-a")
    r = a.get(path)
    assert r.status_code == 404
    assert "Bí mật" not in r.text and "key-rotation" not in r.text


def test_shared_record_is_visible_to_both(env):
    for name in ("auditor-a", "auditor-b"):
        c = client(env.settings)
        login(c, name)
        assert c.get("/audit/records/3").status_code == 200
        assert c.get("/api/audit/records/3").json()["subject"] == "Phối hợp giữa hai sở"


def test_export_holds_only_granted_records(env):
    a = client(env.settings)
    login(a, "auditor-a")
    assert sorted(row["id"] for row in _csv(a)) == ["1", "3", "4"]
    admin = client(env.settings)
    login(admin, "admin")
    assert sorted(row["id"] for row in _csv(admin)) == ["1", "2", "3", "4"]


def test_trace_shows_only_granted_sendings(env):
    a, b = client(env.settings), client(env.settings)
    login(a, "auditor-a")
    login(b, "auditor-b")
    assert 'id="trace-empty"' in a.get(f"/audit/trace?sha256={SGD_DOC}").text
    assert 'href="/audit/records/2"' in b.get(f"/audit/trace?sha256={SGD_DOC}").text
    assert 'href="/audit/records/3"' in a.get(f"/audit/trace?sha256={SHARED_DOC}").text


def test_report_covers_only_granted_units(env):
    a = client(env.settings)
    login(a, "auditor-a")
    page = a.get("/audit/report?period=2026-11").text
    assert 'data-unit="stc"' in page and 'data-unit="stc-a"' in page
    assert 'data-unit="sgd"' not in page and 'data-unit="ubnd"' not in page
    svg = a.get("/audit/report/volume.svg?period=2026-11").text
    assert "Sở Giáo dục" not in svg and "Phòng Ngân sách" in svg


def test_auditor_without_grants_sees_nothing(env):
    with users_of(env.settings) as users:
        users.add("nobody", "long enough password")
    c = client(env.settings)
    login(c, "nobody", "long enough password")
    assert _ids(c) == set()
    assert _csv(c) == []


def test_grant_of_an_ancestor_covers_units_added_below_later(env):
    from audit import AuditLog
    from support.webconsole import DOMAIN, make_record
    from web.actions import edit_unit
    edit_unit(env.settings, "sgd-x", {"name": "Phòng X", "parent": "sgd",
                                      "address": f"x@sgd.{DOMAIN}"}, actor="test")
    with AuditLog.open(env.config.audit) as log:
        new = log.record(make_record(sender_unit="sgd-x", subject="Từ phòng X"))
    b = client(env.settings)
    login(b, "auditor-b")
    assert _ids(b, "&unit=sgd-x") == {new}
    assert new in _ids(b)
    a = client(env.settings)
    login(a, "auditor-a")
    assert new not in _ids(a)
    assert _ids(a, "&unit=sgd-x") == set()


def test_disabled_user_session_ends(env):
    a = client(env.settings)
    login(a, "auditor-a")
    assert a.get("/audit").status_code == 200
    with users_of(env.settings) as users:
        users.set_active("auditor-a", False)
    assert a.get("/audit").status_code == 303
    assert login(client(env.settings), "auditor-a").status_code == 401
