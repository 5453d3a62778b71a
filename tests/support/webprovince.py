"""The generated province (tests/support/usage.py) in a console's data directory: its
directory, its month of mail written through the audit store's batch write, an
administrator and an auditor granted one department. Built by the tests that read the
console's pages against an independent count of that mail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from congvu.config import parse_config
from directory import Directory
from mailbase import zone
from support.province import to_csv
from support.usage import TZ_NAME, Province, Sent, bulk_write
from support.webconsole import PASSWORD, cheap_settings, users_of
from web import WebSettings

#: a department with units below it, the auditor's grant
DEPARTMENT = "so-nong-nghiep"
AUDITOR = "thanhtra"


def province_console(base: Path, *, officials: int = 300) -> tuple[Province, Path]:
    """The province and its data directory under ``base``."""
    tz = zone(TZ_NAME)
    now = dt.datetime.now(dt.UTC)
    generated = Province.generate(now.astimezone(tz).date().replace(day=1), tz, now=now,
                                  officials=officials)
    # the inspector's walk opens a signed document the department sent this month; the
    # month's random mail, cut at now, holds none on some days (7 December at 17:40 UTC)
    generated.mail.append(Sent(
        generated.start + (generated.until - generated.start) / 2,
        generated.unit_address(DEPARTMENT), DEPARTMENT,
        [(generated.unit_address(generated.units[0]["id"]), generated.units[0]["id"])],
        ["gov"], "relayed"))
    config = parse_config({"service": {"data_dir": str(base / "var")}})
    with Directory.open(config.directory.path) as store:
        store.import_csv(to_csv(generated.units), actor="test")
    bulk_write(config.audit, generated.mail)
    with users_of(cheap_settings(config)) as users:
        users.add("admin", PASSWORD, is_admin=True)
        users.add(AUDITOR, PASSWORD)
        users.grant(AUDITOR, DEPARTMENT)
    return generated, base / "var"


def settings_of(data: Path) -> WebSettings:
    """The console's settings for the data directory ``data``."""
    return cheap_settings(parse_config({"service": {"data_dir": str(data)}}))
