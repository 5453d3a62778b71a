"""``congvu doctor``'s checks of the shared PostgreSQL store (``[store] url``).

For each database the configuration names (``[store] url``, or a table's own ``url``):
can this server log in; is each store's schema the one this release writes (current,
lacking migrations that ``congvu serve`` applies at its start, or newer than this
release, which must then not write it); and does this server's clock agree with the
database server's. Records carry this server's times and the database orders them by
its commits, so servers whose clocks disagree by seconds write a log whose times
contradict its order; above :data:`CLOCK_WARN_SECONDS` that is a warning.

The console users store has its schema checked wherever it is: with the others in
PostgreSQL, or as a SQLite file by its ``PRAGMA user_version`` (:func:`check_users_file`).

Read-only: a read-only session, reads of each store's ledger of migrations
(``_migrations``) and of the server's clock; nothing is created or migrated.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from archive.pgschema import MIGRATIONS as ARCHIVE_MIGRATIONS
from archive.pgschema import SCHEMA as ARCHIVE_SCHEMA
from audit.pgschema import MIGRATIONS as AUDIT_MIGRATIONS
from directory.pgschema import MIGRATIONS as DIRECTORY_MIGRATIONS
from directory.pgschema import SCHEMA as DIRECTORY_SCHEMA
from mailbase.pgconn import ERRORS, PgConnection, connect, explain, read_password
from milter.findings import Finding
from milter.findings import error as _error
from milter.findings import ok as _ok
from milter.findings import warn as _warn
from milter.settings import Settings
from policies.pgschema import MIGRATIONS as QUARANTINE_MIGRATIONS
from policies.pgschema import SCHEMA as QUARANTINE_SCHEMA
from signer.pgschema import MIGRATIONS as DKIM_MIGRATIONS
from signer.pgschema import SCHEMA as DKIM_SCHEMA

#: Seconds between this server's clock and the database server's above which the doctor
#: warns.
CLOCK_WARN_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class SharedStore:
    """One store that can live in PostgreSQL: what it is, its key path, where its
    ledger of migrations is, and the migrations this release knows."""

    name: str
    where: str
    schema: str | None  # None: the database's default schema (the audit log's)
    migrations: tuple[str, ...]
    url: str | None
    password_file: Path | None

    @property
    def ledger(self) -> str:
        """The table naming the applied migrations."""
        return "_migrations" if self.schema is None else f"{self.schema}._migrations"


def shared_stores(config: Settings) -> list[SharedStore]:
    """Every store of the configuration that can be in PostgreSQL, with its URL (None:
    it is a SQLite file or a directory)."""
    def names(migrations: Sequence[tuple[str, object]]) -> tuple[str, ...]:
        return tuple(name for name, _ in migrations)

    quarantine, dkim, users = config.policies.quarantine, config.signer.dkim, config.users_store
    return [
        SharedStore("audit log", "audit.url", None, names(AUDIT_MIGRATIONS),
                    config.audit.url, config.audit.password_file),
        SharedStore("directory", "directory.url", DIRECTORY_SCHEMA,
                    names(DIRECTORY_MIGRATIONS), config.directory.url,
                    config.directory.password_file),
        SharedStore("archive", "archive.url", ARCHIVE_SCHEMA, names(ARCHIVE_MIGRATIONS),
                    config.archive.url, config.archive.password_file),
        SharedStore("quarantine", "policies.quarantine.url", QUARANTINE_SCHEMA,
                    names(QUARANTINE_MIGRATIONS), quarantine.url, quarantine.password_file),
        SharedStore("DKIM rotation state", "signer.dkim.url", DKIM_SCHEMA,
                    names(DKIM_MIGRATIONS), dkim.url, dkim.password_file),
        SharedStore("console users store", "web.url", users.pg_schema, users.pg_migrations,
                    users.url, users.password_file),
    ]


def check_shared_store(config: Settings) -> Iterator[Finding]:
    """The connection, each store's schema version and the clock, per database."""
    by_url: dict[tuple[str, Path | None], list[SharedStore]] = {}
    for store in shared_stores(config):
        if store.url is not None:
            by_url.setdefault((store.url, store.password_file), []).append(store)
    for (url, password_file), stores in by_url.items():
        yield from _check_database(url, password_file, stores)


def _check_database(url: str, password_file: Path | None,
                    stores: list[SharedStore]) -> Iterator[Finding]:
    where = stores[0].where if len(stores) == 1 else "store.url"
    try:
        password = read_password(password_file)
    except ValueError as exc:
        yield _error(where, f"{url}: {exc}", f"chmod 600 {password_file} and chown it to "
                     "the user congvu runs as; it holds the password alone")
        return
    try:
        conn = connect(url, password, readonly=True)
    except ERRORS as exc:
        yield _error(where, f"{url}: cannot connect: {explain(exc)}",
                     "mail gets 451 until it can: see deploy/README.md (two servers, one "
                     "PostgreSQL) for the role, pg_hba.conf and the password file")
        return
    try:
        yield from _check_connected(conn, url, where, stores)
    except ERRORS as exc:
        yield _error(where, f"{url}: the database failed while checked: {explain(exc)}",
                     "run the doctor again; if it persists, see PostgreSQL's log")
    finally:
        with contextlib.suppress(*ERRORS):
            conn.close()


