"""``congvu backup DIR`` and ``congvu restore DIR``: consistent copies of every store.

Each SQLite store (directory, audit, quarantine index, web users) is copied online
with SQLite's backup API (``sqlite3.Connection.backup``), which gives a consistent
snapshot while the filter keeps writing. The quarantine's message files are copied
after its index snapshot, exactly those the snapshot names (they are content-addressed
and written before their index row, so every one exists). ``MANIFEST.json`` lists what
was copied, with SHA-256 sums, and the private key files an administrator must keep
separately: keys are never copied unless asked (``--include-keys``), because a backup
usually travels further than the server it came from.

``MANIFEST.sig`` is the audit checkpoint key's signature over MANIFEST.json: whoever
edits a backup (its audit store re-chained, the manifest's sums recomputed) cannot
re-sign it without that key. ``restore`` checks it against the keys this host trusts
(``[audit] checkpoint_public_keys``, else its own checkpoint key) before copying
anything, and refuses an unsigned or badly signed backup unless
``--accept-unsigned`` (backups made before congvu signed them).

``restore`` copies the stores back to the paths the *configuration* names (so a backup
can be restored into a new data directory), refuses to overwrite existing stores
without ``--force``, and verifies the audit chain afterwards.

Stores the configuration puts in PostgreSQL (``[store] url``, or a table's own ``url``)
are not in the backup: one server's copy of a database several servers write would be
neither whole nor consistent with the others'. PostgreSQL's own tools back them up
(``pg_dump`` for a consistent snapshot of the database, ``pg_basebackup`` with WAL
archiving for the cluster and point-in-time recovery). The manifest names each such store
and its URL under ``postgresql``; ``backup`` and ``restore`` say so, and say what the
backup does hold: the keys (listed, or copied with ``--include-keys``), the stores that
stay files, and the files under the data directory (DKIM rotation state, document
evidence, quarantined messages and archived messages when they are files).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from archive import retired_key_paths
from audit import (
    AuditError,
    AuditLog,
    KeyFileError,
    KeyTrust,
    check_signature,
    sign_file_bytes,
)
from mailbase import private_dir, write_private_durably
from milter.backup_archive import backup_archive, restore_archive
from milter.errors import MilterError
from milter.settings import Settings

MANIFEST = "MANIFEST.json"
SIGNATURE = "MANIFEST.sig"
EVIDENCE = "document-evidence"
ROTATED = "DKIM key made by `congvu dkim rotate`:"
RETIRED_ARCHIVE_KEY = "archive encryption key retired by `congvu archive key rotate`:"
FORMAT = 1


class BackupError(MilterError):
    """The backup or restore could not be done (the command exits 1)."""


@dataclass(frozen=True, slots=True)
class Store:
    """One SQLite store: its name in the manifest, its file, and whether it must exist."""

    name: str
    path: Path


def stores(config: Settings) -> list[Store]:
    """Every SQLite store the configuration names (the web users store is optional);
    not those it puts in PostgreSQL (:func:`database_stores`)."""
    found = [Store("directory", config.directory.path),
             Store("audit", config.audit.path),
             Store("quarantine", config.policies.quarantine.path / "index.sqlite3"),
             Store("web-users", config.users_store.path)]
    elsewhere = {store.name for store in database_stores(config)}
    return [store for store in found if store.name not in elsewhere]


@dataclass(frozen=True, slots=True)
class DatabaseStore:
    """A store the configuration puts in PostgreSQL: its name in the manifest, what it
    is, and the URL of its database (never with a password in it)."""

    name: str
    what: str
    url: str


def database_stores(config: Settings) -> list[DatabaseStore]:
    """The stores in PostgreSQL, which this backup does not hold."""
    named = [("directory", "the directory (units, history, roster)", config.directory.url),
             ("audit", "the audit log", config.audit.url),
             ("archive", "the archive of relayed messages", config.archive.url),
             ("quarantine", "the quarantine (index and held messages)",
              config.policies.quarantine.url),
             ("dkim-rotation", "the DKIM key rotation state", config.signer.dkim.url),
             ("web-users", "the console's users, grants and sessions",
              config.users_store.url)]
    return [DatabaseStore(name, what, url) for name, what, url in named if url is not None]


def postgresql_advice(urls: list[str]) -> str:
    """How to back up the databases at ``urls`` with PostgreSQL's own tools."""
    dumps = "; ".join(f"pg_dump -Fc -f congvu-{n}.dump '{url}'"
                      for n, url in enumerate(dict.fromkeys(urls), start=1))
    return (f"back them up with PostgreSQL's tools: {dumps} (one consistent snapshot of "
            "each database), or pg_basebackup with WAL archiving for the whole cluster and "
            "point-in-time recovery (deploy/README.md); keep that with this backup")


