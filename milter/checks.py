"""What ``config check`` and ``serve`` verify locally before any mail is taken:
directories, keys, certificates and stores; and what ``config check`` and ``doctor``
warn about without refusing the file (a listener that takes inbound mail unguarded).

DNS and remote problems are ``doctor``'s warnings, never reasons to refuse mail.
``serve`` also creates and migrates the stores here, once, in the parent process:
workers forked afterwards only open them (two workers migrating one new SQLite file
at once would lock each other out). A store that cannot be opened because its disk is
full is told apart (``LocalProblem.is_out_of_space``): ``serve`` then waits for space
instead of exiting (milter/spacewait.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archive import Archive, ArchiveError
from audit import AuditError, AuditLog
from directory import Directory, DirectoryError
from milter.config import NextHopKind, QueuePosition, Role
from milter.outofspace import is_out_of_space
from milter.settings import Settings
from policies import PolicyError, Quarantine, open_quarantine
from signer import (
    AuthChecker,
    DkimSigner,
    DkimVerifier,
    DocumentVerifier,
    SignerError,
    SmimeSigner,
    SmimeVerifier,
)


def _writable_dir(path: Path, what: str) -> str | None:
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"{what}: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{what}: {existing} is not writable by this user"
    return None


@dataclass(frozen=True, slots=True)
class LocalProblem:
    """One reason the service cannot start ("key.path: reason"), and whether it is a
    full disk, which ``serve`` waits out (milter/outofspace.py)."""

    text: str
    is_out_of_space: bool = False

    def __str__(self) -> str:
        return self.text


def _attempt(problems: list[LocalProblem], where: str, action: Callable[[], object], *,
             path: Path | None = None, room: int = 0) -> None:
    try:
        action()
    except (SignerError, AuditError, DirectoryError, PolicyError, ArchiveError,
            OSError) as exc:
        problems.append(LocalProblem(f"{where}: {exc}", is_out_of_space(exc, path, room)))


def _open_stores(config: Settings, problems: list[LocalProblem], *, create: bool) -> None:
    def directory_store() -> None:
        if create:
            Directory.open(config.directory).close()
        elif config.directory.url is not None:
            config.directory.password()  # the database is reached by serve, not by a check
        elif config.directory.path.exists():
            Directory.open(config.directory.path, read_only=True).close()

    def quarantine_store() -> None:
        quarantine = config.policies.quarantine
        if create:
            store = open_quarantine(quarantine)
            try:
                store.prepare()
            finally:
                store.close()
        elif quarantine.url is not None:
            open_quarantine(quarantine).close()  # its password file; the database is serve's
        elif quarantine.path.exists():
            Quarantine(quarantine.path).close()

    def audit_store() -> None:
        if create:
            AuditLog.open(config.audit).close()
        elif config.audit.url is not None:
            config.audit.password()  # the database is reached by serve, not by a check
        elif config.audit.path.exists():
            AuditLog.open_readonly(config.audit.path).close()

    def archive_store() -> None:
        if create:
            Archive.from_config(config.archive, create=True)
        elif (problem := _writable_dir(config.archive.path, "the archive")) is not None:
            raise OSError(problem)

    room = config.limits.max_message_size
    _attempt(problems, "directory.url" if config.directory.url else "directory.path",
             directory_store, path=None if config.directory.url else config.directory.path,
             room=room)
    if config.archive.enabled:
        _attempt(problems, "archive.path", archive_store, path=config.archive.path, room=room)
    quarantine = config.policies.quarantine
    _attempt(problems, "policies.quarantine.url" if quarantine.url
             else "policies.quarantine.path", quarantine_store,
             path=None if quarantine.url else quarantine.path, room=room)
    if config.pipeline.audit:
        _attempt(problems, "audit.url" if config.audit.url else "audit.path", audit_store,
                 path=None if config.audit.url else config.audit.path, room=room)


def check_locally(config: Settings, *, create: bool = False) -> list[str]:
    """Every local problem with its key path; empty when the service can start.

    With ``create`` the stores are created and migrated (``serve``); without, only
    existing stores are opened (``config check`` changes nothing).
    """
    return [str(problem) for problem in local_problems(config, create=create)]


def local_problems(config: Settings, *, create: bool = False) -> list[LocalProblem]:
    """:func:`check_locally`'s problems, each saying whether it is a full disk."""
    problems: list[LocalProblem] = []
    directories = [(config.data_dir, "service.data_dir")]
    if config.next_hop.kind is NextHopKind.MAILDIR:
        directories.append((config.next_hop.maildir, "next_hop.maildir"))
    for path, what in directories:
        problem = _writable_dir(path, what)
        if problem:
            problems.append(LocalProblem(problem))
    if problems:
        return problems
    dkim, smime = config.signer.dkim, config.signer.smime
    _attempt(problems, "signer.dkim", lambda: DkimSigner.from_config(dkim))
    _attempt(problems, "signer.dkim", lambda: DkimVerifier.from_config(dkim))
    _attempt(problems, "signer.smime", lambda: SmimeSigner.from_config(smime))
    _attempt(problems, "signer.smime", lambda: SmimeVerifier.from_config(smime))
    _attempt(problems, "signer.documents",
             lambda: DocumentVerifier.from_config(config.signer.documents, smime))
    _attempt(problems, "signer.auth", lambda: AuthChecker.from_config(config.signer))
    if create:
        try:
            config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:  # the stores would only say it again, each
            return [*problems, LocalProblem(f"service.data_dir: {exc}",
                                            is_out_of_space(exc, None, 0))]
    _open_stores(config, problems, create=create)
    return problems



