"""The report as the provinces file it: what the workbook and the Word document say.

The quarterly or yearly "báo cáo tình hình sử dụng hộp thư điện tử công vụ" gives the
province's figures (officials' mailboxes, activated, used regularly, the two rates,
documents sent and received electronically, violations), the list of units and
officials not using their mailbox, and a per-unit appendix. Both files
(:mod:`audit.reportxlsx`, :mod:`audit.reportdocx`) take every figure from the rows of
:func:`audit.reportfmt.rows`, the same rows CSV and JSON print: nothing is counted
again here. This module chooses and labels them, in Vietnamese by default or in English
(audit/locale/, :mod:`audit.words`), and dates the file in the report's zone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from audit.report import Report
from audit.reportfmt import ACTIVATED, IDLE_COLUMNS, LABELS, SHARES, USE_COLUMNS, Row, rows
from audit.words import translation
from mailbase import DEFAULT_LANGUAGE, N_, Translation, zone

#: The formats written as files (they need ``--out``), by name.
FILE_FORMATS = ("xlsx", "docx")

TITLE = N_("Report on the use of official e-mail mailboxes")

#: The summary's sections: a heading and the total row's columns under it.
SUMMARY: tuple[tuple[str, tuple[str, ...]], ...] = (
    (N_("Officials' official e-mail mailboxes"),
     ("mailboxes", "activated", "activation_rate", "regular", "regular_rate")),
    (N_("Electronic documents sent"),
     ("documents_sent", "documents_signed", "documents_valid", "documents_valid_gov",
      "documents_valid_public", "documents_valid_other", "documents_sealed",
      "documents_complete")),
    (N_("Electronic documents received"),
     ("documents_received", "documents_received_valid", "documents_received_complete")),
    (N_("E-mail"), ("sent", "received")),
    (N_("Violations"),
     ("classified_marked", "sent_refused", "sent_held", "received_refused",
      "forgery_attempts", "legacy_encoded")),
)

#: The per-unit appendix: one row per unit, then the province's total.
APPENDIX = ("unit", "mailboxes", "activated", "activation_rate", "regular", "regular_rate",
            "sent", "received", "documents_sent", "documents_valid", "documents_valid_gov",
            "documents_sealed", "documents_received", "documents_received_valid",
            "classified_marked", "sent_refused", "sent_held", "received_refused",
            "forgery_attempts", "legacy_encoded")

#: One unit's own table: its row, then a row per mailbox.
UNIT_TABLE = ("mailbox", "official", "activated", "regular", "last_sent", "sent",
              "sent_refused", "sent_held", "classified_marked", "legacy_encoded",
              "received", "received_refused",
              "documents_sent", "documents_signed", "documents_valid", "documents_valid_gov",
              "documents_valid_public", "documents_valid_other", "documents_sealed",
              "documents_complete", "documents_received", "documents_received_valid",
              "documents_received_complete", "dkim_signed", "smime_signed")

#: The list of officials not using their mailbox regularly.
NOT_USING = IDLE_COLUMNS

UNIT_ROW = N_("The whole unit")
PROVINCE = N_("The whole province")
#: the label of a unit's identifier code in the national document exchange (edXML's
#: OrganId), which the appendix shows beside its name when the directory gives codes
ORGAN_ID = N_("Identifier code")


@dataclass(frozen=True, slots=True)
class Idle:
    """An official not using their mailbox regularly, as the filed list names them."""

    unit: str
    mailbox: str
    official: str
    is_activated: bool
    sent: int
    last_sent: datetime | None  # in the report's zone


@dataclass(frozen=True, slots=True)
class UnitTable:
    """One unit: its name, its own row and its mailboxes' rows."""

    unit_id: str
    name: str
    row: Row
    mailboxes: list[Row]
    #: the unit's identifier code in the document exchange, from the directory
    organ_id: str | None = None


