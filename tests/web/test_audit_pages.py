"""The auditors' pages: filters as ``congvu audit query``, pagination, bad filters,
record detail, trace by upload, report, chain verification, no store yet."""

from __future__ import annotations

import re

import pytest

from audit import Attachment, AuditLog, DocumentSignatureRecord
from support.audit import make_record, sha
from support.webconsole import SHARED_DOC, client, csrf_of, login


@pytest.fixture
def admin(env):
    c = client(env.settings)
    login(c, "admin")
    return c


def _ids(c, query):
    return [i["id"] for i in c.get(f"/api/audit/records?{query}").json()["items"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("", [4, 3, 2, 1]),
    ("direction=inbound", [4]),
    ("period=2026-11", [4, 3, 2, 1]),
    ("period=2026-10", []),
    ("since=2026-11-03T10:00&until=2026-11-03T11:00", [2]),  # 03:30 UTC is 10:30 local
    ("since=03/11/2026+10:00&until=03/11/2026+11:00", [2]),  # as people write dates here
    ("since=03/11/2026&until=04/11/2026", [4, 3, 2, 1]),
    ("until=03/11/2026", []),
    ("text=phoi+hop", [3]),
    ("filename=ke+hoach.pdf", [3]),
    (f"sha256={SHARED_DOC}", [3]),
    ("recipient=ngansach@stc.laocai.gov.vn", [4]),
    ("sender=vanthu@sgd.laocai.gov.vn", [2]),
    ("queue_id=SGDQ1", [2]),
    ("decision=accept&outcome=incomplete", [4, 3, 2, 1]),
    ("outcome=relayed", []),
    ("unit=stc-a&direction=outbound", [3]),
])
def test_filters(admin, query, expected):
    assert _ids(admin, query) == expected


@pytest.mark.parametrize("query", ["since=yesterday", "period=2026-13", "direction=sideways",
                                   "decision=maybe", "outcome=lost", "page=0", "page=x",
                                   "page_size=5000", "sha256=abc",
                                   "since=2026-11-05&until=2026-11-01", "since=31/02/2026",
                                   "until=03/11/26+9h"])
def test_bad_filters_are_400_with_the_reason(admin, query):
    r = admin.get(f"/audit?{query}")
    assert r.status_code == 400 and 'id="filter-error"' in r.text
    assert admin.get(f"/api/audit/records?{query}").status_code == 400
    assert admin.get(f"/audit/export.csv?{query}").status_code == 400


def test_pagination_keeps_the_filter(admin):
    page = admin.get("/audit?direction=outbound&page_size=2").text
    assert 'id="next"' in page and 'id="prev"' not in page
    assert "direction=outbound" in page.split('id="next"')[0].rsplit("href=", 1)[1]
    page = admin.get("/audit?direction=outbound&page_size=2&page=2").text
    assert 'id="prev"' in page and 'id="next"' not in page
    assert _ids(admin, "direction=outbound&page_size=2&page=2") == [1]


def test_record_detail(admin):
    page = admin.get("/audit/records/3").text
    assert "Kế hoạch.pdf" in page and SHARED_DOC in page
    assert "stc.example.gov.vn" in page  # the DKIM signature result's domain
    assert "cv2026" in page


def test_trace_by_upload(admin):
    token = csrf_of(admin.get("/audit/trace").text)
    r = admin.post("/audit/trace", data={"csrf_token": token},
                   files={"document": ("x.pdf", b"shared-document", "application/pdf")})
    assert r.headers["location"] == f"/audit/trace?sha256={SHARED_DOC}"
    assert 'href="/audit/records/3"' in admin.get(r.headers["location"]).text
    assert admin.get("/audit/trace?sha256=nothex").status_code == 400


def test_report_and_charts(admin):
    page = admin.get("/audit/report?period=2026-11").text
    assert 'data-unit="sgd"' in page and "volume.svg?period=2026-11" in page
    svg = admin.get("/audit/report/signed.svg?period=2026-11")
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text
    assert admin.get("/audit/report?period=someday").status_code == 400
    assert admin.get("/audit/report/pie.svg").status_code == 404


