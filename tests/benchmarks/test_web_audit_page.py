"""The auditors' list page over 1,000,000 records, filtered by unit and month.

Target: server time under 300 ms at the median. Server time is the
console's own Server-Timing header (the whole request in the app: session, scope
from the directory, count and page queries, template), read through a real uvicorn
on loopback. The store is filled by tests/support/audit.py's bulk path, once.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from congvu.config import parse_config, web_settings
from directory import Directory
from support.audit import bulk_fill
from support.webconsole import PASSWORD, csrf_of
from support.webserver import WebServer
from web import UserStore, create_app

RECORDS = 1_000_000
UNITS = ["u1", "u17", "u42", "u63", "u99"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("web-bench")
    config = parse_config({"service": {"data_dir": str(data)}})
    start = time.perf_counter()
    bulk_fill(config.audit.path, RECORDS)
    print(f"\n(setup: {RECORDS:,} records bulk-filled in {time.perf_counter() - start:.1f} s)")
    rows = ["id,name,parent,address", "tinh,Tỉnh,,vanthu@tinh.gov.vn"]
    rows += [f"u{i},Đơn vị {i},tinh,vanthu@u{i}.gov.vn" for i in range(100)]
    with Directory.open(config.directory.path) as directory:
        directory.import_csv("\n".join(rows) + "\n")
    settings = web_settings(config)
    with UserStore(settings.users_path) as users:
        users.add("admin", PASSWORD, is_admin=True)
        users.add("auditor", PASSWORD)
        for unit in UNITS:
            users.grant("auditor", unit)
    server = WebServer(create_app(settings)).start()
    yield server.url
    server.stop()


def _client(url: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=60)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": PASSWORD,
                                    "csrf_token": token})
    assert r.status_code == 303
    return client


def _server_ms(response: httpx.Response) -> float:
    found = re.search(r"dur=([0-9.]+)", response.headers["server-timing"])
    assert found
    return float(found.group(1))


@pytest.mark.parametrize("user", ["auditor", "admin"])
def test_list_page_by_unit_and_month(site: str, user: str) -> None:
    client = _client(site, user)
    server, wall, totals = [], [], []
    for _ in range(3):
        for unit in UNITS:
            start = time.perf_counter()
            r = client.get("/audit", params={"unit": unit, "period": "2026-03"})
            wall.append(1000 * (time.perf_counter() - start))
            assert r.status_code == 200
            server.append(_server_ms(r))
            totals.append(int(re.search(r'id="total">(\d+)<', r.text).group(1)))
    assert min(totals) > 0
    print(f"\nweb /audit unit+month over {RECORDS:,} ({user}): server median "
          f"{statistics.median(server):.1f} ms, worst {max(server):.1f} ms; "
          f"client median {statistics.median(wall):.1f} ms "
          f"({len(server)} requests, ~{statistics.mean(totals):,.0f} records each)")


def test_list_page_all_granted_units_one_month(site: str) -> None:
    client = _client(site, "auditor")
    server = []
    for _ in range(5):
        r = client.get("/audit", params={"period": "2026-03"})
        assert r.status_code == 200
        server.append(_server_ms(r))
    print(f"\nweb /audit, all {len(UNITS)} granted units, one month: server median "
          f"{statistics.median(server):.1f} ms")




def test_report_page_quarter_of_100_units_against_one_month(site: str) -> None:
    """The report page for a quarter of every unit against the one-month report on the
    same store and in the same run (the target: the quarter within 1.5 times it)."""
    client = _client(site, "admin")
    timings: dict[str, list[float]] = {"2026-03": [], "2026-Q1": []}
    for _ in range(3):
        for period, found in timings.items():
            r = client.get("/audit/report", params={"period": period})
            assert r.status_code == 200, r.text[:500]
            found.append(_server_ms(r))
    month, quarter = (statistics.median(t) for t in timings.values())
    print(f"\nweb /audit/report, 100 units over {RECORDS:,}: one month {month:.0f} ms, "
          f"the quarter {quarter:.0f} ms (server medians of 3): {quarter / month:.2f}x")
