"""The auditors' console over 1,000,000 records: the list page, and the report page for
a quarter of 100 units against one month.

Server time is the console's own Server-Timing header (the whole request in the app:
session, scope from the directory, queries, template), read through a real uvicorn on
loopback. The store is filled by tests/support/audit.py's bulk path, once a session
(each record completed as relayed, so that the report has sent mail to count;
``CONGVU_BENCH_WEB_RECORDS`` sets how many, and ``CONGVU_BENCH_WEB_DATA`` a data
directory to fill once and use again in later runs).

Two baselines, in the same run and on the same store: the console as it was before
the inspector's pages (commit BEFORE, served from `git archive` of it in a process of
its own) for the list of every granted unit (target: within 1.5 times it), and the
report read from the records (the store as bulk-filled has no report summary, as an
older store's) before `audit summary rebuild`, for the quarter read from the summary
(target: within 1.5 times the month read from the records). The pages of both report
runs must show the same figures.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from audit import AuditLog
from audit.summaryschema import NOT_BUILT
from congvu.config import parse_config, web_settings
from directory import Directory
from support.audit import bulk_fill
from support.webconsole import PASSWORD, csrf_of
from support.webserver import WebServer
from web import UserStore, create_app

#: 1,000,000 by default; fewer on a machine too loaded to fill that many in the session
RECORDS = int(os.environ.get("CONGVU_BENCH_WEB_RECORDS", "1000000"))
UNITS = ["u1", "u17", "u42", "u63", "u99"]
#: the console before the inspector's pages (its list page: 103 ms then, 159 ms after)
BEFORE = "eb60e01"
ROOT = Path(__file__).resolve().parents[2]
_SERVE = """
import sys
sys.path.insert(0, sys.argv[1])
import uvicorn
from congvu.config import parse_config, web_settings
from web import create_app
config = parse_config({"service": {"data_dir": sys.argv[2]}})
uvicorn.run(create_app(web_settings(config)), fd=int(sys.argv[3]), log_level="warning")
"""


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory: 1,000,000 records, 100 units, an administrator and an
    auditor of five units (made once a session)."""
    given = os.environ.get("CONGVU_BENCH_WEB_DATA")
    data = Path(given) if given else tmp_path_factory.mktemp("web-bench")
    marker = data / f"filled-{RECORDS}"
    if marker.exists():  # a data directory an earlier run filled and left
        # the report reads from the records first, as an older store's
        with sqlite3.connect(parse_config({"service": {"data_dir": str(data)}}).audit.path
                             ) as conn:
            conn.execute(f"UPDATE summary_state SET live_through = {NOT_BUILT}")
        return data
    data.mkdir(parents=True, exist_ok=True)
    config = parse_config({"service": {"data_dir": str(data)}})
    start = time.perf_counter()
    bulk_fill(config.audit.path, RECORDS, has_completions=True)  # sent mail to count
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
    marker.touch()
    return data


@pytest.fixture(scope="module")
def site(data_dir: Path) -> Iterator[str]:
    config = parse_config({"service": {"data_dir": str(data_dir)}})
    server = WebServer(create_app(web_settings(config))).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def before(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The console of commit BEFORE on the same data directory, in a process of its own
    (its socket bound here first: requests wait in the backlog until it serves)."""
    tree = tmp_path_factory.mktemp("before")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    sock = socket.create_server(("127.0.0.1", 0))
    env = {**os.environ, "CONGVU_CONFIG": "none"}
    server = subprocess.Popen([sys.executable, "-c", _SERVE, str(tree), str(data_dir),
                               str(sock.fileno())], pass_fds=[sock.fileno()], env=env)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.terminate()
        server.wait(timeout=30)
        sock.close()


def _client(url: str, name: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=900)
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


def test_list_page_all_granted_units_one_month(site: str, before: str) -> None:
    """The list of every granted unit against the console before the inspector's pages,
    in alternating requests (the target: within 1.5 times it)."""
    clients = {"now": _client(site, "auditor"), "before": _client(before, "auditor")}
    server: dict[str, list[float]] = {"now": [], "before": []}
    for _ in range(21):
        for name, client in clients.items():
            r = client.get("/audit", params={"period": "2026-03"})
            assert r.status_code == 200
            server[name].append(_server_ms(r))
    now, then = (statistics.median(server[n]) for n in ("now", "before"))
    pairs = statistics.median(a / b for a, b in zip(server["now"], server["before"],
                                                     strict=True))
    print(f"\nweb /audit, all {len(UNITS)} granted units, one month: server median "
          f"{now:.1f} ms, {then:.1f} ms before ({BEFORE}): {now / then:.2f}x "
          f"(medians of 21, alternating; the median of the 21 pairs' ratios {pairs:.2f}x)")




def _figures(page: str) -> list[str]:
    """The report page's tables (its figures), the rest of the page left out."""
    return re.findall(r"<table.*?</table>", page, re.S)


def _report_times(client: httpx.Client, rounds: int = 3
                  ) -> tuple[dict[str, float], dict[str, list[str]]]:
    timings: dict[str, list[float]] = {"2026-03": [], "2026-Q1": []}
    pages: dict[str, list[str]] = {}
    for _ in range(rounds):
        for period, found in timings.items():
            r = client.get("/audit/report", params={"period": period})
            assert r.status_code == 200, r.text[:500]
            found.append(_server_ms(r))
            pages[period] = _figures(r.text)
    return {p: statistics.median(t) for p, t in timings.items()}, pages


def test_report_page_quarter_of_100_units_against_one_month(site: str, data_dir: Path
                                                            ) -> None:
    """The report page for a quarter of every unit, read from the summary, against the
    one-month report read from the records (as today, before the summary is built) on
    the same store in the same run (the target: within 1.5 times it)."""
    client = _client(site, "admin")
    records, from_records = _report_times(client)
    config = parse_config({"service": {"data_dir": str(data_dir)}})
    start = time.perf_counter()
    with AuditLog.open(config.audit) as log:
        rebuilt = log.rebuild_summary()
    took = time.perf_counter() - start
    summary, from_summary = _report_times(client)
    assert from_summary == from_records  # the same figures, read either way
    assert from_summary["2026-Q1"] and from_summary["2026-03"] != from_summary["2026-Q1"]
    month, quarter = records["2026-03"], records["2026-Q1"]
    print(f"\nweb /audit/report, 100 units over {RECORDS:,}, server medians of 3:\n"
          f"  from the records: one month {month:.0f} ms, the quarter {quarter:.0f} ms "
          f"({quarter / month:.2f}x)\n"
          f"  summary rebuilt in {took:.1f} s ({rebuilt.months} months)\n"
          f"  from the summary: one month {summary['2026-03']:.0f} ms, the quarter "
          f"{summary['2026-Q1']:.0f} ms: the quarter {summary['2026-Q1'] / month:.2f}x "
          f"the month from the records, {summary['2026-Q1'] / summary['2026-03']:.2f}x "
          "the month from the summary")