def _check_connected(conn: PgConnection, url: str, where: str,
                     stores: list[SharedStore]) -> Iterator[Finding]:
    version = conn.raw.info.server_version
    user = conn.raw.info.user
    yield _ok(where, f"{url}: connected as {user} (PostgreSQL {version // 10000}."
              f"{version % 10000})")
    for store in stores:
        yield schema_finding(store, _applied(conn, store))
    before = time.time()
    row = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
    after = time.time()
    assert row is not None
    yield clock_finding(where, url, before=before, database=float(row[0]), after=after)


def _applied(conn: PgConnection, store: SharedStore) -> set[str] | None:
    found = conn.execute("SELECT to_regclass(?) IS NOT NULL", (store.ledger,)).fetchone()
    if not found or not found[0]:
        return None
    return {str(name) for (name,) in conn.execute(f"SELECT name FROM {store.ledger}")}


def schema_finding(store: SharedStore, applied: set[str] | None) -> Finding:
    """What the store's ledger of migrations (None: there is none) says of its schema
    against this release's migrations."""
    where = store.where
    if applied is None:
        return _warn(where, f"no {store.name} in this database yet",
                     "`congvu serve` creates it at its start (the database user must own "
                     "the database)")
    newer = sorted(applied - set(store.migrations))
    if newer:
        return _error(where, f"the {store.name}'s schema is newer than this release (it "
                      f"has {', '.join(newer)}, which this congvu does not know)",
                      "upgrade congvu on this server to the release the other servers run "
                      "before it writes to the store")
    missing = [name for name in store.migrations if name not in applied]
    if missing:
        return _warn(where, f"the {store.name}'s schema needs migrating: it lacks "
                     f"{', '.join(missing)}",
                     "restart `congvu serve` on one upgraded server: it migrates the store "
                     "at its start, under the store's lock")
    return _ok(where, f"the {store.name}'s schema is current ({len(store.migrations)} "
               "migrations)")


def check_users_file(config: Settings) -> Iterator[Finding]:
    """The console users store's schema when it is a SQLite file (in PostgreSQL,
    :func:`check_shared_store` checks it with the other stores there): read-only, and
    nothing when there is no file yet (the console is optional; `congvu user add` makes
    it)."""
    users = config.users_store
    if users.url is not None or not users.path.exists():
        return
    where = "web.path"
    try:
        conn = sqlite3.connect(f"file:{quote(str(users.path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        yield _error(where, f"{users.path}: cannot open the console users store: {exc}",
                     "check the file's owner and mode (the user congvu runs as, 0600)")
        return
    try:
        with contextlib.closing(conn):
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            has_users = conn.execute("SELECT EXISTS (SELECT 1 FROM sqlite_master "
                                     "WHERE type = 'table' AND name = 'users')").fetchone()[0]
    except sqlite3.Error as exc:
        yield _error(where, f"{users.path}: cannot read the console users store: {exc}",
                     "restore it from a backup (`congvu restore`), or move it aside and "
                     "add the console's users again with `congvu user add`")
        return
    if not has_users:
        yield _error(where, f"{users.path}: not a console users store (no users table)",
                     "point [web] path at the users store, or move this file aside")
        return
    yield sqlite_schema_finding(where, str(users.path), version, users.sqlite_version)


def sqlite_schema_finding(where: str, path: str, version: int, current: int) -> Finding:
    """What a SQLite store's ``PRAGMA user_version`` says of its schema against the
    ``current`` one this release writes."""
    if version > current:
        return _error(where, f"{path}: the console users store's schema is newer than this "
                      f"release (version {version}; this congvu writes {current})",
                      "upgrade congvu on this server to the release that wrote it (or "
                      "restore the store from a backup this release made)")
    if version < current:
        return _warn(where, f"{path}: the console users store's schema needs migrating "
                     f"(version {version} of {current})",
                     "run `congvu user list` or restart `congvu web`: opening the store "
                     "migrates it")
    return _ok(where, f"{path}: the console users store's schema is current "
               f"(version {current})")


def clock_finding(where: str, url: str, *, before: float, database: float,
                  after: float) -> Finding:
    """This server's clock against the database server's: ``database`` (seconds since
    the epoch) was read between this server's ``before`` and ``after``."""
    offset = database - (before + after) / 2
    within = (after - before) / 2
    said = (f"this server's clock is {abs(offset):.3f} s "
            f"{'behind' if offset > 0 else 'ahead of'} the database server's "
            f"(±{within:.3f} s, read {datetime.fromtimestamp(after, UTC):%H:%M:%S} UTC)")
    if abs(offset) - within > CLOCK_WARN_SECONDS:
        return _warn(where, f"{url}: {said}: records' times (this server's) will "
                     "disagree with their order in the log (the database's)",
                     "synchronise both clocks with NTP (chrony or systemd-timesyncd) "
                     "from the same servers")
    return _ok(where, f"{url}: {said}")