@dataclass(frozen=True, slots=True)
class Filed:
    """Everything a filed report shows, taken from the report's rows."""

    report: Report
    tz_name: str
    generated: datetime  # in the report's zone
    names: Mapping[str, str]
    total: Row
    units: list[UnitTable]
    idle: list[Idle]
    #: the units with roster mailboxes none of which was used regularly (names)
    idle_units: list[str]
    #: the words of the file's language
    tr: Translation

    def gettext(self, message: str) -> str:
        """``message`` (an English msgid) in the file's language."""
        return self.tr.gettext(message)

    def label(self, column: str) -> str:
        """A column's label in the file's language."""
        return self.tr.gettext(LABELS[column])

    def text(self, column: str, value: object) -> str:
        """A cell for people: counts and shares written the way the file's language
        writes them (``1.234`` and ``12,5%`` in Vietnamese, ``1,234`` and ``12.5%`` in
        English), nothing for a column without a value on that row."""
        if value is None:
            return ""
        if column in SHARES:
            return percent(float(value), self.tr.lang)  # type: ignore[arg-type]
        if isinstance(value, bool):
            return self.gettext(ACTIVATED[value])
        if isinstance(value, int):
            return number(value, self.tr.lang)
        return str(value)

    @property
    def has_organ_ids(self) -> bool:
        """Whether any unit shown has an identifier code (the appendix then has a
        column for them)."""
        return any(unit.organ_id for unit in self.units)

    @property
    def has_roster(self) -> bool:
        """Whether the use columns were counted (a roster was given)."""
        return self.report.use is not None

    def columns(self, wanted: tuple[str, ...]) -> list[str]:
        """``wanted``, without the use columns when there is no roster."""
        return [c for c in wanted if self.has_roster or c not in USE_COLUMNS]

    def summary_sections(self) -> list[tuple[str, list[str]]]:
        """The summary's sections that have columns (the use ones need a roster)."""
        return [(title, found) for title, columns in SUMMARY
                if (found := self.columns(columns))]

    @property
    def span(self) -> str:
        """The period in words: its label and its first and last day in the zone."""
        tz = zone(self.tz_name)
        start = self.report.period.start.astimezone(tz)
        last = self.report.period.end.astimezone(tz) - timedelta(microseconds=1)
        return self.gettext("Reporting period {label}: from {start:%d/%m/%Y} to the end of "
                            "{last:%d/%m/%Y} ({zone} time)").format(
            label=self.report.period.label, start=start, last=last, zone=self.tz_name)

    @property
    def dated(self) -> str:
        """The date line of an administrative document (``ngày .. tháng .. năm ..``)."""
        g = self.generated
        return self.gettext("Dated {day:02d}/{month:02d}/{year}").format(
            day=g.day, month=g.month, year=g.year)

    @property
    def dated_in_zone(self) -> str:
        """The date line with the zone it is in."""
        return self.gettext("{dated} ({zone} time)").format(dated=self.dated, zone=self.tz_name)

    @property
    def chain(self) -> str:
        """Where the chain stood when the figures were read, to tie them to the log."""
        head = self.report.head
        if head is None:
            return self.gettext("The log held no event when the report was made.")
        return self.gettext("Figures read from the e-mail log up to event {seq}, SHA-256 hash "
                            "{hash} (check them with congvu audit verify).").format(
            seq=head.seq, hash=head.hash)


def filed(report: Report, tz_name: str, names: Mapping[str, str] | None = None, *,
          organ_ids: Mapping[str, str] | None = None,
          generated: datetime | None = None, lang: str = DEFAULT_LANGUAGE) -> Filed:
    """What the filed report of ``report`` shows (unit names from ``names``, ids
    otherwise; identifier codes from ``organ_ids``, unit id -> code), dated
    ``generated`` (default: now) in ``tz_name``, in ``lang``.

    :raises ValueError: an unknown language.
    """
    names = names or {}
    organ_ids = organ_ids or {}
    tz = zone(tz_name)
    found = rows(report)
    units: dict[str, UnitTable] = {}
    for row in found[:-1]:
        unit = row["unit"]
        if not row["mailbox"]:
            units[unit] = UnitTable(unit, names.get(unit, unit), row, [],
                                    organ_ids.get(unit))
        else:
            units[unit].mailboxes.append(row)
    idle = [Idle(names.get(o.mailbox.unit_id, o.mailbox.unit_id), o.mailbox.address,
                 o.mailbox.full_name, o.is_activated, o.sent,
                 o.last_sent.astimezone(tz) if o.last_sent else None)
            for o in report.not_using]
    idle_units = [names.get(u.unit_id, u.unit_id) for u in report.units
                  if u.use is not None and u.use.mailboxes and not u.use.regular]
    return Filed(report, tz_name, (generated or datetime.now(UTC)).astimezone(tz), names,
                 found[-1], list(units.values()), idle, idle_units, translation(lang))


def number(value: int, lang: str = DEFAULT_LANGUAGE) -> str:
    """A count as ``lang`` writes it: ``1.234`` in Vietnamese, ``1,234`` in English."""
    return f"{value:,}" if lang == "en" else f"{value:,}".replace(",", ".")


def percent(value: float, lang: str = DEFAULT_LANGUAGE) -> str:
    """A share (in percent) as ``lang`` writes it: ``12,5%`` in Vietnamese, ``12.5%``
    in English."""
    return f"{value:.1f}%" if lang == "en" else f"{value:.1f}%".replace(".", ",")


def writer(fmt: str) -> Callable[[Filed], bytes]:
    """The function that writes ``fmt`` (``xlsx`` or ``docx``)."""
    if fmt == "xlsx":
        from audit.reportxlsx import workbook

        return workbook
    if fmt == "docx":
        from audit.reportdocx import document

        return document
    raise ValueError(f"{fmt!r} is not a filed report format ({', '.join(FILE_FORMATS)})")


def render_file(report: Report, fmt: str, tz_name: str,
                names: Mapping[str, str] | None = None, *,
                organ_ids: Mapping[str, str] | None = None,
                generated: datetime | None = None, lang: str = DEFAULT_LANGUAGE) -> bytes:
    """The filed report of ``report`` as an ``xlsx`` workbook or a ``docx`` document
    (units named by ``names``, with the identifier codes of ``organ_ids``), in ``lang``.

    :raises ValueError: an unknown format or language.
    """
    return writer(fmt)(filed(report, tz_name, names, organ_ids=organ_ids,
                             generated=generated, lang=lang))