def state_files(config: Settings) -> list[tuple[str, Path]]:
    """State kept in plain files (not secret): the DKIM key rotation state."""
    return [("dkim-rotation", config.signer.dkim.state_file)]


def key_files(config: Settings) -> Iterator[tuple[str, Path]]:
    """Every private key (or secret) file the setup needs, with what it is for."""
    for entry in config.signer.dkim.keys:
        yield f"DKIM key {entry.selector}._domainkey.{entry.domain}", entry.key_file
    if config.signer.dkim.key_dir.is_dir():
        for path in sorted(config.signer.dkim.key_dir.iterdir()):
            yield f"{ROTATED} {path.name}", path
    for identity in config.signer.smime.identities:
        for name in ("key", "pkcs12", "passphrase_file"):
            path = getattr(identity, name)
            if path is not None:
                yield f"S/MIME {name} for {identity.selector}", path
    yield "audit checkpoint signing key", config.audit.keys_dir / "audit-checkpoint.key"
    yield "web console cookie key", config.data_dir / "keys" / "web-cookie.key"
    yield "archive encryption key", config.archive.key_file
    for path in retired_key_paths(config.archive.key_file):
        yield f"{RETIRED_ARCHIVE_KEY} {path.name}", path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_database(source: Path, target: Path) -> None:
    """Copy one SQLite database with the online backup API into a new file ``target``."""
    src = sqlite3.connect(source)
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        tmp = target.with_name(target.name + ".part")
        tmp.unlink(missing_ok=True)
        dst = sqlite3.connect(tmp)
        try:
            # One step: a single read transaction, hence one consistent snapshot. In
            # WAL mode (every congvu store) it does not block writers; copying in
            # several steps would restart whenever a writer commits, possibly forever.
            src.backup(dst)
            # A standalone file: no WAL beside it to lose in transit.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    finally:
        src.close()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def backup(config: Settings, out: Path, *, include_keys: bool = False,
           now: dt.datetime | None = None, previous: Path | None = None) -> dict[str, Any]:
    """Write a backup of every store into the new or empty directory ``out``; archived
    messages ``previous`` (an earlier backup) holds are linked from it, not copied.

    :returns: the manifest written to ``out/MANIFEST.json``.
    :raises BackupError: ``out`` is not empty, or a store cannot be read.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty directory; back up into a new one")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    manifest: dict[str, Any] = {
        "format": FORMAT, "created": (now or dt.datetime.now(dt.UTC)).isoformat(),
        "congvu": metadata.version("congvu-mail"), "data_dir": str(config.data_dir),
        "stores": [], "quarantine_objects": [], "keys": [],
        "postgresql": [{"name": s.name, "what": s.what, "url": s.url}
                       for s in database_stores(config)],
    }
    for store in stores(config):
        if not store.path.is_file():
            continue
        target = out / f"{store.name}.sqlite3"
        try:
            copy_database(store.path, target)
        except sqlite3.Error as exc:
            raise BackupError(f"cannot copy the {store.name} store {store.path}: {exc}") from exc
        manifest["stores"].append({"name": store.name, "source": str(store.path),
                                   "file": target.name, "sha256": _sha256(target),
                                   "size": target.stat().st_size})
    manifest["quarantine_objects"] = _backup_objects(config, out)
    manifest["document_evidence"] = _backup_evidence(config, out)
    try:
        manifest["archive"] = backup_archive(config, out, previous)
    except MilterError as exc:
        raise BackupError(str(exc)) from exc
    manifest["files"] = []
    for name, path in state_files(config):
        if path.is_file():
            _write_private(out / f"{name}.state", path.read_bytes())
            manifest["files"].append({"name": name, "source": str(path),
                                      "file": f"{name}.state"})
    for what, path in key_files(config):
        entry: dict[str, Any] = {"what": what, "path": str(path), "exists": path.is_file()}
        if include_keys and path.is_file():
            keys = out / "keys"
            keys.mkdir(exist_ok=True, mode=0o700)
            name = f"{len(manifest['keys']):02d}-{path.name}"
            _write_private(keys / name, path.read_bytes())
            entry["file"] = f"keys/{name}"
        manifest["keys"].append(entry)
    text = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        signature = sign_file_bytes(config.audit.keys_dir, text)
    except KeyFileError as exc:
        raise BackupError(f"cannot sign {MANIFEST}: {exc}") from exc
    _write_private(out / MANIFEST, text)
    _write_private(out / SIGNATURE, signature.encode("utf-8"))
    return manifest


def _backup_objects(config: Settings, out: Path) -> list[str]:
    """Copy the message files the quarantine index snapshot names; their relative paths."""
    snapshot = out / "quarantine.sqlite3"
    if not snapshot.is_file():
        return []
    root = config.policies.quarantine.path
    db = sqlite3.connect(f"file:{snapshot.resolve()}?mode=ro", uri=True)
    try:
        hashes = sorted({row[0] for row in db.execute("SELECT sha256 FROM held")})
    finally:
        db.close()
    copied = []
    for sha256 in hashes:
        relative = Path("objects") / sha256[:2] / f"{sha256}.eml.gz"
        target = out / "quarantine" / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            shutil.copy2(root / relative, target)
        except FileNotFoundError:
            continue  # deleted or expired after the snapshot: the restored index names it
        copied.append(str(relative))
    return copied


def _evidence_dir(config: Settings) -> Path:
    return config.signer.documents.store_dir / "evidence"


def _backup_evidence(config: Settings, out: Path) -> list[str]:
    """Copy the revocation evidence document verdicts rest on (CRLs, OCSP answers,
    issuer certificates, each named by its SHA-256); the names copied."""
    source = _evidence_dir(config)
    if not source.is_dir():
        return []
    target = out / EVIDENCE
    copied = []
    for path in sorted(source.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue  # a file still being written aside
        target.mkdir(exist_ok=True, mode=0o700)
        shutil.copy2(path, target / path.name)
        copied.append(path.name)
    return copied


def _restore_evidence(config: Settings, source: Path, names: list[str]) -> Iterator[str]:
    """Put the evidence back; a file is written once (content-addressed), and one whose
    bytes no longer match the SHA-256 in its name is refused."""
    target = _evidence_dir(config)
    restored = 0
    for name in names:
        data = (source / EVIDENCE / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != name.partition(".")[0]:
            raise BackupError(f"the backup's document evidence {name} does not match its "
                              "SHA-256: the backup is damaged")
        if (target / name).exists():
            continue
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(target / name, data)
        restored += 1
    if names:
        yield (f"restored {restored} document evidence files to {target} "
               f"({len(names) - restored} already there)")


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of the backup in ``source``, checked against the files beside it.

    :raises BackupError: no manifest, an unknown format, or a file that does not match.
    """
    try:
        manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source} is not a congvu backup: cannot read {MANIFEST} "
                          f"({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source / MANIFEST}: unknown backup format "
                          f"{manifest.get('format')!r} (this congvu reads {FORMAT})")
    for store in manifest["stores"]:
        path = source / store["file"]
        if not path.is_file() or _sha256(path) != store["sha256"]:
            raise BackupError(f"{path} is missing or does not match its SHA-256 in {MANIFEST}; "
                              "the backup is damaged")
    return manifest


