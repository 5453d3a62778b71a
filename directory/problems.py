"""Why an imported row, or the store, is refused: the problem codes of directory/.

Each problem an import (units, the roster, a doveadm map, LDIF) or a merge finds, and
each refusal of the store, is a stable code with named values (mailbase/reasons.py):
never renamed, only added. Its template is the English the error's ``str()`` and
``reason`` keep, and the msgid of
directory/locale/vi/LC_MESSAGES/congvu-directory.po, where ``directory import``,
``directory mailboxes import``, ``directory merge`` and the console's unit form say it
in Vietnamese (directory/words.py). The values (an id, an address, a line number, a
library's own words about a bad address or certificate) are data, shown as they are.
"""

from __future__ import annotations

from mailbase import N_, Reason, ReasonCode

__all__ = ["PROBLEMS", "Problem", "problem_of"]


class Problem(ValueError):
    """A value refused, with its coded reason: a ``ValueError`` (what pydantic's
    validators and the readers' callers catch) whose message is the English text."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.text)
        self.reason = reason


# -- the file as a whole -------------------------------------------------------------------
NOT_UTF8 = ReasonCode("file.not-utf8", N_(
    "not UTF-8 (byte 0x{byte} at position {position}); save the file as 'CSV UTF-8'"))
MISSING_COLUMNS = ReasonCode("file.missing-columns", N_("missing column(s): {columns}"))
UNKNOWN_COLUMNS = ReasonCode("file.unknown-columns",
                             N_("unknown column(s): {columns}; the columns are: {known}"))
DOUBLED_COLUMNS = ReasonCode("file.doubled-columns", N_("column(s) given twice: {columns}"))
EMPTY_FILE = ReasonCode("file.empty", N_("the file is empty"))
CELL_COUNT = ReasonCode("file.cell-count",
                        N_("{cells} cells where the header has {columns} columns"))
UNREADABLE = ReasonCode("file.unreadable", N_("cannot read: {detail}"))
NO_MAILBOX = ReasonCode("file.no-mailbox",
                        N_("the file lists no mailbox; the roster would be emptied"))

# -- one cell ------------------------------------------------------------------------------
ID_EMPTY = ReasonCode("id.empty", N_("the id is empty"))
ID_TOO_LONG = ReasonCode("id.too-long", N_("the id is longer than {limit} characters"))
ID_CHARACTERS = ReasonCode("id.characters", N_(
    "an id uses only a-z, 0-9, '-', '_' and '.', and starts with a letter or digit"))
NAME_EMPTY = ReasonCode("name.empty", N_("the name is empty"))
NOT_YES_NO = ReasonCode("active.not-yes-no",
                        N_("'{value}' is not yes/no (also 1/0, true/false, có/không)"))
NOT_A_DATE = ReasonCode("date.not-a-date", N_("'{value}' is not a date as YYYY-MM-DD"))
PRIMARY_EMPTY = ReasonCode("address.empty", N_("the primary address is empty"))
ADDRESS_INVALID = ReasonCode("address.invalid",
                             N_("'{value}' is not a valid address: {detail}"))
LOGIN_INVALID = ReasonCode("senders.login",
                           N_("the login '{login}' contains a space or a comma"))
NOT_A_FINGERPRINT = ReasonCode("document-certificates.not-a-fingerprint",
                               N_("'{value}' is not a SHA-256 fingerprint (64 hex digits)"))
DOMAIN_INVALID = ReasonCode("dkim-domain.invalid",
                            N_("'{value}' is not a valid domain: {detail}"))
WEBSITE_SCHEME = ReasonCode("website.scheme",
                            N_("the web site must start with http:// or https://"))
NOT_PEM = ReasonCode("certificate.not-pem", N_("not a PEM certificate: {detail}"))
DATES_ORDER = ReasonCode("dates.order",
                         N_("valid_until {until} is before valid_from {since}"))
NOT_AN_ORGAN_ID = ReasonCode("organ-id.invalid", N_(
    "'{value}' is not an agency's identifier code: four groups of letters and digits "
    "separated by dots, 3, 2, 2 and 3 long, the last starting with a letter "
    "(000.00.00.H41)"))
#: a refusal of the CSV reader's library with no code of ours (its own English words)
CELL_INVALID = ReasonCode("cell.invalid", N_("not accepted: {detail}"))

# -- the units of the whole file -----------------------------------------------------------
ID_USED = ReasonCode("id.used", N_("the id '{id}' is already used on line {line}"))
ADDRESS_TWICE = ReasonCode("address.twice", N_("{address} is listed twice"))
ADDRESS_TAKEN = ReasonCode("address.taken",
                           N_("{address} is already an address of '{unit}' (line {line})"))
ADDRESS_KEPT = ReasonCode("address.kept", N_(
    "the address {address} belongs to the unit '{unit}', which is not in this file and "
    "keeps its addresses"))
ADDRESS_ON_ROSTER = ReasonCode("address.on-roster", N_(
    "{address} is an official's mailbox on the roster (unit '{unit}'); take it off the "
    "roster first"))
ORGAN_ID_TAKEN = ReasonCode("organ-id.taken", N_(
    "the identifier code {code} is already the code of '{unit}' (line {line}); a code "
    "names one unit (clear it on a merged one)"))
PARENT_UNKNOWN = ReasonCode("parent.unknown",
                            N_("the parent '{parent}' is not a unit of this file"))
SUCCESSOR_UNKNOWN = ReasonCode("successor.unknown",
                               N_("the successor '{successor}' is not another unit of this file"))
PARENT_CYCLE = ReasonCode("parent.cycle", N_("the parents form a cycle: {chain}"))
SUCCESSOR_CYCLE = ReasonCode("successor.cycle", N_("the successors form a cycle: {chain}"))
SUCCESSION_TOO_LONG = ReasonCode("successor.too-long", N_(
    "the chain of successors from '{unit}' is longer than {limit} links"))

# -- the roster of officials' mailboxes ----------------------------------------------------
MAILBOX_EMPTY = ReasonCode("mailbox.address-empty", N_("the address is empty"))
MAILBOX_NOT_BARE = ReasonCode("mailbox.not-bare", N_(
    "'{value}': write the bare address, without a name or '<>'"))
FULL_NAME_EMPTY = ReasonCode("mailbox.full-name-empty", N_("the full name is empty"))
UNIT_EMPTY = ReasonCode("mailbox.unit-empty", N_("the unit (its id) is empty"))
NOT_A_TIME = ReasonCode("last-login.not-a-time", N_(
    "'{value}' is not a time: use YYYY-MM-DD, an ISO 8601 date-time or Unix seconds"))
IN_THE_FUTURE = ReasonCode("last-login.future", N_("'{value}' is in the future"))
MAPPED_TWICE = ReasonCode("map.twice", N_("{address} is mapped twice"))
NOT_IN_MAP = ReasonCode("doveadm.no-unit", N_(
    "{address} is not in the map file and --unit is not given"))
LISTED_TWICE = ReasonCode("mailbox.listed", N_("{address} is already listed on line {line}"))
UNIT_ADDRESS = ReasonCode("mailbox.unit-address", N_(
    "{address} is an official address of the unit '{unit}'; a unit's address cannot also "
    "be an official's mailbox"))
NO_SUCH_UNIT = ReasonCode("mailbox.unknown-unit", N_("no unit has the id '{unit}'"))
OUTSIDE_SUBTREE = ReasonCode("mailbox.outside-subtree", N_(
    "the unit '{unit}' is outside the imported subtree (--unit)"))
UNIT_INACTIVE = ReasonCode("mailbox.unit-inactive", N_(
    "the unit '{unit}' is inactive; an active mailbox needs an active unit"))

# -- LDIF ----------------------------------------------------------------------------------
LDIF_NOT_A_LINE = ReasonCode("ldif.not-a-line", N_("not an LDIF 'name: value' line"))
LDIF_BASE64 = ReasonCode("ldif.base64", N_("a base64 value that is not UTF-8 text"))
LDIF_URL = ReasonCode("ldif.url", N_("values read from a URL (':<') are not supported"))
LDIF_NO_DN = ReasonCode("ldif.no-dn", N_("an entry must start with 'dn:'"))
LDIF_CHANGE = ReasonCode("ldif.change",
                         N_("change records are not supported; export the entries"))
LDIF_MAILS = ReasonCode("ldif.mails",
                        N_("the entry has {count} mail values; a mailbox has one"))
LDIF_NO_CN = ReasonCode("ldif.no-cn", N_("the entry has no cn (full name)"))
LDIF_NO_OU = ReasonCode("ldif.no-ou", N_("the entry has no ou naming its unit"))
LDIF_UNKNOWN_UNIT = ReasonCode("ldif.unknown-unit", N_("no unit has the id or name {names}"))

# -- a merge of several provinces' files ---------------------------------------------------
PREFIX_COUNT = ReasonCode("merge.prefix-count", N_(
    "{files} file(s) but {prefixes} --prefix: give one --prefix per file, in the same order"))
ROSTER_COUNT = ReasonCode("merge.roster-count", N_(
    "{files} file(s) but {rosters} --roster: give one --roster per file, in the same order "
    "(an empty roster export for a province without one)"))
PREFIX_INVALID = ReasonCode("merge.prefix-invalid", N_("--prefix '{prefix}': {problem}"))
PREFIX_END = ReasonCode("merge.prefix-end", N_(
    "a prefix ends with a letter or digit ('{separator}' is added)"))
PREFIX_TWICE = ReasonCode("merge.prefix-twice", N_(
    "--prefix '{prefix}' is given for file {first} and file {second}: each file needs its "
    "own"))
SAME_CONTENT = ReasonCode("merge.same-content", N_(
    "the same content as {other}: the same export given twice?"))
GIVEN_TWICE = ReasonCode("merge.given-twice", N_("given twice (also as {other})"))
OUTPUT_IS_INPUT = ReasonCode("merge.output-is-input",
                             N_("an input file: write the output elsewhere"))
OUTPUT_TWICE = ReasonCode("merge.output-twice",
                          N_("named for two outputs: give each its own file"))
PREFIXED_INVALID = ReasonCode("merge.prefixed-invalid", N_("prefixed, '{id}': {problem}"))
ID_CLASH = ReasonCode("merge.id-clash", N_(
    "the id '{id}'{became} is also the id of the unit on {file} line {line}{other_became}: "
    "choose another --prefix or rename one unit"))
PREFIXED_FROM = ReasonCode("merge.prefixed-from", N_(" (prefixed from '{id}')"))
ADDRESS_IN_TWO = ReasonCode("merge.address-in-two", N_(
    "{address} is also an address of '{unit}' in {file} (line {line}); an address belongs "
    "to one unit"))
ORGAN_ID_IN_TWO = ReasonCode("merge.organ-id-in-two", N_(
    "the identifier code {code} is also the code of '{unit}' in {file} (line {line}); a "
    "code names one unit"))
ROSTER_UNKNOWN_UNIT = ReasonCode("merge.roster-unknown-unit",
                                 N_("no unit of {file} has the id '{unit}'"))
ON_TWO_ROSTERS = ReasonCode("merge.on-two-rosters",
                            N_("{address} is also on the roster {file} (line {line})"))
SHARED_LOGIN = ReasonCode("merge.shared-login", N_(
    "the login '{login}' sends for '{unit}' ({file}) and for '{other_unit}' "
    "({other_file}): on one server it is one account; rename one of them if they are "
    "two people"))

# -- the store ---------------------------------------------------------------------------
STORE_MISSING = ReasonCode("store.missing",
                           N_("no such directory store; import a CSV file first"))
STORE_IS_POSTGRESQL = ReasonCode("store.postgresql-path", N_(
    "a PostgreSQL store is opened with its [directory] table (its url and password_file), "
    "not as a file path"))
STORE_CANNOT_OPEN = ReasonCode("store.cannot-open",
                               N_("cannot open the directory store: {detail}"))
STORE_CANNOT_OPEN_READ_ONLY = ReasonCode(
    "store.cannot-open-read-only", N_("cannot open read-only the directory store: {detail}"))
STORE_CANNOT_OPEN_WRITING = ReasonCode(
    "store.cannot-open-for-writing",
    N_("cannot open for writing the directory store: {detail}"))
#: ``doing`` is the store's own English name of the step (data, as the detail is)
STORE_FAILED = ReasonCode("store.failed", N_("{doing} failed: {detail}"))
STORE_NOT_CREATED = ReasonCode("store.not-created", N_(
    "no directory store of this version in this database yet: import a CSV file of units "
    "first (or start the filter once to create it)"))
STORE_NO_STEPS = ReasonCode("store.no-schema-steps", N_(
    "this release has no PostgreSQL schema steps for the directory migration(s) "
    "{migrations}"))
STORE_SCHEMA_VERSION = ReasonCode("store.schema-version", N_(
    "schema version {version}, this release's is {current}: open it once with this release "
    "before copying it"))
STORE_NOT_EMPTY = ReasonCode("store.not-empty", N_(
    "its table {table} is not empty: a copy goes into a new, empty directory store"))
STORE_PASSWORD = ReasonCode("store.password", N_("the password file: {detail}"))

#: every code, for the catalogue's reader (directory/words.py) and its test
PROBLEMS: tuple[ReasonCode, ...] = tuple(
    value for value in globals().values() if isinstance(value, ReasonCode))


def problem_of(exc: ValueError) -> Reason:
    """The coded reason of a refused value: its own, or the library's words as data."""
    return exc.reason if isinstance(exc, Problem) else CELL_INVALID(detail=str(exc))
