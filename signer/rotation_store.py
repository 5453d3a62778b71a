"""Where the DKIM rotation state lives: the JSON file, or PostgreSQL for several servers.

``[signer.dkim] url`` (or ``[store] url``) keeps the state (signer/dkim_rotation.py) in a
PostgreSQL table (signer/pgschema.py), so every server sharing it signs with the same
selectors on the same schedule; the key files stay files, which deployment copies to the
same path on every server.

When it is read: at start and on SIGHUP (:func:`load_rotation`, from
``DkimSigner.from_config``), never per message, on both backends. Signing then never
waits for the database and an outage never changes which key signs; the state changes
only by ``congvu dkim rotate`` and ``check``, a few times a year, which say to reload
the filter on every server; and a key's file is loaded and checked once, at that reload,
so a server lacking the file refuses the reload (naming it) and keeps signing with the
keys it had, rather than finding out on a message. A cache refreshed every minute would
put a database read, and a key file's first read, on some message's path, for a change
that is announced anyway.

Each successful read from PostgreSQL is also written to ``state_file``, this server's
copy (by the user whose directory it is in: not by root's ``config check``); a start or
reload that cannot reach the database uses that copy, with a warning, so mail keeps
being signed as it was. With no copy it fails, as an unreadable file does; an unusable
password file is a configuration error, said whatever the copy.

Changes (:func:`editing_rotation`) happen in one transaction holding the advisory lock
:data:`~signer.pgschema.ROTATION_LOCK`: the state is read, changed by the verbs and
written back whole, so two servers rotating at once do not overwrite each other.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mailbase.pgconn import (
    ERRORS,
    PgConnection,
    connect,
    explain,
    migrate_schema,
    read_password,
    schema_is_current,
)
from signer.config import DkimConfig
from signer.dkim_rotation import KeyState, RotatedKey, RotationState, RotationStateError
from signer.pgschema import MIGRATIONS, ROTATION_LOCK, SCHEMA

log = logging.getLogger("congvu.signer")

_COLUMNS = "domain, selector, algorithm, key_file, state, created, activated, retire_at"


def _key(row: Sequence[Any], url: str) -> RotatedKey:
    domain, selector, algorithm, key_file, state, created, activated, retire_at = row
    try:
        return RotatedKey(domain, selector, algorithm, key_file, KeyState(state), created,
                          activated, retire_at)
    except ValueError as exc:
        raise RotationStateError(f"DKIM rotation state {url}: selector {selector} of "
                                 f"{domain}: {exc}") from exc


def _password(config: DkimConfig) -> str | None:
    try:
        return read_password(config.password_file)
    except ValueError as exc:
        raise RotationStateError(f"DKIM rotation state {config.url}: {exc}") from exc


@contextlib.contextmanager
def _connection(config: DkimConfig, password: str | None, doing: str, *,
                readonly: bool) -> Iterator[PgConnection]:
    """A connection of its own to ``config.url``; database errors become
    :class:`RotationStateError` saying what was being done."""
    assert config.url is not None
    url = config.url
    try:
        conn = connect(url, password, readonly=readonly, schema=SCHEMA)
        try:
            yield conn
        finally:
            conn.close()
    except ERRORS as exc:
        raise RotationStateError(f"DKIM rotation state {url}: cannot {doing}: "
                                 f"{explain(exc)}") from exc


def _read(conn: PgConnection, url: str) -> list[RotatedKey]:
    return [_key(row, url) for row in conn.execute(
        f"SELECT {_COLUMNS} FROM rotated_keys ORDER BY position").fetchall()]


def read_shared(config: DkimConfig, password: str | None = None) -> list[RotatedKey]:
    """The rotated keys in ``config.url``, oldest first (none before the first rotation);
    ``password``: read from ``config.password_file`` when not given.

    :raises RotationStateError: the password file is unusable, or the database cannot be
        reached or read.
    """
    assert config.url is not None, "the shared rotation state needs url"
    if password is None:
        password = _password(config)
    with _connection(config, password, "read it", readonly=True) as conn:
        if not schema_is_current(conn, SCHEMA, MIGRATIONS):
            return []  # nobody has rotated yet: the commands create the table
        return _read(conn, config.url)


def _payload(keys: list[RotatedKey]) -> bytes:
    state = RotationState(Path(), keys)
    return json.dumps(state.as_json(), indent=2).encode("utf-8")


def load_rotation(config: DkimConfig) -> RotationState:
    """The state the signer starts or reloads with (see the module's docstring).

    :raises RotationStateError: the file is unreadable or malformed; or, with url, the
        password file is unusable (a configuration error, which the copy never covers),
        or the database cannot be read and this server has no copy of the state.
    """
    if config.url is None:
        return RotationState.load(config.state_file)
    copy = config.state_file
    password = _password(config)
    try:
        keys = read_shared(config, password)
    except RotationStateError as exc:
        if not copy.exists():
            raise
        log.warning("DKIM rotation state: %s; signing with this server's copy %s", exc, copy)
        return RotationState.load(copy)
    state = RotationState(copy, keys)
    if _is_ours(copy.parent):
        try:
            if not copy.exists() or copy.read_bytes() != _payload(keys):
                state.save()
        except OSError as exc:  # the copy only matters when the database is down
            log.warning("DKIM rotation state: cannot write this server's copy %s: %s",
                        copy, exc)
    return state


def _is_ours(directory: Path) -> bool:
    """Whether the copy's directory is the running user's (or not made yet): `config
    check` or `doctor` run by root reads the state too, and must not leave the service a
    copy it cannot read or replace."""
    try:
        return directory.stat().st_uid == os.geteuid()
    except FileNotFoundError:
        return True


@contextlib.contextmanager
def editing_rotation(config: DkimConfig) -> Iterator[RotationState]:
    """The state for the ``congvu dkim`` commands to change with the verbs; written back
    when the block ends without an error, and only if it changed.

    :raises RotationStateError: the state cannot be read or written.
    """
    if config.url is None:
        state = RotationState.load(config.state_file)
        before = list(state.keys)
        yield state
        if state.keys != before:
            try:
                state.save()
            except OSError as exc:
                raise RotationStateError(f"DKIM rotation state {state.path}: cannot write "
                                         f"it: {exc.strerror or exc}") from exc
        return
    url = config.url
    with _connection(config, _password(config), "change it", readonly=False) as conn:
        if not schema_is_current(conn, SCHEMA, MIGRATIONS):
            migrate_schema(conn, SCHEMA, ROTATION_LOCK, MIGRATIONS)
        conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        try:
            conn.execute("SELECT pg_advisory_xact_lock(?)", (ROTATION_LOCK,))
            state = RotationState(config.state_file, _read(conn, url))
            before = list(state.keys)
            yield state
            if state.keys != before:
                conn.execute("DELETE FROM rotated_keys")
                conn.executemany(
                    f"INSERT INTO rotated_keys (position, {_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(n, k.domain, k.selector, k.algorithm, k.key_file, k.state.value,
                      k.created, k.activated, k.retire_at)
                     for n, k in enumerate(state.keys, start=1)])
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise


def copy_rotation(state_file: Path, target: DkimConfig) -> int:
    """Copy the rotation state file ``state_file`` (as a single server kept it) into the
    empty shared state ``target.url``; how many keys.

    :raises RotationStateError: the file is unreadable, the shared state already holds
        keys (a copy goes into an empty store only), or the database fails.
    """
    source = RotationState.load(state_file)
    with editing_rotation(target) as state:
        if state.keys:
            raise RotationStateError(f"DKIM rotation state {target.url} already holds "
                                     f"{len(state.keys)} keys: a copy goes into an empty "
                                     "store only")
        state.keys = list(source.keys)
    return len(source.keys)