def _trusted_keys(config: Settings, source: Path) -> tuple[dict[str, str], str]:
    """The keys that may sign this backup: this host's trusted keys, and the keys the
    backup's own audit store enrols under their checkpoints (a rotation)."""
    try:
        trust = config.audit.key_trust()
    except AuditError as exc:
        raise BackupError(f"cannot check {SIGNATURE}: {exc}") from exc
    keys = dict(trust.roots)
    snapshot = source / "audit.sqlite3"
    if trust.roots and snapshot.is_file():
        try:
            with AuditLog.open_readonly(snapshot, trust=trust) as log:
                keys.update(log.accepted_keys(trust))
        except AuditError:
            pass  # an old or damaged snapshot: the roots alone decide, verify says the rest
    return keys, trust.describe_roots()


def check_manifest_signature(config: Settings, source: Path, *,
                             accept_unsigned: bool = False) -> str:
    """Check MANIFEST.sig against the keys this host trusts; return what was found.

    :raises BackupError: unsigned, badly signed, or signed by a key this host does not
        trust, and not ``accept_unsigned``.
    """
    signature = source / SIGNATURE
    anyway = "restoring anyway because of --accept-unsigned"
    if not signature.is_file():
        problem = f"{SIGNATURE} is missing: the backup is unsigned"
    else:
        try:
            key = check_signature(signature.read_text("utf-8"),
                                  (source / MANIFEST).read_bytes())
        except (OSError, ValueError) as exc:
            problem = f"{SIGNATURE} does not verify: {exc}"
        else:
            trusted, roots = _trusted_keys(config, source)
            if key in trusted:
                return f"{SIGNATURE}: signed by {key} ({trusted[key]})"
            problem = (f"{SIGNATURE} is signed by {key}, which this host does not trust "
                       f"(trusted: {roots})")
    if accept_unsigned:
        return f"{problem}; {anyway}"
    raise BackupError(
        f"{problem}. A backup someone edited would look like this. If it was made before "
        "congvu signed backups, restore it with --accept-unsigned; if it is signed by your "
        "checkpoint key, put that key in place (or pin it in [audit] "
        "checkpoint_public_keys) and restore again")


