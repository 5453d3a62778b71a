"""After a merger: the console marks a merged unit "đã hợp nhất vào …" with a link to
its successor, its search finds the old unit, and an auditor of the successor sees the
predecessors' records, while a unit that only names another as its successor, or is
named by none, gains nothing."""

from __future__ import annotations

import re
from datetime import timedelta

from audit import AuditLog, Completion, Fate
from directory import Directory
from support.audit import T0, make_record
from support.webconsole import DOMAIN, UNITS_CSV, client, login, users_of

# Bình Thuận's Sở Tài chính (and the office below it) merged into Lào Cai's; its Sở Nội
# vụ closed without a successor
MERGED = (
    UNITS_CSV.replace("id,name,parent,address,short_name,name_en",
                      "id,name,parent,address,short_name,name_en,active,successor")
    .replace(",Provincial People's Committee\n", ",Provincial People's Committee,,\n")
    .replace(",Department of Finance\n", ",Department of Finance,,\n")
    .replace(",Budget Office\n", ",Budget Office,,\n")
    .replace(",Department of Education\n", ",Department of Education,,\n")
    + "bt-stc,Sở Tài chính Bình Thuận,ubnd,stc@binhthuan.gov.vn,,,no,stc\n"
    + "bt-stc-vp,Văn phòng Sở Tài chính Bình Thuận,bt-stc,vp.stc@binhthuan.gov.vn,,,no,\n"
    + "bt-snv,Sở Nội vụ Bình Thuận,ubnd,snv@binhthuan.gov.vn,,,no,\n"
)


def merged_env(env):
    with Directory.open(env.config.directory.path) as directory:
        directory.import_csv(MERGED, actor="test")
    ids = {}
    with AuditLog.open(env.config.audit) as log:
        for n, unit in enumerate(("bt-stc", "bt-stc-vp", "bt-snv", "stc")):
            at = T0 + timedelta(days=1, hours=n)
            ids[unit] = log.record(make_record(
                received_at=at, sender_unit=unit,
                envelope_sender=f"x{n}@binhthuan.gov.vn", subject=f"Thư cũ của {unit}",
                recipient_units=[], envelope_recipients=["a@example.org"]))
            log.complete(Completion(record_id=ids[unit], outcome=Fate.RELAYED,
                                    reply="250 2.0.0 Ok", at=at + timedelta(seconds=1)))
    return ids


def sent_by_unit(page: str) -> dict[str, str]:
    """The report page's unit rows: unit id -> its 'sent' cell."""
    return dict(re.findall(r'data-kind="unit" data-unit="([^"]+)">.*?'
                           r'<td data-column="sent">([^<]*)</td>', page, flags=re.DOTALL))


def test_the_report_page_rolls_predecessors_into_their_successor_when_asked(env):
    merged_env(env)
    c = client(env.settings)
    login(c, "auditor-a")
    apart = c.get("/audit/report", params={"period": "2026-11"}).text
    rolled = c.get("/audit/report", params={"period": "2026-11",
                                            "with_predecessors": "true"}).text
    assert sent_by_unit(apart) == {"stc": "1", "stc-a": "0", "bt-stc": "1",
                                   "bt-stc-vp": "1"}
    # bt-stc counted in stc; its office has no successor and keeps its row
    assert sent_by_unit(rolled) == {"stc": "2", "stc-a": "0", "bt-stc-vp": "1"}
    assert 'id="with-predecessors" value="true" checked' in rolled
    assert "with_predecessors=true" in rolled
    chart = c.get("/audit/report/volume.svg", params={"period": "2026-11",
                                                       "with_predecessors": "true"})
    assert chart.status_code == 200
    # another unit's auditor gets none of it by rolling
    b = client(env.settings)
    login(b, "auditor-b")
    assert sent_by_unit(b.get("/audit/report", params={
        "period": "2026-11", "with_predecessors": "true"}).text) == {"sgd": "0"}


def visible(env, user: str) -> set[int]:
    c = client(env.settings)
    login(c, user)
    data = c.get("/api/audit/records?page_size=1000").json()
    return {item["id"] for item in data["items"]}


def test_the_successors_auditor_sees_the_predecessors_records(env):
    ids = merged_env(env)
    seen = visible(env, "auditor-a")  # granted stc
    assert {ids["bt-stc"], ids["bt-stc-vp"]} <= seen
    assert ids["bt-snv"] not in seen
    c = client(env.settings)
    login(c, "auditor-a")
    assert c.get(f"/audit/records/{ids['bt-stc']}").status_code == 200
    assert c.get(f"/audit/records/{ids['bt-snv']}").status_code == 404
    # another unit's auditor sees none of them
    assert not {ids["bt-stc"], ids["bt-stc-vp"], ids["bt-snv"]} & visible(env, "auditor-b")


def test_an_auditor_of_a_predecessor_does_not_see_its_successor(env):
    ids = merged_env(env)
    with users_of(env.settings) as users:
        users.add("auditor-bt", "correct horse battery")
        users.grant("auditor-bt", "bt-stc")
    seen = visible(env, "auditor-bt")
    assert ids["bt-stc"] in seen
    stc_records = visible(env, "auditor-a") - {ids["bt-stc"], ids["bt-stc-vp"]}
    assert stc_records and not stc_records & seen


def test_a_merged_unit_is_marked_and_found(env):
    merged_env(env)
    c = client(env.settings)
    page = c.get("/units/bt-stc").text
    assert ('<p id="merged-into">đã hợp nhất vào <a href="/units/stc" data-value>Sở Tài chính</a> '
            f'<a href="mailto:vanthu@stc.{DOMAIN}" data-value>vanthu@stc.{DOMAIN}</a></p>') in page
    successor = c.get("/units/stc").text
    assert 'id="merged-from"' in successor and 'href="/units/bt-stc"' in successor
    found = c.get("/", params={"q": "tai chinh binh thuan"}).text
    assert 'href="/units/bt-stc"' in found and "đã hợp nhất vào" in found
    # a unit closed without a successor is not offered by the search
    assert 'href="/units/bt-snv"' not in c.get("/", params={"q": "noi vu binh thuan"}).text
    assert 'href="/units/bt-stc"' not in c.get("/").text  # nor in the tree
