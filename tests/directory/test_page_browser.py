"""The published directory page (`directory publish --out DIR`, index.html) in real
headless Chromium (Debian's chromium, driven by Playwright), opened from a file:// URL
as an administrator or a clerk would open it. What the page promises: search as you
type ignoring diacritics and case, copy-address buttons, printable, works offline (it
asks for no resource at all besides itself). Screenshots go to tests/artifacts/directory/."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from directory import DirectoryConfig, commands
from support.province import DISTRICTS, province_csv, province_rows

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "directory"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ACTIVE = sum(1 for row in province_rows(1000) if row["active"] != "no")

pytestmark = pytest.mark.interop


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed in .venv"
    if shutil.which(CHROMIUM) is None:
        return f"Debian's chromium is not installed ({CHROMIUM})"
    return None


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated province of 1,000 units, imported and published through the CLI."""
    base = tmp_path_factory.mktemp("page")
    config = DirectoryConfig(path=base / "directory.sqlite3")
    (group,) = commands(lambda _path: config)
    assert isinstance(group, click.Group)
    source = base / "province.csv"
    source.write_text(province_csv(1000), encoding="utf-8")
    runner = CliRunner()
    for args in (["import", str(source)], ["publish", "--out", str(base / "out")]):
        result = runner.invoke(group, args)
        assert result.exit_code == 0, result.output
    return base / "out" / "index.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing is not None:
        # loudly: in the warnings summary as well as in the skip reasons
        warnings.warn(f"the directory page's browser tests did not run: {missing}",
                      stacklevel=1)
        pytest.skip(f"NOT TESTED IN A BROWSER: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield found
        found.close()


@pytest.fixture
def page(browser: Any, published: Path) -> Iterator[Any]:
    """The page, loaded from its file; every request it makes is recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    found = context.new_page()
    requests: list[str] = []
    found.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    found.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    found.on("pageerror", lambda exc: errors.append(str(exc)))
    found.goto(published.as_uri())
    found.requests, found.errors = requests, errors
    yield found
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def search(page: Any, text: str) -> None:
    """Type as a person does, key by key (each key fires the input event)."""
    page.fill("#q", "")
    page.locator("#q").press_sequentially(text)


def shown(page: Any) -> list[str]:
    """The ids of the units the page shows now (by rendered visibility)."""
    ids = page.locator("#tree li:visible").evaluate_all("items => items.map(li => li.id)")
    return sorted(i.removeprefix("u-") for i in ids)


def matched(page: Any) -> list[str]:
    return page.locator("#tree li:visible > .unit.match .name").all_inner_texts()


def test_the_whole_tree_is_shown_before_searching(page: Any) -> None:
    assert page.title() == "Danh bạ thư điện tử công vụ"
    assert len(shown(page)) == ACTIVE
    assert page.locator("#count").inner_text() == ""
    assert page.errors == []


@pytest.mark.parametrize("query", ["so tai chinh", "SỞ TÀI CHÍNH", "Sở Tài chính",
                                   "sở  tài   CHINH"])
def test_search_ignores_diacritics_and_case(page: Any, query: str) -> None:
    search(page, query)
    assert matched(page) == ["Sở Tài chính"]
    # the unit and the ancestors that place it in the tree; every other unit hidden
    assert shown(page) == ["so-tai-chinh", "ubnd-tinh"]
    assert page.locator("#u-so-y-te").is_hidden()
    assert page.locator("#count").inner_text() == "1 đơn vị khớp"
    if query == "so tai chinh":
        shot(page, "search-so-tai-chinh")
    assert page.errors == []


def test_search_finds_every_matching_unit_and_clearing_shows_all(page: Any) -> None:
    search(page, "phong tai chinh")
    names = matched(page)
    assert len(names) == len(DISTRICTS)
    assert all(name.startswith("Phòng Tài chính - Kế hoạch") for name in names)
    assert len(shown(page)) == 1 + 2 * len(DISTRICTS)  # root, each district, its office
    search(page, "zzz")
    assert shown(page) == [] and page.locator("#count").inner_text() == "0 đơn vị khớp"
    search(page, "")
    assert len(shown(page)) == ACTIVE


def test_search_by_address(page: Any) -> None:
    search(page, "so-y-te@laocai")
    assert matched(page) == ["Sở Y tế"]
    # the IDN alias's domain, typed in Unicode (the page shows its A-label)
    search(page, "lào-cai.gov.vn")
    assert matched(page) == ["Ủy ban nhân dân tỉnh Lào Cai"]


def test_search_by_the_whole_unicode_address_of_an_idn_alias(page: Any) -> None:
    search(page, "ubnd@lào-cai.gov.vn")
    assert matched(page) == ["Ủy ban nhân dân tỉnh Lào Cai"]


def test_the_copy_button_puts_the_address_on_the_clipboard(page: Any) -> None:
    from playwright.sync_api import expect

    search(page, "so tai chinh")
    button = page.locator("#u-so-tai-chinh > .unit .primary button.copy")
    assert button.get_attribute("data-address") == "so-tai-chinh@laocai.gov.vn"
    button.click()
    expect(button).to_have_text("Đã sao chép")  # for 1.5 s, then "Sao chép" again
    assert page.evaluate("navigator.clipboard.readText()") == "so-tai-chinh@laocai.gov.vn"
    # an alias's button copies the alias
    page.locator("#u-so-tai-chinh > .unit .alias button.copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == (
        "vanthu.so-tai-chinh@laocai.gov.vn")
    assert page.errors == []


def test_printing_shows_every_unit_and_no_buttons(page: Any) -> None:
    search(page, "so tai chinh")
    page.emulate_media(media="print")
    assert len(shown(page)) == ACTIVE
    assert page.locator("button.copy:visible").count() == 0
    assert page.locator("#q").is_hidden()


def test_the_page_loads_nothing_but_itself(page: Any, published: Path) -> None:
    search(page, "so tai chinh")
    page.locator("#u-so-tai-chinh > .unit .primary button.copy").click()
    search(page, "")
    page.emulate_media(media="print")
    assert page.requests == [published.as_uri()]