def restore(config: Settings, source: Path, *, force: bool = False,
            accept_unsigned: bool = False) -> list[str]:
    """Copy the backup in ``source`` back to the configured store paths.

    :returns: one line per restored item, the signature check first.
    :raises BackupError: a store exists (without ``force``), the backup is damaged, or
        its manifest is unsigned or badly signed (without ``accept_unsigned``).
    """
    manifest = read_manifest(source)
    signed = check_manifest_signature(config, source, accept_unsigned=accept_unsigned)
    targets = {store.name: store.path for store in stores(config)}
    elsewhere = {store.name: store.url for store in database_stores(config)}
    for store in manifest["stores"]:
        if store["name"] in elsewhere:
            raise BackupError(
                f"the backup holds the {store['name']} store as a SQLite file, and this "
                f"configuration puts it in PostgreSQL ({elsewhere[store['name']]}): restore "
                "into a configuration without [store] url, then copy the stores into "
                "PostgreSQL with `congvu store migrate`")
    unknown = [s["name"] for s in manifest["stores"] if s["name"] not in targets]
    if unknown:
        raise BackupError(f"the backup holds stores this congvu does not know: {unknown}")
    existing = [str(targets[s["name"]]) for s in manifest["stores"]
                if targets[s["name"]].exists()]
    if existing and not force:
        raise BackupError("these stores exist and would be overwritten: "
                          f"{', '.join(existing)}; stop the filter and use --force, or "
                          "restore into an empty data directory")
    done = [signed]
    for store in manifest.get("postgresql", []):
        done.append(f"not in this backup: {store['what']}, in PostgreSQL ({store['url']}): "
                    "restore that database with pg_restore, or from its base backup")
    for store in manifest["stores"]:
        target = targets[store["name"]]
        private_dir(target.parent, tighten=False)
        for suffix in ("-wal", "-shm"):
            target.with_name(target.name + suffix).unlink(missing_ok=True)
        copy_database(source / store["file"], target)
        done.append(f"restored the {store['name']} store to {target}")
    targets_files = dict(state_files(config))
    for item in manifest.get("files", []):
        path = targets_files.get(item["name"])
        if path is None:
            continue
        if path.exists() and not force:
            done.append(f"kept the existing {item['name']} state: {path}")
            continue
        private_dir(path.parent, tighten=False)
        write_private_durably(path, (source / item["file"]).read_bytes())
        done.append(f"restored the {item['name']} state to {path}")
    objects = config.policies.quarantine.path
    for relative in manifest["quarantine_objects"]:
        private_dir((objects / relative).parent)
        write_private_durably(objects / relative,
                              (source / "quarantine" / relative).read_bytes())
    if manifest["quarantine_objects"]:
        done.append(f"restored {len(manifest['quarantine_objects'])} quarantined messages")
    done.extend(_restore_evidence(config, source, manifest.get("document_evidence", [])))
    done.extend(_restore_keys(config, manifest, source, force=force))
    try:
        done.extend(restore_archive(config, source, manifest.get("archive")))
    except MilterError as exc:
        raise BackupError(str(exc)) from exc
    return done


def _restore_keys(config: Settings, manifest: dict[str, Any], source: Path, *,
                  force: bool) -> Iterator[str]:
    """Put each key back where this configuration expects it (not where it was)."""
    targets = dict(key_files(config))
    for key in manifest["keys"]:
        what = key["what"]
        path = targets.get(what)
        if path is None and what.startswith(ROTATED):
            path = config.signer.dkim.key_dir / what.removeprefix(ROTATED).strip()
        if path is None and what.startswith(RETIRED_ARCHIVE_KEY):
            path = (config.archive.key_file.parent
                    / what.removeprefix(RETIRED_ARCHIVE_KEY).strip())
        if path is None:
            if "file" in key:
                yield f"not restored (this configuration has no such key): {what}"
            continue
        if "file" not in key:
            if key["exists"] and not path.exists():
                yield f"NOT in the backup, restore it yourself: {what}: {path}"
            continue
        if path.exists() and not force:
            yield f"kept the existing {key['what']}: {path}"
            continue
        private_dir(path.parent, tighten=False)
        # replaced whole: never a moment without the key, nor half a key after a crash
        write_private_durably(path, (source / key["file"]).read_bytes())
        yield f"restored {key['what']} to {path}"


def verify_audit(config: Settings) -> str:
    """Walk the restored audit chain.

    :raises BackupError: the chain is broken or the store unreadable.
    """
    try:
        trust: KeyTrust = config.audit.key_trust()
        with AuditLog.open_readonly(config.audit, trust=trust) as log:
            report = log.verify()
    except AuditError as exc:
        raise BackupError(f"the restored audit store cannot be verified: {exc}") from exc
    if not report.is_intact:
        raise BackupError(f"the restored audit chain is NOT intact: {report.describe()}")
    return report.describe()
