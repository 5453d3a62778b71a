"""The CSV edge: reading a spreadsheet's file of units into validated rows.

A file is UTF-8 (with or without the byte-order mark spreadsheets write), has a
header row naming its columns in any order, and one unit per row; the layout is
documented in directory/README.md. Each row becomes a :class:`UnitRow` (pydantic:
every cell checked) and then a :class:`~directory.model.Unit`.

Problems are collected, never raised one at a time, so an administrator sees every
bad row with its line number in one report. Checks that need the whole file
(duplicate ids and addresses, unknown parents, cycles) are in :mod:`directory.checks`.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cryptography import x509
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from directory import problems
from directory.errors import ImportRejected, ImportRowError
from directory.model import (
    Address,
    InvalidAddress,
    Unit,
    parse_domain,
    parse_official_address,
    parse_organ_id,
)

REQUIRED_COLUMNS = ("id", "name", "parent", "address")
OPTIONAL_COLUMNS = (
    "short_name", "name_en", "kind", "aliases", "dkim_domain", "phone", "website",
    "active", "senders", "certificate", "valid_from", "valid_until", "successor",
    "document_certificates", "organ_id",
)
#: Every column, in the order exports write them.
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_TRUE = frozenset({"", "1", "yes", "y", "true", "x", "có", "co"})
_FALSE = frozenset({"0", "no", "n", "false", "không", "khong"})
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_MAX_ID = 64
_HEX = frozenset("0123456789abcdef")


def check_unit_id(value: str) -> str:
    """Return ``value`` if it is a valid unit id (a slug), else raise ``ValueError``."""
    if not value:
        raise problems.Problem(problems.ID_EMPTY())
    if len(value) > _MAX_ID:
        raise problems.Problem(problems.ID_TOO_LONG(limit=_MAX_ID))
    if not set(value) <= _SLUG_CHARS or not value[0].isalnum():
        raise problems.Problem(problems.ID_CHARACTERS())
    return value


def yes_no(value: str) -> bool:
    """Read an ``active`` cell: yes/no, 1/0, true/false, có/không; empty is yes.

    :raises ValueError: any other value.
    """
    folded = value.strip().lower()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise problems.Problem(problems.NOT_YES_NO(value=value))


def iso_date(value: str) -> date | None:
    """Read a ``YYYY-MM-DD`` cell; empty is None.

    :raises ValueError: not a date in that form.
    """
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise problems.Problem(problems.NOT_A_DATE(value=value)) from None


def delimiter(text: str) -> str:
    """The separator a spreadsheet used, guessed from the header: ',', ';' or a tab."""
    # Spreadsheets in locales with a decimal comma (Vietnamese among them) save
    # CSV with ';'.
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


def _address(value: str) -> Address:
    try:
        return parse_official_address(value)
    except InvalidAddress as exc:
        raise problems.Problem(problems.ADDRESS_INVALID(value=value, detail=exc.reason)
                               ) from None


class UnitRow(BaseModel):
    """One CSV row, every cell checked: the edge model of an imported unit."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(description="Stable id (slug): a-z, 0-9, '-', '_', '.'.")
    name: str = Field(min_length=1, description="Official name in Vietnamese.")
    parent: str | None = Field(default=None, description="Parent unit's id; empty for the root.")
    address: Address = Field(description="Primary official address.")
    short_name: str = Field(default="", description="Short name.")
    name_en: str = Field(default="", description="English name.")
    kind: str = Field(default="", description="Kind of unit (province, department, commune...).")
    aliases: tuple[Address, ...] = Field(default=(), description="Other addresses, ';'-separated.")
    dkim_domain: str = Field(default="", description="Domain the unit's mail is DKIM-signed for.")
    phone: str = Field(default="", description="Phone number.")
    website: str = Field(default="", description="Web site (http or https URL).")
    active: bool = Field(default=True, description="Whether the unit exists today.")
    senders: tuple[str, ...] = Field(default=(), description="Mail logins allowed to send as it.")
    certificate: str = Field(default="", description="S/MIME certificate, PEM.")
    valid_from: date | None = Field(default=None, description="First day the unit exists.")
    valid_until: date | None = Field(default=None, description="Last day the unit exists.")
    successor: str | None = Field(default=None, description="Unit that took this one over.")
    document_certificates: tuple[str, ...] = Field(
        default=(), description="SHA-256 fingerprints of the certificates the unit signs "
                                "documents with, ';'-separated (hex, colons allowed).")
    organ_id: str | None = Field(
        default=None, description="The unit's identifier code in the national document "
                                  "exchange (edXML OrganId), e.g. 000.00.00.H41.")

    @model_validator(mode="before")
    @classmethod
    def _nfc(cls, cells: Any) -> Any:
        # one spelling of each Vietnamese letter (files saved on macOS come
        # decomposed), so names compare, fold and diff the same wherever they came from
        if isinstance(cells, dict):
            return {k: unicodedata.normalize("NFC", v) if isinstance(v, str) else v
                    for k, v in cells.items()}
        return cells

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_unit_id(value)

    @field_validator("parent", "successor", mode="before")
    @classmethod
    def _reference(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return check_unit_id(value) if value else None
        return value

    @field_validator("address", mode="before")
    @classmethod
    def _primary(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise problems.Problem(problems.PRIMARY_EMPTY())
            return _address(value)
        return value

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases(cls, value: Any) -> Any:
        return tuple(_address(item) for item in _split(value)) if isinstance(value, str) else value

    @field_validator("senders", mode="before")
    @classmethod
    def _senders(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        logins = _split(value)
        for login in logins:
            if any(ch.isspace() or ch == "," for ch in login):
                raise problems.Problem(problems.LOGIN_INVALID(login=login))
        return tuple(logins)

    @field_validator("document_certificates", mode="before")
    @classmethod
    def _fingerprints(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        found = []
        for item in _split(value):
            digest = item.replace(":", "").lower()
            if len(digest) != 64 or not set(digest) <= _HEX:
                raise problems.Problem(problems.NOT_A_FINGERPRINT(value=item))
            found.append(digest)
        return tuple(found)

    @field_validator("organ_id", mode="before")
    @classmethod
    def _organ_id(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_organ_id(value) if value.strip() else None
        return value

    @field_validator("dkim_domain")
    @classmethod
    def _dkim_domain(cls, value: str) -> str:
        if not value:
            return value
        try:
            return parse_domain(value)
        except InvalidAddress as exc:
            raise problems.Problem(problems.DOMAIN_INVALID(value=value, detail=exc.reason)
                                   ) from None

    @field_validator("website")
    @classmethod
    def _website(cls, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise problems.Problem(problems.WEBSITE_SCHEME())
        return value

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, value: Any) -> Any:
        return yes_no(value) if isinstance(value, str) else value

    @field_validator("valid_from", "valid_until", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return iso_date(value) if isinstance(value, str) else value

    @field_validator("certificate")
    @classmethod
    def _certificate(cls, value: str) -> str:
        if not value:
            return value
        try:
            x509.load_pem_x509_certificate(value.encode("ascii"))
        except (ValueError, UnicodeError) as exc:
            raise problems.Problem(problems.NOT_PEM(detail=str(exc))) from None
        return value.strip() + "\n"

    @model_validator(mode="after")
    def _dates_in_order(self) -> UnitRow:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise problems.Problem(problems.DATES_ORDER(until=self.valid_until.isoformat(),
                                          since=self.valid_from.isoformat()))
        return self

    def to_unit(self) -> Unit:
        """The unit this row describes."""
        return Unit(
            id=self.id, name=self.name, address=self.address, parent=self.parent,
            aliases=self.aliases, short_name=self.short_name, name_en=self.name_en,
            kind=self.kind, dkim_domain=self.dkim_domain, certificate=self.certificate,
            phone=self.phone, website=self.website, senders=self.senders,
            is_active=self.active, valid_from=self.valid_from,
            valid_until=self.valid_until, successor=self.successor,
            document_certificates=self.document_certificates, organ_id=self.organ_id,
        )


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row that passed its own checks, with the line it starts on."""

    line: int
    unit: Unit


@dataclass(slots=True)
class ParsedFile:
    """What a CSV file held: the good rows and the problems, line by line."""

    rows: list[ParsedRow] = field(default_factory=list)
    errors: list[ImportRowError] = field(default_factory=list)
    #: The id cell of every row, good or bad (a bad row still names its unit).
    ids: set[str] = field(default_factory=set)


def decode(data: bytes, source: str) -> str:
    """Decode a file as UTF-8 (byte-order mark optional).

    :raises ImportRejected: a line is not UTF-8; every such line is listed.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    errors = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            errors.append(ImportRowError(number, None, problems.NOT_UTF8(
                byte=f"{line[exc.start]:02x}", position=exc.start + 1)))
    raise ImportRejected(source, errors)


def _header_columns(names: list[str], source: str, required: Sequence[str],
                   known: Sequence[str]) -> list[str]:
    """A CSV header's column names (any case and spacing), checked against the layout.

    :raises ImportRejected: every missing, unknown or doubled column at once.
    """
    columns = [name.strip().lower() for name in names]
    errors = []
    missing = [name for name in required if name not in columns]
    if missing:
        errors.append(ImportRowError(1, None,
                                     problems.MISSING_COLUMNS(columns=", ".join(missing))))
    unknown = [name for name in columns if name not in known]
    if unknown:
        errors.append(ImportRowError(1, None, problems.UNKNOWN_COLUMNS(
            columns=", ".join(map(repr, unknown)), known=", ".join(known))))
    doubled = sorted({name for name in columns if columns.count(name) > 1})
    if doubled:
        errors.append(ImportRowError(1, None,
                                     problems.DOUBLED_COLUMNS(columns=", ".join(doubled))))
    if errors:
        raise ImportRejected(source, errors)
    return columns


def _row_errors(line: int, exc: ValidationError) -> list[ImportRowError]:
    found = []
    for error in exc.errors():
        column = str(error["loc"][0]) if error["loc"] else None
        raised = error.get("ctx", {}).get("error")
        if isinstance(raised, problems.Problem):
            problem = raised.reason
        elif error["type"] == "string_too_short":  # the name, the one required text
            problem = problems.NAME_EMPTY()
        else:
            problem = problems.CELL_INVALID(
                detail=error["msg"].removeprefix("Value error, "))
        found.append(ImportRowError(line, column, problem, value=str(error.get("input", ""))))
    return found


def csv_lines(text: str, source: str, required: Sequence[str], known: Sequence[str]
              ) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The checked header of a CSV file, and its non-blank rows with the line each
    starts on (a quoted cell may span lines).

    :raises ImportRejected: the file is empty, or its header is wrong.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRejected(source, [ImportRowError(1, None, problems.EMPTY_FILE())]) from None
    columns = _header_columns(header, source, required, known)

    def rows() -> Iterator[tuple[int, list[str]]]:
        previous = reader.line_num
        for cells in reader:
            line, previous = previous + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                yield line, cells

    return columns, rows()


def parse_rows(text: str, source: str) -> ParsedFile:
    """Read CSV text into checked rows and per-row problems.

    :raises ImportRejected: the header is wrong (nothing can be read).
    """
    columns, lines = csv_lines(text, source, REQUIRED_COLUMNS, COLUMNS)
    parsed = ParsedFile()
    for line, cells in lines:
        if "id" in columns and len(cells) > columns.index("id"):
            parsed.ids.add(cells[columns.index("id")].strip())
        if len(cells) != len(columns):
            parsed.errors.append(ImportRowError(
                line, None, problems.CELL_COUNT(cells=len(cells), columns=len(columns))))
            continue
        try:
            row = UnitRow.model_validate(dict(zip(columns, cells, strict=True)))
        except ValidationError as exc:
            parsed.errors.extend(_row_errors(line, exc))
            continue
        parsed.rows.append(ParsedRow(line, row.to_unit()))
    return parsed