def test_chain_status_and_verification(admin):
    page = admin.get("/audit/chain").text
    assert 'id="checkpoint"' in page
    token = csrf_of(page)
    assert admin.post("/audit/chain/verify", data={"csrf_token": token}).status_code == 303
    page = admin.get("/audit/chain").text
    assert 'id="verify-result" class="ok"' in page and "5 sự kiện" in page


def test_chain_verification_finds_tampering(env, admin):
    import sqlite3
    conn = sqlite3.connect(env.config.audit.path)
    conn.execute("UPDATE events SET subject = 'changed' WHERE seq = 2")
    conn.commit()
    conn.close()
    token = csrf_of(admin.get("/audit/chain").text)
    admin.post("/audit/chain/verify", data={"csrf_token": token})
    assert 'id="verify-result" class="error"' in admin.get("/audit/chain").text


def test_without_an_audit_store(tmp_path):
    from congvu.config import parse_config
    from support.webconsole import PASSWORD, cheap_settings, users_of
    settings = cheap_settings(parse_config({"service": {"data_dir": str(tmp_path)}}))
    with users_of(settings) as users:
        users.add("admin", PASSWORD, is_admin=True)
    c = client(settings)
    login(c, "admin")
    for path in ["/audit", "/audit/chain", "/audit/report", "/audit/trace?sha256=" + "0" * 64,
                 "/audit/export.csv", "/api/audit/records", "/audit/events"]:
        assert c.get(path).status_code == 200, path
    assert c.get("/audit/records/1").status_code == 404


def test_the_list_numbers_its_rows_and_names_units(admin):
    # the second page of three outbound messages: its row is the third of the list, and
    # its link is the record's id
    page = admin.get("/audit?direction=outbound&page_size=2&page=2").text
    rows = re.findall(r'<tr data-record="(\d+)"><td><a href="/audit/records/(\d+)" '
                      r'class="record-link" title="Mã bản ghi \d+">(\d+)</a>', page)
    assert rows == [("1", "1", "3")]
    assert '<span class="unit" title="stc" data-value>Sở Tài chính</span>' in page
    assert "03/11/2026 09:30" in page and ">STT<" in page
    first = admin.get("/audit").text
    assert [n for _, _, n in re.findall(r'<tr data-record="(\d+)"><td><a href="/audit/'
                                        r'records/(\d+)"[^>]*>(\d+)</a>', first)] == [
        "1", "2", "3", "4"]
    # the inbound record claims ubnd in its From: named as a claim, not as the sender
    claimed = first.split('data-record="4"', 1)[1].split("</tr>", 1)[0]
    assert "Ủy ban nhân dân tỉnh Lào Cai</span> <span class=\"note\">(nêu trong From" in claimed
    # the unit filter lists units by name, the ids as values
    assert ('<option value="stc-a" title="stc-a" data-value >&nbsp;&nbsp;&nbsp;&nbsp;'
            'Phòng Ngân sách') in first


def test_trace_shows_each_sendings_verdict_and_signers(env, admin):
    signed = Attachment(path="2", filename="QĐ.pdf", size=10, sha256=sha("qd"),
                        detected_type="application/pdf", document="valid", signatures=[
                            DocumentSignatureRecord(verdict="valid", signer="Nguyễn Văn A",
                                                    signer_role="person", signer_unit="stc"),
                            DocumentSignatureRecord(verdict="valid", signer="TSA",
                                                    is_timestamp=True)])
    with AuditLog.open(env.config.audit) as log:
        rid = log.record(make_record(attachments=[signed]))
    page = admin.get(f"/audit/trace?sha256={sha('qd')}").text
    row = page.split(f'data-record="{rid}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="verdict">Hợp lệ</td>' in row
    signers = row.split('<td class="signers">', 1)[1].split("</td>", 1)[0]
    assert re.sub(r"<[^>]+>", "", signers) == "Nguyễn Văn A (Cá nhân, Sở Tài chính): Hợp lệ"