#: The own-domain spoof guard: the dmarc stage refuses a forged provincial From, and it
#: acts only on what the verify stage found, for the sender the units stage read.
SPOOF_GUARD_STAGES = ("units", "verify", "dmarc")


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """A valid setting that leaves mail less protected: where, what, and the fix."""

    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}; fix: {self.fix}"


def spoof_guard_warnings(config: Settings) -> list[ConfigWarning]:
    """One warning per listener that takes inbound mail without the spoof guard.

    Not an error: a relay-only or measuring setup may leave the guard out on purpose,
    and a configuration that started before keeps starting.
    """
    missing = [name for name in SPOOF_GUARD_STAGES if name not in config.pipeline.stages]
    if not missing:
        return []
    return [
        ConfigWarning(
            f"listeners.{index}",
            f"listener {listener.name!r} (role {listener.role.value}) takes inbound mail but "
            f"pipeline.stages lacks {', '.join(missing)}: mail from outside whose From claims "
            "one of the province's own domains is relayed as if it were genuine",
            f"add {', '.join(repr(name) for name in missing)} to [pipeline] stages "
            "(in the order of deploy/congvu.toml)",
        )
        for index, listener in enumerate(config.listeners)
        if listener.role is not Role.OUTBOUND
    ]


def after_queue_warnings(config: Settings) -> list[ConfigWarning]:
    """One warning per listener behind Postfix's queue that takes inbound mail, when no
    listener takes inbound mail before the queue: port 25 is then evidently behind the
    queue, where what congvu refuses is held or discarded (a 5xx would become a bounce to
    a usually forged sender) and the sending server never learns of the refusal.

    With a before-queue listener for port 25, an inbound listener behind the queue is
    the internal path (pickup and sendmail through main.cf's content_filter), whose
    refusals are rightly held: no warning. The configuration cannot say which Postfix
    service feeds which listener; ``doctor`` reads Postfix and checks that.
    """
    inbound = [listener for listener in config.listeners if listener.role is not Role.OUTBOUND]
    if any(listener.queue is QueuePosition.BEFORE for listener in inbound):
        return []
    instead = config.service.after_queue_inbound_refusal.value
    return [
        ConfigWarning(
            f"listeners.{index}",
            f"listener {listener.name!r} (role {listener.role.value}) takes inbound mail "
            f"behind Postfix's queue and no listener is before it: what congvu refuses "
            f"there is {instead}d (service.after_queue_inbound_refusal), never answered "
            "to the sending server",
            "put port 25 before the queue (the smtp service of "
            "deploy/postfix/master.cf.snippet) with a listener of its own that has "
            'queue = "before" (deploy/congvu.toml\'s port-25)',
        )
        for index, listener in enumerate(config.listeners) if listener.role is not Role.OUTBOUND
    ]


def config_warnings(config: Settings) -> list[ConfigWarning]:
    """Everything `config check` and `doctor` warn about in a valid configuration."""
    return spoof_guard_warnings(config) + after_queue_warnings(config)
