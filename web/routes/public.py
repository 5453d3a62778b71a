"""Public pages, no login: the unit directory, each unit's page, vCard, certificate,
and the JSON API behind them (described at /api/openapi.json)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from directory import Unit, merged_into, predecessors, search_units
from directory.publish.vcard import card
from mailbase import N_, zone
from web.app import console_of, render
from web.i18n import LANGUAGES
from web.problems import PageProblem
from web.security import LANG_COOKIE, safe_next

router = APIRouter()


class UnitOut(BaseModel):
    """One unit as the public API gives it."""

    id: str = Field(description="The unit's id.")
    name: str = Field(description="The unit's name, in Vietnamese.")
    name_en: str = Field(description="The English name, if any.")
    short_name: str = Field(description="The short name, if any.")
    kind: str = Field(description="What kind of unit it is.")
    parent: str | None = Field(description="The id of the unit above it.")
    address: str = Field(description="The official address.")
    aliases: list[str] = Field(description="Other addresses of the unit.")
    phone: str = Field(description="Phone number.")
    website: str = Field(description="Web site.")
    is_active: bool = Field(description="False for a merged or closed unit.")
    has_certificate: bool = Field(description="Whether a certificate can be downloaded.")


def _out(unit: Unit) -> UnitOut:
    return UnitOut(
        id=unit.id, name=unit.name, name_en=unit.name_en, short_name=unit.short_name,
        kind=unit.kind, parent=unit.parent, address=unit.address.addr_spec,
        aliases=[a.addr_spec for a in unit.aliases], phone=unit.phone, website=unit.website,
        is_active=unit.is_active, has_certificate=bool(unit.certificate),
    )


def search(units: list[Unit], q: str) -> list[Unit]:
    """The units matching every word of ``q``, diacritics optional ('so tai chinh' finds
    'Sở Tài chính'; directory/search.py)."""
    return search_units(units, q)


def _unit(request: Request, unit_id: str) -> tuple[Unit, dict[str, Unit]]:
    units = {u.id: u for u in console_of(request).units()}
    unit = units.get(unit_id)
    if unit is None:
        raise PageProblem(404, N_("no unit {unit}"), unit=unit_id)
    return unit, units


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(request: Request, q: str = "") -> HTMLResponse:
    """The directory tree, or the search results for ``q``."""
    every = console_of(request).units()
    units = [u for u in every if u.is_active]
    children: dict[str | None, list[Unit]] = defaultdict(list)
    known = {u.id for u in units}
    for unit in units:
        children[unit.parent if unit.parent in known else None].append(unit)
    # a merged unit is found too (people search for the old name), marked with its successor
    merged = _merged(every)
    found = search([u for u in every if u.is_active or u.id in merged], q) if q.strip() else None
    return render(request, "directory.html",
                  {"children": children, "found": found, "q": q, "merged": merged})


def _merged(units: list[Unit]) -> dict[str, Unit]:
    """Each unit that has ended into a successor, and the unit it is now part of."""
    by_id = {u.id: u for u in units}
    today = datetime.now(zone()).date()
    return {u.id: into for u in units if (into := merged_into(u, by_id, today)) is not None}


@router.get("/units/{unit_id}", response_class=HTMLResponse, include_in_schema=False)
def unit_page(request: Request, unit_id: str) -> HTMLResponse:
    """One unit: addresses, contacts, the units above and below it."""
    unit, units = _unit(request, unit_id)
    chain: list[Unit] = []
    parent = unit.parent
    while parent is not None and parent in units and len(chain) < len(units):
        chain.insert(0, units[parent])
        parent = units[parent].parent
    below = [u for u in units.values() if u.parent == unit.id and u.is_active]
    merged = {p: units[p] for p in sorted(predecessors(units.values(), [unit.id]))}
    return render(request, "unit.html", {
        "unit": unit, "chain": chain, "below": below, "merged_from": list(merged.values()),
        "merged_into": merged_into(unit, units, datetime.now(zone()).date())})


def _ancestors(unit: Unit, units: dict[str, Unit]) -> list[str]:
    chain = [unit.id]
    parent = unit.parent
    while parent is not None and parent in units and len(chain) <= len(units):
        chain.append(parent)
        parent = units[parent].parent
    return chain


@router.get("/units/{unit_id}/vcard", tags=["directory"],
            responses={200: {"content": {"text/vcard": {}}}})
def unit_vcard(request: Request, unit_id: str) -> Response:
    """The unit's vCard 3.0 (the same card as the published directory.vcf)."""
    unit, units = _unit(request, unit_id)
    text = card(unit, {u.id: u.name for u in units.values()}, _ancestors(unit, units))
    return Response(text.encode("utf-8"), media_type="text/vcard; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{_ascii(unit.id)}.vcf"'})


@router.get("/units/{unit_id}/certificate", tags=["directory"],
            responses={200: {"content": {"application/x-pem-file": {}}}})
def unit_certificate(request: Request, unit_id: str) -> Response:
    """The unit's S/MIME certificate (PEM); 404 when it has none."""
    unit, _ = _unit(request, unit_id)
    if not unit.certificate:
        raise PageProblem(404, N_("unit {unit} has no certificate"), unit=unit_id)
    return Response(unit.certificate.encode("ascii"), media_type="application/x-pem-file",
                    headers={"Content-Disposition":
                             f'attachment; filename="{_ascii(unit.id)}.pem"'})


def _ascii(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)


@router.get("/api/units", response_model=list[UnitOut], tags=["directory"])
def api_units(request: Request, q: str = Query(default="", description=(
        "Words to search for, diacritics optional; empty: every unit"))) -> list[UnitOut]:
    """The units of the directory (active and inactive), or those matching ``q``."""
    units = console_of(request).units()
    return [_out(u) for u in (search(units, q) if q.strip() else units)]


@router.get("/api/units/{unit_id}", response_model=UnitOut, tags=["directory"])
def api_unit(request: Request, unit_id: str) -> UnitOut:
    """One unit; 404 when there is no such unit."""
    unit, _ = _unit(request, unit_id)
    return _out(unit)


@router.get("/lang/{lang}", include_in_schema=False)
def set_language(lang: str, next: str = "/") -> Response:
    """Switch the page language (a cookie) and go back."""
    if lang not in LANGUAGES:
        raise PageProblem(404, N_("unknown language"))
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax",
                        httponly=True, path="/")
    return response




@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    """No icon (browsers ask for one)."""
    return Response(status_code=204)
