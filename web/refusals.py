"""Why a change of the console's users is refused: the refusal codes of web/'s users.

Each refusal of the users store (a bad name, a short password, a name taken or unknown,
a store that cannot be opened, read or copied), of a grant (a unit id or address that
names no unit, the directory unreadable) and of ``congvu user`` itself is a stable code
with named values (mailbase/reasons.py): never renamed, only added. Its template is the
English a :class:`~web.errors.UserError` keeps as its ``str()`` (logs, ``congvu store
migrate``, the quarantine's and the users page's address), and the msgid of
web/locale/vi/LC_MESSAGES/congvu-web.po, where ``congvu user`` (web/cli.py) and the
console's pages (web/reasons.py) say it in the reader's language. The values (a name,
a unit id, an address, a path, a library's or the database's own words) are data; a
refusal of the directory's store is its own code (directory/problems.py), nested.
"""

from __future__ import annotations

from mailbase import N_, ReasonCode

__all__ = ["REFUSALS"]

# -- a user --------------------------------------------------------------------------------
#: the name as Python writes it (quoted, a tab or other invisible character escaped):
#: what is wrong with it may be a character one cannot see
NAME_INVALID = ReasonCode("user.name-invalid",
                          N_("user name {name}: 1-64 printable characters, no spaces"))
PASSWORD_SHORT = ReasonCode("user.password-short",
                            N_("user {name}: the password needs at least {minimum} characters"))
NAME_TAKEN = ReasonCode("user.name-taken", N_("user {name} exists already"))
NO_USER = ReasonCode("user.unknown", N_("no user '{name}'"))
DISABLE_ONESELF = ReasonCode("user.disable-oneself", N_("you cannot disable yourself"))
NO_PASSWORD_ON_STDIN = ReasonCode("user.no-password-on-stdin", N_(
    "no password on standard input (--stdin reads its first line)"))

# -- a grant -------------------------------------------------------------------------------
UNIT_EMPTY = ReasonCode("grant.unit-empty", N_("a unit id cannot be empty"))
NO_UNIT = ReasonCode("grant.no-unit", N_("no unit '{unit}' in the directory"))
#: ``units``: the ids of the units named so or with a near id, comma-separated
NO_UNIT_NEAR = ReasonCode("grant.no-unit-near",
                          N_("no unit '{unit}' in the directory (did you mean {units}?)"))
#: ``detail``: the address parser's own words (email-validator's, IDNA's)
NOT_AN_ADDRESS = ReasonCode("grant.not-an-address",
                            N_("'{key}' is neither a unit id nor an address: {detail}"))
OFFICIALS_MAILBOX = ReasonCode("grant.officials-mailbox", N_(
    "{address} is the mailbox of {full_name}, not a unit's address: a grant is of a whole "
    "unit; to grant the unit of this mailbox, grant {unit}"))
NO_UNIT_AT = ReasonCode("grant.no-unit-at-address", N_(
    "no unit has the address {address} (grant a unit by its id, as `congvu directory "
    "show` lists it)"))
NO_UNIT_AT_DOMAIN = ReasonCode("grant.no-unit-at-address-domain", N_(
    "no unit has the address {address} (grant a unit by its id, as `congvu directory "
    "show` lists it); units with addresses at {domain}: {units}"))
#: ``problem``: :data:`DIRECTORY_STORE` with the directory's own code
UNIT_UNCHECKED = ReasonCode("grant.unit-unchecked", N_("cannot check unit '{unit}': {problem}"))
GRANTS_UNCHECKED = ReasonCode("grant.grants-unchecked", N_(
    "cannot check the grants against the directory: {problem}"))
#: the directory store (its path or url) and why it cannot be read (directory/problems.py)
DIRECTORY_STORE = ReasonCode("grant.directory-store", N_("{path}: {problem}"))

# -- the users store -----------------------------------------------------------------------
#: ``store``: its path or url; ``detail``: SQLite's, the system's or the database
#: connection's own words (mailbase/pgconn.py's ``explain``), or the password file's
STORE_CANNOT_OPEN = ReasonCode("users-store.cannot-open",
                               N_("users store {store}: cannot open it: {detail}"))
STORE_REFUSED = ReasonCode("users-store.refused", N_("users store {store}: {detail}"))
STORE_CANNOT_READ = ReasonCode("users-store.cannot-read",
                               N_("users store {store}: cannot read it: {detail}"))
STORE_SCHEMA_VERSION = ReasonCode("users-store.schema-version", N_(
    "users store {store}: schema version {version}, this release's is {current}: open it "
    "once with this release before copying it"))
STORE_NOT_EMPTY = ReasonCode("users-store.not-empty", N_(
    "users store {store}: it holds users already: a copy goes into a new, empty users store"))
STORE_COPY_FAILED = ReasonCode("users-store.copy-failed",
                               N_("users store {store}: copy failed: {detail}"))

#: every code, for the console's book of reasons (web/reasons.py) and its test
REFUSALS: tuple[ReasonCode, ...] = tuple(
    value for value in globals().values() if isinstance(value, ReasonCode))
