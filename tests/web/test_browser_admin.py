"""The administrator's tasks in real headless Chromium (Debian's chromium, driven by
Playwright) on a copy of the generated province, served by a real uvicorn on loopback
with a real SMTP sink as the next hop: log in by keyboard, the directory (a unit added,
another renamed through the unit's form), users (one created, granted a unit by its
address, revoked), the quarantine (a held message reviewed and released with a
confirmed reason, then seen among the administrative events), the archive's search,
the chain, the password page, an error, and logging out. What each page says is held
against the stores and the generated province; every page is checked with axe-core, for
English left over, and photographed in both languages into tests/artifacts/web/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from audit import AuditLog
from congvu.config import parse_config
from directory import Directory
from policies import open_quarantine
from support.browsing import CHROMIUM, both_languages, tab_to
from support.province import DOMAIN
from support.usage import Province
from support.webconsole import PASSWORD, held_decision, smtp_releaser, users_of
from support.webprovince import DEPARTMENT, settings_of
from support.webserver import WebServer
from web import WebSettings, create_app

pytest.importorskip("axe_playwright_python.sync_playwright")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed")]

#: the unit the administrator adds below the department, and the one renamed
NEW_UNIT = "phong-chuyen-doi-so"
NEW_NAME = "Phòng Chuyển đổi số"
RENAMED = "Chi cục Thủy lợi và Phòng chống thiên tai"
AUDITOR = "kiemtra"
HELD_SUBJECT = "Báo cáo quý IV kèm tệp nén có mật khẩu"


def held_message(sender: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = f"ubnd@{DOMAIN}"
    mail["Subject"] = HELD_SUBJECT
    mail["Message-ID"] = f"<held-q4@{DOMAIN}>"
    mail.set_content("Kính gửi UBND tỉnh báo cáo quý IV.")
    mail.add_attachment(b"PK\x05\x06" + b"\0" * 18, maintype="application",
                        subtype="zip", filename="bao-cao.zip")
    return mail.as_bytes()


@pytest.fixture
def admin_site(province, tmp_path: Path, next_hop) -> Iterator[tuple[Province, WebSettings,
                                                                     str]]:
    """A copy of the province's data with one message held from the department, the
    administrator granted the department's archived content, and its console releasing
    to ``next_hop``."""
    generated, data = province
    shutil.copytree(data, tmp_path / "var")
    settings = settings_of(tmp_path / "var")
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")}})
    sender = next(u["address"] for u in generated.units if u["id"] == DEPARTMENT)
    with open_quarantine(config.policies.quarantine) as store:
        store.put(held_message(sender), envelope_from=sender, recipients=[f"ubnd@{DOMAIN}"],
                  direction="outbound", unit_id=DEPARTMENT, decision=held_decision())
    with users_of(settings) as users:  # as `congvu user grant admin UNIT --content`
        users.grant("admin", DEPARTMENT, content=True)
    server = WebServer(create_app(settings, release=smtp_releaser(
        settings, "127.0.0.1", next_hop.port))).start()
    yield generated, settings, server.url
    server.stop()


@pytest.fixture
def page(browser, admin_site) -> Iterator[Any]:
    context = browser.new_context(base_url=admin_site[2],
                                  viewport={"width": 1280, "height": 900})
    found = context.new_page()
    errors: list[str] = []
    found.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    found.console_errors = errors
    yield found
    context.close()


def unit_of(settings: WebSettings, unit_id: str) -> Any:
    with Directory.open(settings.directory_store, read_only=True) as directory:
        return directory.get(unit_id)


def admin_events(settings: WebSettings) -> list[dict[str, Any]]:
    with AuditLog.open(settings.audit) as log:
        return log.admin_events(limit=500)


def test_an_administrator_keeps_the_directory_users_and_quarantine(
        page, admin_site, next_hop) -> None:
    generated, settings, _ = admin_site
    # logging in by keyboard alone
    page.goto("/login")
    both_languages(page, "admin-login")
    tab_to(page, "#username")
    page.keyboard.type("admin")
    tab_to(page, "#password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/audit")

    # the directory: every unit of the province in the tree, each by its name
    page.goto("/")
    assert page.locator("#tree a").count() == len(generated.units)
    both_languages(page, "admin-directory")
    department = next(u for u in generated.units if u["id"] == DEPARTMENT)
    page.click(f"#tree a[href='/units/{DEPARTMENT}']")
    assert page.inner_text("#unit-name") == department["name"]
    below = [u["name"] for u in generated.units if u["parent"] == DEPARTMENT]
    assert page.locator("#below li").all_inner_texts() == below
    both_languages(page, "admin-unit")

    # the directory's history: one line for each unit the import added
    page.goto("/admin/history")
    assert page.locator("#history tbody tr").count() == len(generated.units)
    both_languages(page, "admin-history")
    # a new unit below the department, through its form
    page.fill("#new-unit-id", NEW_UNIT)
    page.click("#new-unit")
    page.wait_for_url(f"**/admin/units/{NEW_UNIT}")
    both_languages(page, "admin-unit-new")
    page.fill("#u-name", NEW_NAME)
    page.fill("#u-parent", DEPARTMENT)
    page.fill("#u-address", f"{NEW_UNIT}@{DOMAIN}")
    page.click("#save")
    page.wait_for_selector("#done")
    added = unit_of(settings, NEW_UNIT)
    assert (added.name, added.parent) == (NEW_NAME, DEPARTMENT)
    assert page.locator("#history tbody tr").count() == 1
    both_languages(page, "admin-unit-saved")
    # another unit renamed from its page's Edit link
    renamed = next(u for u in generated.units if u["parent"] == DEPARTMENT)
    page.goto(f"/units/{renamed['id']}")
    page.click(f"a[href='/admin/units/{renamed['id']}']")
    assert page.input_value("#u-name") == renamed["name"]
    page.fill("#u-name", RENAMED)
    page.click("#save")
    page.wait_for_selector("#done")
    assert unit_of(settings, renamed["id"]).name == RENAMED
    assert renamed["name"] in page.inner_text("#history")
    page.goto(f"/units/{DEPARTMENT}")
    assert page.locator("#below li").all_inner_texts() == [
        RENAMED if name == renamed["name"] else name for name in below] + [NEW_NAME]

    # users: an auditor created, granted the department by its address, then revoked
    page.goto("/admin/users")
    both_languages(page, "admin-users")
    page.fill("#add-name", AUDITOR)
    page.fill("#add-password", PASSWORD)
    page.click("#add-user")
    page.wait_for_selector(f"#user-{AUDITOR}")
    page.fill(f"#user-{AUDITOR} input[name=unit]", department["address"])
    page.click(f"#user-{AUDITOR} .grant")
    page.wait_for_selector(f"#user-{AUDITOR} .revoke")
    with users_of(settings) as users:
        created = users.get(AUDITOR)
    assert (created.is_admin, created.units) == (False, (DEPARTMENT,))
    assert department["name"] in page.inner_text(f"#user-{AUDITOR} .grants")
    both_languages(page, "admin-users-granted")
    page.click(f"#user-{AUDITOR} .revoke")
    page.wait_for_selector(f"#user-{AUDITOR} .revoke", state="detached")
    with users_of(settings) as users:
        assert users.get(AUDITOR).units == ()

    # the quarantine: the held message listed, reviewed, released with a reason
    with open_quarantine(settings.quarantine) as store:
        held = store.list()
    page.goto("/admin/quarantine")
    assert page.locator("#held tbody tr").count() == len(held) == 1
    assert page.inner_text("#held .subject") == HELD_SUBJECT
    both_languages(page, "admin-quarantine")
    page.click(".held-link")
    page.wait_for_url(f"**/admin/quarantine/{held[0].id}")
    assert page.inner_text("#subject") == HELD_SUBJECT
    assert "encrypted-archive" in page.inner_text("#violations")
    both_languages(page, "admin-quarantine-show")
    page.fill("#reason", "đã xác minh với người gửi qua điện thoại")
    page.click("#release")
    assert page.locator("#confirm:invalid").count() == 1  # not confirmed: not sent
    page.check("#confirm")
    page.click("#release")
    page.wait_for_selector("#done")
    got = next_hop.get()
    assert got.recipients == [f"ubnd@{DOMAIN}"]
    assert f"Message-ID: <held-q4@{DOMAIN}>".encode() in got.content
    assert page.locator("#held-none").count() == 1

    # the administrative events: each act above, newest first, with the reason
    events = admin_events(settings)
    page.goto("/audit/events")
    assert page.locator("#events tbody tr").count() == len(events)
    first = page.locator("#events tbody tr").first
    assert first.locator("td").nth(0).inner_text() == str(events[0]["id"])
    assert "đã xác minh với người gửi qua điện thoại" in first.inner_text()
    kinds = [e["kind"] for e in events]
    assert kinds.count("directory-change") == 2 and kinds.count("user-grant") == 3
    both_languages(page, "admin-events")

    # the archive's search: the province's mail was recorded without archived copies
    page.click("nav a[href='/audit/archive']")
    both_languages(page, "admin-archive")
    page.fill("#q", "báo cáo")
    page.click("#archive-search")
    page.wait_for_selector("#archive-empty")
    assert page.inner_text("#archive-read").endswith("0 / 0")
    both_languages(page, "admin-archive-searched")
    # a record that does not exist
    assert page.console_errors == []
    response = page.goto("/audit/records/999999999")
    assert response.status == 404
    both_languages(page, "admin-error")
    # the browser's only complaint: the missing record, on each of its three loads
    assert [re.search(r"status of (\d+)", e)[1] for e in page.console_errors] == ["404"] * 3
    page.console_errors.clear()
    # the chain, verified on demand
    page.goto("/audit/chain")
    page.click("#verify")
    page.wait_for_selector("#verify-result.ok")
    both_languages(page, "admin-chain")
    # the password page
    page.goto("/account/password")
    both_languages(page, "admin-password")
    # logging out ends the session
    page.click("#logout")
    page.wait_for_selector("#login-link")
    page.goto("/admin/users")
    assert re.search(r"/login", page.url)
    assert page.console_errors == []
