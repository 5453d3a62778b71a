"""The JSON and CSV edges: the directory as other programs read it.

``directory.json`` follows :class:`PublishedDirectory`, whose JSON Schema is
published beside it as ``directory.schema.json`` (:func:`json_schema`). The CSV
export uses the import layout, so an exported file imports back unchanged.

Public outputs leave out ``senders`` (staff mail logins are not for the public);
the administrator's export (``congvu directory export``) keeps them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from directory.model import Unit
from directory.rows import COLUMNS

SCHEMA_ID = "directory.schema.json"


class PublishedUnit(BaseModel):
    """One unit as published in directory.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Stable id of the unit (a slug); also the vCard UID.")
    name: str = Field(description="Official name in Vietnamese, with diacritics.")
    short_name: str = Field(description="Short name ('' when none).")
    name_en: str = Field(description="English name ('' when none).")
    kind: str = Field(description="Kind of unit ('' when not given).")
    parent: str | None = Field(description="Id of the parent unit; null for the root.")
    ancestors: list[str] = Field(
        description="Ids from the parent up to the root (empty for the root).")
    address: str = Field(description="Primary official address (ASCII domain).")
    aliases: list[str] = Field(description="Other addresses that reach the unit.")
    dkim_domain: str = Field(description="Domain its mail is DKIM-signed for ('' when none).")
    certificate: str | None = Field(description="S/MIME certificate (PEM), or null.")
    phone: str = Field(description="Phone number ('' when none).")
    website: str = Field(description="Web site ('' when none).")
    active: bool = Field(description="False for a unit that was merged, renamed or closed.")
    valid_from: date | None = Field(description="First day the unit exists, if known.")
    valid_until: date | None = Field(description="Last day the unit exists, if known.")
    successor: str | None = Field(
        description="Id of the unit that took it over (its addresses forward there).")
    organ_id: str | None = Field(
        default=None,
        description="The unit's identifier code in the national document exchange (the "
                    "OrganId of edXML, QCVN 102:2016; e.g. 000.00.00.H41), or null.")
    senders: list[str] | None = Field(
        default=None,
        description="Mail logins allowed to send as the unit (administrator exports only).")


class PublishedDirectory(BaseModel):
    """The whole directory as published in directory.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = Field(default=1, description="Version of this layout.")
    generated_at: datetime = Field(description="When the file was written (UTC).")
    units: list[PublishedUnit] = Field(description="Every unit, parents before children.")


def published_unit(
    unit: Unit, ancestors: Sequence[str], *, include_senders: bool = False,
) -> PublishedUnit:
    """The published form of one unit; ``ancestors`` from the unit itself up."""
    return PublishedUnit(
        id=unit.id, name=unit.name, short_name=unit.short_name, name_en=unit.name_en,
        kind=unit.kind, parent=unit.parent, ancestors=list(ancestors[1:]),
        address=unit.address.addr_spec,
        aliases=[address.addr_spec for address in unit.aliases],
        dkim_domain=unit.dkim_domain, certificate=unit.certificate or None,
        phone=unit.phone, website=unit.website, active=unit.is_active,
        valid_from=unit.valid_from, valid_until=unit.valid_until, successor=unit.successor,
        organ_id=unit.organ_id, senders=list(unit.senders) if include_senders else None,
    )


def export_json(
    units: Sequence[Unit], ancestors: Mapping[str, Sequence[str]], *,
    include_senders: bool = False, now: datetime | None = None,
) -> str:
    """The directory as JSON text following :func:`json_schema`."""
    document = PublishedDirectory(
        generated_at=(now or datetime.now(UTC)).replace(microsecond=0),
        units=[published_unit(unit, ancestors[unit.id], include_senders=include_senders)
               for unit in units],
    )
    data = document.model_dump(mode="json", exclude_none=False)
    if not include_senders:
        for unit in data["units"]:
            del unit["senders"]
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that directory.json follows."""
    schema = PublishedDirectory.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "congvu unit directory",
    }


def _cell(unit: Unit, column: str) -> str:
    value: Any = {
        "id": unit.id, "name": unit.name, "parent": unit.parent or "",
        "address": unit.address.addr_spec, "short_name": unit.short_name,
        "name_en": unit.name_en, "kind": unit.kind,
        "aliases": ";".join(address.addr_spec for address in unit.aliases),
        "dkim_domain": unit.dkim_domain, "phone": unit.phone, "website": unit.website,
        "active": "yes" if unit.is_active else "no", "senders": ";".join(unit.senders),
        "certificate": unit.certificate,
        "valid_from": unit.valid_from.isoformat() if unit.valid_from else "",
        "valid_until": unit.valid_until.isoformat() if unit.valid_until else "",
        "successor": unit.successor or "",
        "document_certificates": ";".join(unit.document_certificates),
        "organ_id": unit.organ_id or "",
    }[column]
    return str(value)


def export_csv(units: Sequence[Unit], *, include_senders: bool = True, bom: bool = False) -> str:
    """The directory as CSV text in the import layout (every column, header first).

    ``bom`` starts the text with a byte-order mark, which spreadsheet programs
    need to read UTF-8 as UTF-8.
    """
    columns = [c for c in COLUMNS if include_senders or c != "senders"]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for unit in units:
        writer.writerow([_cell(unit, column) for column in columns])
    return ("\ufeff" if bom else "") + out.getvalue()
