"""The console in real headless Chromium (Debian's chromium, driven by Playwright): the
checks every page of a walk goes through. axe-core (axe-playwright-python) finds no
violation (labels on every field, names, contrast, landmarks, table headers), no English
is left once the data values are taken out, and the page is photographed in both
languages into tests/artifacts/web/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.pagewords import not_vietnamese

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "web"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def shot(page: Any, name: str) -> None:
    """A full-page screenshot as tests/artifacts/web/NAME.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def accessible(page: Any) -> None:
    """axe-core finds nothing on the page as it stands."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page)
    problems = [(v["id"], [n["target"] for n in v["nodes"]][:3])
                for v in found.response["violations"]]
    assert problems == [], f"{page.url}: {problems}"


def reads_vietnamese(page: Any) -> None:
    """No word on the page outside the Vietnamese catalogue and the short list."""
    left = not_vietnamese(page.content())
    assert left == set(), f"{page.url}: {sorted(left)}"


def both_languages(page: Any, name: str) -> None:
    """Check the page in Vietnamese (axe, no English), photograph it, then switch to
    English and photograph it, and back. axe runs once: what it checks (labels, names,
    contrast, landmarks) does not change with the language of the words."""
    accessible(page)
    reads_vietnamese(page)
    shot(page, f"{name}-vi")
    page.click("#lang")
    page.wait_for_selector("html[lang=en]")
    shot(page, f"{name}-en")
    page.click("#lang")
    page.wait_for_selector("html[lang=vi]")


def tab_to(page: Any, selector: str, *, limit: int = 60) -> None:
    """Press Tab from where the focus is until ``selector`` has it, and find the focus
    drawn (no ``outline: none``): the element is reached by keyboard alone."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{selector}: the focus is not drawn"
            return
    raise AssertionError(f"{selector} not reached with {limit} presses of Tab on {page.url}")
