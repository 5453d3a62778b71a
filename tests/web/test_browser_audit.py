"""The inspector's task in real headless Chromium (Debian's chromium, driven by
Playwright) on the generated province, served by a real uvicorn on loopback: the
report of the granted department equals an independent count of the province's mail,
the list filtered by a sending unit counts what that unit sent, a row opens its record,
and a document its trace. Every page is checked with axe-core (axe-playwright-python:
labels, names, contrast, table headers) and photographed in both languages into
tests/artifacts/web/."""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterator

import pytest

from support.browsing import CHROMIUM, accessible, reads_vietnamese, shot
from support.usage import Province
from support.webconsole import PASSWORD
from support.webprovince import AUDITOR, DEPARTMENT, settings_of
from support.webserver import WebServer
from web import create_app

pytest.importorskip("axe_playwright_python.sync_playwright")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed")]


@pytest.fixture(scope="module")
def page(browser, province) -> Iterator[object]:
    _, data = province
    server = WebServer(create_app(settings_of(data))).start()
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    found = context.new_page()
    errors: list[str] = []
    found.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    found.console_errors = errors
    yield found
    context.close()
    server.stop()


def both_languages(page, name: str) -> None:
    """Check the page in Vietnamese (axe, no English) and photograph it, then in
    English, and back."""
    accessible(page)
    reads_vietnamese(page)
    shot(page, f"{name}-vi")
    page.click("#lang")
    page.wait_for_selector("html[lang=en]")
    accessible(page)
    shot(page, f"{name}-en")
    page.click("#lang")
    page.wait_for_selector("html[lang=vi]")


def in_month(province: Province, mail) -> bool:
    return province.start <= mail.at < province.end


def test_an_inspector_answers_the_departments_questions(page, province) -> None:
    generated, _ = province
    page.goto("/login")
    page.fill("#username", AUDITOR)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/audit")
    # the department's report: its units in the tree, the total as independently counted
    below = {DEPARTMENT} | {u["id"] for u in generated.units if u["parent"] == DEPARTMENT}
    sent = sum(1 for m in generated.mail if in_month(generated, m) and m.delivered
               and m.sender_unit in below)
    page.goto(f"/audit/report?period={generated.month:%Y-%m}")
    total = page.locator('#report tr.total td[data-column="sent"]').inner_text()
    assert int(total) == sent
    assert page.locator("#report tbody tr.unit").count() == len(below)
    assert page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")
    both_languages(page, "province-report")
    # how many messages the department itself sent, by the list's filter
    page.goto("/audit")
    page.select_option("#f-sender-unit", DEPARTMENT)
    page.select_option("#f-direction", "outbound")
    page.fill("#f-period", f"{generated.month:%Y-%m}")
    page.click("#apply")
    page.wait_for_url("**sender_unit=*")
    records = sum(1 for m in generated.mail if in_month(generated, m)
                  and m.sender_unit == DEPARTMENT)
    assert int(page.inner_text("#total")) == records
    assert page.locator("#records tbody tr td:first-child").first.inner_text() == "1"
    both_languages(page, "province-list")
    # the first row opens its record: the id in the URL is the one shown as Mã bản ghi
    page.click(".record-link >> nth=0")
    page.wait_for_url(re.compile(r".*/audit/records/\d+$"))
    record_id = page.url.rsplit("/", 1)[1]
    assert page.inner_text("#record-id td") == record_id
    both_languages(page, "province-record")
    # a document the department sent, found by its SHA-256, opened and traced
    n, signed = next((n, m) for n, m in enumerate(generated.mail)
                     if in_month(generated, m) and m.sender_unit == DEPARTMENT
                     and m.documents[:1] == ["gov"])
    digest = hashlib.sha256(f"{n}/0".encode()).hexdigest()  # as bulk_write names it
    page.goto(f"/audit?sha256={digest}")
    page.click(".record-link >> nth=0")
    page.wait_for_url(re.compile(r".*/audit/records/\d+$"))
    assert page.inner_text("#document-1 .verdict") == "Hợp lệ"
    page.click("#attachments a >> nth=0")
    page.wait_for_url("**/audit/trace?sha256=*")
    assert page.inner_text("#trace tbody tr >> nth=0 >> td.verdict") == "Hợp lệ"
    assert signed.sender in page.inner_text("#trace")
    both_languages(page, "province-trace")
    assert page.console_errors == []
