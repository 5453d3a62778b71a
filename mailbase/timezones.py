"""Time zones: UTC in storage, the province's zone for reports and typed dates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"

_PERIOD = re.compile(
    r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{2})|Q(?P<quarter>[1-4])|(?P<ytd>YTD)))?$")


class PeriodError(ValueError):
    """A period or date the command line could not understand."""


def zone(name: str = DEFAULT_ZONE) -> ZoneInfo:
    """Return the named IANA zone.

    :raises PeriodError: the name is not a known zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PeriodError(f"unknown time zone {name!r}") from exc


def parse_local_datetime(text: str, tz: ZoneInfo | None = None) -> datetime:
    """Parse an ISO date or date-time; without an offset it is in ``tz``. Returns UTC.

    :raises PeriodError: not an ISO 8601 date or date-time.
    """
    tz = tz or zone()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise PeriodError(f"{text!r} is not a date (YYYY-MM-DD) or ISO date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """A reporting period: ``start`` inclusive, ``end`` exclusive, both UTC."""

    label: str
    start: datetime
    end: datetime


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def parse_period(text: str, tz: ZoneInfo | None = None, *, today: date | None = None
                 ) -> Period:
    """Parse ``YYYY``, ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY-YTD`` as a period in the local
    zone. The year to date runs from 1 January to the end of the last complete month
    before ``today`` (default: today in ``tz``); a past year's is the whole year.

    :raises PeriodError: any other form, a month outside 01-12, or a year to date with
        no complete month yet.
    """
    tz = tz or zone()
    match = _PERIOD.match(text.strip().upper())
    if not match:
        raise PeriodError(f"{text!r} is not a period: use YYYY, YYYY-MM, YYYY-Qn or YYYY-YTD")
    year = int(match["year"])
    if match["ytd"]:
        today = today or datetime.now(tz).date()
        months = 12 if year < today.year else today.month - 1 if year == today.year else 0
        if months == 0:
            raise PeriodError(f"{text!r}: no month of {year} is complete yet")
        first = date(year, 1, 1)
    elif match["month"]:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r}: month must be 01 to 12")
        first, months = date(year, month, 1), 1
    elif match["quarter"]:
        first, months = date(year, 3 * int(match["quarter"]) - 2, 1), 3
    else:
        first, months = date(year, 1, 1), 12
    month_index = first.month - 1 + months
    after = date(first.year + month_index // 12, month_index % 12 + 1, 1)
    return Period(label=text.strip(), start=_midnight(first, tz), end=_midnight(after, tz))


__all__ = ["DEFAULT_ZONE", "Period", "PeriodError", "parse_local_datetime", "parse_period", "zone"]
