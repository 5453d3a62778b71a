"""Copy a directory archive into PostgreSQL (for ``congvu store migrate``).

Every object, part and prune ledger is copied as its file holds it: compressed, sealed
under the same key when it was encrypted (every server of the shared store then needs
that key file), its parts' header unchanged, so each message keeps its name and the
audit records naming it stay true. Its time is the file's mtime, so a prune treats a
copied message as it would have on disk. Each message is read back and checked on the
disk first: one that is missing a part, damaged or unreadable is copied all the same
(the copy keeps the evidence; ``archive verify`` names it) and reported.

Safe to re-run: what the database holds already is left as it is, so a copy cut short
is finished by running it again. Objects are copied a batch per transaction, each with
its parts, so the database never holds a message without the parts it names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from archive.errors import ArchiveError, ArchiveReadError
from archive.pgstore import WRITE, PgArchive, insert_raw
from archive.store import Archive
from mailbase.pgconn import ERRORS, PgConnection, explain

log = logging.getLogger("congvu.archive")

_BATCH = 64


@dataclass(slots=True)
class Copied:
    """What :func:`copy_to_postgresql` did."""

    #: objects the database did not hold and now does
    objects: int = 0
    #: objects it held already (an earlier run, or the same message stored there)
    present: int = 0
    ledgers: int = 0
    #: one line per message that did not read back on the disk (copied all the same)
    problems: list[str] = field(default_factory=list)


def copy_to_postgresql(source: Archive, target: PgArchive) -> Copied:
    """Copy every object, part and ledger of the directory archive ``source`` into the
    PostgreSQL archive ``target`` (made with ``create``), leaving what it holds.

    :raises ArchiveError: a file cannot be read or the database refused; what was
        committed before stays, and a new run goes on from there.
    """
    copied = Copied()
    batch: list[tuple[str, bytes, dict[str, bytes], float]] = []
    for sha256 in source.names():
        batch.append(_read(source, sha256, copied))
        if len(batch) == _BATCH:
            _commit(target, batch, copied)
            batch = []
    if batch:
        _commit(target, batch, copied)
    for name, data in source.ledgers():
        if isinstance(data, str):
            raise ArchiveError(f"archive {source.root}: cannot read ledger {name}: {data}")
        target.write_ledger(name, data)
        copied.ledgers += 1
    log.info("archive %s copied into %s: %d object(s) new, %d there already, %d ledger(s), "
             "%d problem(s)", source.root, target.where, copied.objects, copied.present,
             copied.ledgers, len(copied.problems))
    return copied


def _read(source: Archive, sha256: str, copied: Copied
          ) -> tuple[str, bytes, dict[str, bytes], float]:
    """One object's file, its parts' files (those there) and its mtime.

    :raises ArchiveError: a file there cannot be read.
    """
    path = source.path_of(sha256)
    try:
        source.get(sha256)
    except ArchiveReadError as exc:
        copied.problems.append(f"{sha256}: {exc.problem}: {exc}")
    try:
        raw = path.read_bytes()
        at = path.stat().st_mtime
        parts: dict[str, bytes] = {}
        for part in source.files_of(sha256)[1:]:
            if part.exists():
                parts[part.name.split(".", 1)[0]] = part.read_bytes()
    except OSError as exc:
        raise ArchiveError(f"archive {source.root}: cannot read {path} to copy it: "
                           f"{exc.strerror or exc}") from exc
    return sha256, raw, parts, at


def _commit(target: PgArchive, batch: list[tuple[str, bytes, dict[str, bytes], float]],
            copied: Copied) -> None:
    def insert(conn: PgConnection) -> int:
        conn.execute(WRITE)
        new = sum(insert_raw(conn, sha256, raw, parts, at) for sha256, raw, parts, at in batch)
        conn.execute("COMMIT")
        return new

    try:
        new = target.connections.run(insert)
    except ERRORS as exc:
        raise ArchiveError(f"archive {target.where}: could not copy into it: "
                           f"{explain(exc)}") from exc
    copied.objects += new
    copied.present += len(batch) - new
