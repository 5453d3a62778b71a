"""The console's report page over a generated province (100 units, a month of mail
written through the audit store's batch write) says what an independent count of that
mail says: per unit, per subtree, in total, in the directory's tree order, for an
administrator and for an auditor granted one department."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from fastapi.testclient import TestClient

from support.usage import Province, Sent, expected
from support.webconsole import client, login
from support.webprovince import AUDITOR, DEPARTMENT, settings_of

ROW = re.compile(r'<tr class="([a-z]+)" data-kind="[a-z]+" data-unit="([^"]*)">\s*'
                 r'<th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', re.S)
CELL = re.compile(r'<td data-column="([a-z_]+)">([^<]*)</td>')
COUNTED = ("sent", "sent_refused", "sent_held", "received", "received_refused",
           "documents_sent", "documents_valid", "documents_received")


def console(data: Path, name: str) -> TestClient:
    c = client(settings_of(data))
    login(c, name)
    return c


def report_rows(page: str) -> list[tuple[str, str, str, dict[str, str]]]:
    """The report table in order: kind, unit id, the heading shown, cells by column."""
    body = page.split('id="report"', 1)[1].split("</table>", 1)[0]
    return [(kind, unit, re.sub("<[^>]+>", "", name), dict(CELL.findall(cells)))
            for kind, unit, name, cells in ROW.findall(body)]


def pre_order(units: list[dict[str, str]], roots: Iterable[str]) -> list[tuple[str, int]]:
    """The units under ``roots``, parents first, children in the file's order."""
    children: dict[str, list[str]] = {}
    for u in units:
        children.setdefault(u["parent"], []).append(u["id"])
    found: list[tuple[str, int]] = []

    def walk(unit: str, depth: int) -> None:
        found.append((unit, depth))
        for child in children.get(unit, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return found


def count(mail: list[Sent], province: Province, within: Callable[[str | None], bool]
          ) -> Counter[str]:
    """The counted columns over the units ``within`` holds, each message once: sent by
    one of them, or delivered (refused) to any of them."""
    found: Counter[str] = Counter()
    for m in mail:
        if not province.start <= m.at < province.end:
            continue
        documents = sum(1 for d in m.documents if d != "image")
        valid = sum(1 for d in m.documents if d not in ("image", "unsigned", "invalid"))
        if m.is_outbound and within(m.sender_unit):
            if m.delivered:
                found.update(sent=1, documents_sent=documents, documents_valid=valid)
            elif m.refused:
                found["sent_refused"] += 1
            elif m.fate == "held":
                found["sent_held"] += 1
        if any(within(u) for _, u in m.recipients if u is not None):
            if m.delivered:
                found.update(received=1, documents_received=documents)
            elif m.refused:
                found["received_refused"] += 1
    return found


def as_shown(counts: Counter[str]) -> dict[str, str]:
    return {c: str(counts[c]) for c in COUNTED}


def test_every_unit_subtree_and_the_total_equal_an_independent_count(province) -> None:
    generated, data = province
    page = console(data, "admin").get(f"/audit/report?period={generated.month:%Y-%m}")
    assert page.status_code == 200
    rows = report_rows(page.text)
    units = [(unit, cells) for kind, unit, _, cells in rows if kind == "unit"]
    # all 100 units, those without mail too, in the directory's tree order
    tree = pre_order(generated.units, [u["id"] for u in generated.units if not u["parent"]])
    assert [u for u, _ in units] == [u for u, _ in tree] and len(units) == 100
    wanted = expected(generated, generated.mail).units
    for unit, cells in units:
        assert {c: cells[c] for c in COUNTED} == as_shown(wanted.get(unit, Counter())), unit
    # a share of nothing is "—"; the bulk mail carries no DKIM result: 0.0 % of some
    quiet = [cells["dkim_signed"] for unit, cells in units if not wanted.get(unit, {}).get(
        "sent")]
    busy = [cells["dkim_signed"] for unit, cells in units if wanted.get(unit, {}).get("sent")]
    assert quiet and set(quiet) == {"—"} and busy and set(busy) == {"0.0%"}
    # a subtotal after each unit's subtree (not the root's: it is the whole province)
    below = {u: {v for v, _ in pre_order(generated.units, [u])} for u, _ in tree}
    subtotals = [(unit, cells) for kind, unit, _, cells in rows if kind == "subtotal"]
    assert [u for u, _ in subtotals] == [
        u for u, _ in tree if len(below[u]) > 1 and len(below[u]) < 100]
    for unit, cells in subtotals:
        assert {c: cells[c] for c in COUNTED} == as_shown(
            count(generated.mail, generated, lambda u, s=below[unit]: u in s)), unit
    kind, _, name, total = rows[-1]
    assert (kind, name) == ("total", "Tổng cộng")
    assert {c: total[c] for c in COUNTED} == as_shown(
        count(generated.mail, generated, lambda u: u is not None))
    # units by name, the id on hover
    assert ('<th scope="row" class="depth-1" title="so-tai-chinh"><span data-value>Sở Tài chính'
            '</span></th>') in page.text


def test_an_auditor_sees_the_granted_subtree_with_its_total(province) -> None:
    generated, data = province
    page = console(data, AUDITOR).get(f"/audit/report?period={generated.month:%Y-%m}")
    rows = report_rows(page.text)
    subtree = pre_order(generated.units, [DEPARTMENT])
    assert len(subtree) > 1
    assert [(kind, unit) for kind, unit, _, _ in rows] == [
        *(("unit", u) for u, _ in subtree), ("total", "")]
    scope = {u for u, _ in subtree}
    assert {c: rows[-1][3][c] for c in COUNTED} == as_shown(
        count(generated.mail, generated, lambda u: u in scope))
