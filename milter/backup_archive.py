"""The archive in ``congvu backup``: the messages the backup's audit snapshot names.

Archived messages are content-addressed and never change, so a backup holds exactly
those the audit snapshot's records name (with the log in PostgreSQL and the archive in
files, those its records name when the backup reads them; a message archived after the
snapshot waits for the next backup; one retention removed is skipped), with the prune
ledgers. Given the previous backup (``--previous DIR``), a message it holds is
hard-linked from there instead of copied: a second backup copies only what is new.
``archive/OBJECTS`` lists the names, and its SHA-256 is in the signed manifest; each
object proves itself by its name (``congvu archive verify`` after a restore).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from archive import Archive
from audit import AuditConfig, AuditError, AuditLog
from milter.errors import MilterError
from milter.settings import Settings

LIST = "archive/OBJECTS"


def backup_archive(config: Settings, out: Path, previous: Path | None) -> dict[str, Any]:
    """Copy (or link from ``previous``) the archived messages ``out``'s audit snapshot
    names, and the prune ledgers; return the manifest's ``archive`` entry.

    :raises MilterError: the snapshot cannot be read or an object cannot be copied.
    """
    snapshot = out / "audit.sqlite3"
    root = config.archive.path
    entry: dict[str, Any] = {"objects": 0, "copied": 0, "linked": 0, "ledgers": []}
    if config.archive.url is not None or not root.is_dir():
        return entry
    records = config.audit if config.audit.url is not None else snapshot
    if not isinstance(records, AuditConfig) and not snapshot.is_file():
        return entry
    try:
        with AuditLog.open_readonly(records) as log:
            names = sorted({r.sha256 for r in log.archived() if r.sha256 is not None})
    except AuditError as exc:
        raise MilterError(f"cannot read the archived messages' records: {exc}") from exc
    where = Archive(root)
    listed: list[str] = []
    copied: set[Path] = set()  # a large part several messages share is copied once
    for sha256 in names:
        try:
            files = where.files_of(sha256)  # the message, then its large parts
        except OSError as exc:
            raise MilterError(f"cannot read archived message {sha256}: "
                              f"{exc.strerror or exc}") from exc
        if not files:
            continue  # removed by retention: its ledger is copied below
        for number, path in enumerate(files):
            relative = path.relative_to(root)
            if relative in copied:
                continue
            copied.add(relative)
            how = _copy(root, out, previous, relative)
            if number == 0:
                entry[how] += 1
        listed.append(sha256)
    for ledger in sorted((root / "pruned").glob("*.json")):
        (out / "archive" / "pruned").mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy2(ledger, out / "archive" / "pruned" / ledger.name)
        entry["ledgers"].append(ledger.name)
    text = "".join(f"{name}\n" for name in listed).encode()
    (out / LIST).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    (out / LIST).write_bytes(text)
    entry.update(objects=len(listed), list=LIST, list_sha256=hashlib.sha256(text).hexdigest())
    return entry


def _copy(root: Path, out: Path, previous: Path | None, relative: Path) -> str:
    """Link ``relative`` from the previous backup, or copy it; say which.

    :raises MilterError: it cannot be copied.
    """
    target = out / "archive" / relative
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if previous is not None and _link(previous / "archive" / relative, target):
        return "linked"
    try:
        shutil.copy2(root / relative, target)
    except OSError as exc:
        raise MilterError(f"cannot copy archived message {root / relative}: "
                          f"{exc.strerror or exc}") from exc
    return "copied"


def _link(old: Path, target: Path) -> bool:
    """Hard-link the previous backup's copy; False when it has none or cannot be linked
    (another file system): then it is copied."""
    if not old.is_file():
        return False
    try:
        os.link(old, target)
    except OSError:
        return False
    return True


def restore_archive(config: Settings, source: Path, entry: dict[str, Any] | None) -> list[str]:
    """Put the backup's archived messages and ledgers back under the configured archive
    (a message already there is kept: it is the same message).

    :raises MilterError: the list does not match its SHA-256 in the manifest.
    """
    if not entry or not entry.get("objects"):
        return []
    text = (source / LIST).read_bytes()
    if hashlib.sha256(text).hexdigest() != entry["list_sha256"]:
        raise MilterError(f"{source / LIST} does not match its SHA-256 in the manifest; "
                          "the backup is damaged")
    root = config.archive.path
    Archive.open(root)  # its directories, 0700
    restored = 0
    kept = Archive(source / "archive")
    for sha256 in text.decode().split():
        for number, path in enumerate(kept.files_of(sha256)):
            relative = path.relative_to(kept.root)
            if not (root / relative).exists():
                (root / relative).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                shutil.copy2(path, root / relative)
                if number == 0:
                    restored += 1
    for name in entry.get("ledgers", []):
        (root / "pruned").mkdir(exist_ok=True, mode=0o700)
        if not (root / "pruned" / name).exists():
            shutil.copy2(source / "archive" / "pruned" / name, root / "pruned" / name)
    said = [f"restored {restored} archived messages ({entry['objects']} in the backup)"]
    if config.archive.is_indexed:
        # not in backups: it is made from the messages, and would be a full copy each
        # time (one file that changes) holding their words in clear
        said.append("the archive's text index is not in backups: run `congvu archive "
                    "index rebuild` as the filter's user; until then the console's search "
                    "counts these messages as not in the text index")
    return said
