"""The audit filters of the console: the same as ``congvu audit query``'s, from a URL,
and the one way a time reads on a page.

Dates without an offset are in the configured zone, as on the command line, written
dd/mm/yyyy (with HH:MM if wanted) as people here write them, or in ISO 8601; a
``period`` (YYYY-MM, YYYY-Qn, YYYY) sets both ends at once. Pages show every time as
dd/mm/yyyy HH:MM in the configured zone (:func:`when`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from audit import Action, Direction, Fate, Filters, QueryError
from mailbase import PeriodError, parse_local_datetime, parse_period, zone

TEXT_FIELDS = ("sender", "recipient", "text", "message_id", "queue_id", "sha256", "filename",
               "dkim", "smime")
#: the URL parameters a filter is made of (``unit`` may repeat)
NAMES = ("unit", "sender_unit", "recipient_unit", "subtree", "direction", "period", "since",
         "until", *TEXT_FIELDS, "decision", "outcome", "page", "page_size")
DIRECTIONS = [d.value for d in Direction]
DECISIONS = [a.value for a in Action]
OUTCOMES = [*(o.value for o in Fate), "incomplete"]


#: How a time reads on a page, and the local forms a date field takes besides ISO 8601.
SHOWN = "%d/%m/%Y %H:%M"
LOCAL_FORMS = ("%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")


class FilterError(ValueError):
    """A filter that cannot mean anything; the message names it (in English, for the
    API), ``field`` is its URL parameter, ``value`` what was given and ``hint`` what a
    person is told to write instead (``filter_hint_<hint>`` in the catalogue)."""

    def __init__(self, message: str, field: str, value: object, hint: str) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.hint = hint


def _hint(field: str, reason: str) -> str:
    """What to tell a person about a bad ``field`` (audit/'s English ``reason``)."""
    if field in ("since", "until", "period"):
        return "after" if "after" in reason else "period" if field == "period" else "date"
    if field in ("direction", "decision", "outcome", "dkim", "smime"):
        return "choice"
    return field if field in ("sha256", "text", "page", "page_size") else "other"


def when(value: datetime | str | None, time_zone: str) -> str:
    """A stored time (UTC) as people read it: dd/mm/yyyy HH:MM in ``time_zone``;
    nothing for none, and text that is no time as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if moment.tzinfo is None:  # stored times are UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone(time_zone)).strftime(SHOWN)


def parse_when(text: str, tz: ZoneInfo) -> datetime:
    """A date field: dd/mm/yyyy [HH:MM[:SS]] or ISO 8601, in ``tz`` unless it has an
    offset; UTC back.

    :raises PeriodError: neither form.
    """
    if "/" in text:
        for form in LOCAL_FORMS:
            try:
                local = datetime.strptime(" ".join(text.split()), form)
            except ValueError:
                continue
            return local.replace(tzinfo=tz).astimezone(UTC)
        raise PeriodError(f"{text!r} is not a date (dd/mm/yyyy, dd/mm/yyyy HH:MM) or an "
                          "ISO 8601 date")
    return parse_local_datetime(text, tz)


def _choice(value: str, allowed: Sequence[str], name: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise FilterError(f"{name}: {value!r} is not one of {', '.join(allowed)}", name,
                          value, "choice")
    return value


def _int(value: str, name: str, default: int) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise FilterError(f"{name}: {value!r} is not a number", name, value, name) from None


def _units(value: str) -> tuple[str, ...]:
    """``sender_unit`` or ``recipient_unit``: one unit id, or several separated by commas."""
    return tuple(u.strip() for u in value.split(",") if u.strip())


def parse(params: Mapping[str, str], units: Sequence[str], time_zone: str) -> Filters:
    """The filters a query string asks for.

    :raises FilterError: a value that cannot mean anything (bad date, unknown choice).
    """
    tz = zone(time_zone)
    values: dict[str, object] = {}
    for name in ("period", "since", "until"):
        text = params.get(name, "").strip()
        if not text:
            continue
        try:
            if name == "period":
                period = parse_period(text, tz)
                values["since"], values["until"] = period.start, period.end
            else:
                values[name] = parse_when(text, tz)
        except PeriodError as exc:
            raise FilterError(str(exc), name, text, _hint(name, "")) from None
    for name in TEXT_FIELDS:
        text = params.get(name, "").strip()
        if text:
            values[name] = text
    direction = _choice(params.get("direction", ""), DIRECTIONS, "direction")
    decision = _choice(params.get("decision", ""), DECISIONS, "decision")
    filters = Filters(
        units=tuple(u.strip() for u in units if u.strip()),
        sender_units=_units(params.get("sender_unit", "")),
        recipient_units=_units(params.get("recipient_unit", "")),
        direction=Direction(direction) if direction else None,
        action=Action(decision) if decision else None,
        outcome=_choice(params.get("outcome", ""), OUTCOMES, "outcome"),
        page=_int(params.get("page", ""), "page", 1),
        page_size=_int(params.get("page_size", ""), "page_size", 50),
        **values,  # type: ignore[arg-type]
    )
    try:
        filters.check()
    except QueryError as exc:
        raise FilterError(str(exc), exc.field, exc.value, _hint(exc.field, exc.reason)
                          ) from None
    return filters


def query_string(params: Mapping[str, str], units: Sequence[str], **changes: object) -> str:
    """The current filter's query string, with ``changes`` (e.g. another page)."""
    pairs = [("unit", u) for u in units]
    for name in NAMES:
        if name == "unit":
            continue
        value = changes[name] if name in changes else params.get(name, "")
        if value not in ("", None):
            pairs.append((name, str(value)))
    return urlencode(pairs)
