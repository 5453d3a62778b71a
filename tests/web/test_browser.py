"""The console in real headless Chromium (Debian's chromium, driven by Playwright),
served by a real uvicorn on loopback. Screenshots go to tests/artifacts/web/."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.browsing import CHROMIUM, shot
from support.webconsole import PASSWORD, smtp_releaser
from support.webserver import WebServer
from web import create_app

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None,
                                reason="Debian's chromium is not installed")


@pytest.fixture
def site(env, next_hop) -> Iterator[str]:
    server = WebServer(create_app(env.settings, release=smtp_releaser(
        env.settings, "127.0.0.1", next_hop.port))).start()
    yield server.url
    server.stop()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    found = context.new_page()
    dialogs: list[str] = []
    found.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    found.dialogs = dialogs
    errors: list[str] = []
    found.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    found.console_errors = errors
    yield found
    context.close()


def log_in(page, name: str) -> None:
    page.goto("/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/audit")


@pytest.mark.slow
def test_directory_search_with_and_without_diacritics(page):
    page.goto("/")
    assert page.locator("#tree a", has_text="Phòng Ngân sách").count() == 1
    shot(page, "directory")
    for query in ("Sở Tài chính", "so tai chinh"):
        page.fill("#q", query)
        page.click("#search")
        page.wait_for_selector("#results")
        assert page.locator("#results a").all_inner_texts() == ["Sở Tài chính"]
    shot(page, "directory-search")
    page.click("#results a")
    assert page.inner_text("#unit-name") == "Sở Tài chính"
    with page.expect_download() as download:
        page.click("#vcard")
    assert "BEGIN:VCARD" in Path(download.value.path()).read_text()
    shot(page, "unit")


@pytest.mark.slow
def test_auditor_logs_in_filters_opens_a_record_and_exports(page):
    log_in(page, "auditor-a")
    assert page.inner_text("#total") == "3"
    shot(page, "audit-list")
    page.fill("#f-text", "phoi hop")
    page.click("#apply")
    page.wait_for_url("**text=phoi+hop**")
    assert page.inner_text("#total") == "1"
    shot(page, "audit-filtered")
    page.click(".record-link")
    page.wait_for_url("**/audit/records/3")
    assert page.inner_text("#record-subject") == "Phối hợp giữa hai sở"
    assert "Kế hoạch.pdf" in page.inner_text("#attachments")
    assert "Đạt" in page.inner_text("#signatures")  # the DKIM signature, in words
    shot(page, "audit-record")
    page.go_back()
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(
        Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert [r["id"] for r in rows] == ["3"]
    assert rows[0]["subject"] == "Phối hợp giữa hai sở"
    assert page.console_errors == []


@pytest.mark.slow
def test_script_in_a_subject_stays_text_in_the_browser(page):
    log_in(page, "admin")
    page.goto("/audit/records/2")
    assert page.inner_text("#record-subject") == "<script>alert('x')</script> Bí mật SGD"
    assert "<img src=x onerror=alert(1)>.pdf" in page.inner_text("#attachments")
    assert page.dialogs == []
    shot(page, "audit-record-xss")


@pytest.mark.slow
def test_admin_releases_a_held_message_to_the_next_hop(page, env, next_hop):
    log_in(page, "admin")
    page.goto(f"/admin/quarantine/{env.held}")
    assert "encrypted-archive" in page.inner_text("#violations")
    assert page.dialogs == []
    shot(page, "quarantine-message")
    page.goto("/admin/quarantine")
    assert "encrypted-archive" in page.inner_text("#held .rule")
    shot(page, "quarantine")
    page.click(".held-link")
    page.click("#release")  # the browser asks for the reason and the confirmation first
    assert page.locator("#reason:invalid").count() == 1
    page.fill("#reason", "đã xác minh với người gửi")
    page.check("#confirm")
    page.click("#release")
    page.wait_for_selector("#done")
    got = next_hop.get()
    assert got.recipients == ["vanthu@ubnd.laocai.gov.vn"]
    assert b"Message-ID: <held-1@stc.laocai.gov.vn>" in got.content
    assert page.locator("#held tbody tr").count() == 0


@pytest.mark.slow
def test_report_chain_and_english(page):
    log_in(page, "admin")
    page.goto("/audit/report?period=2026-11")
    assert page.locator("figure img").count() == 2
    assert page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")
    shot(page, "report")
    page.goto("/audit/chain")
    page.click("#verify")
    page.wait_for_selector("#verify-result.ok")
    shot(page, "chain")
    page.click("#lang")
    page.wait_for_selector("text=Chain verification")
    assert page.console_errors == []
