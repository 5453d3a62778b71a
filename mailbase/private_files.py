"""Files only congvu may read: secrets checked before use, stores created private.

Two rules, kept in one place because signer/, audit/, web/ and policies/ all need them.

**A secret** (a DKIM or S/MIME key, a passphrase file, the audit checkpoint key, the
console's cookie key) is read by :func:`read_secret` only when whoever could change
it is already trusted: the file is a regular file that neither group nor others can
read or write, owned by root or by the user congvu runs as (the effective uid); the
directory holding it is owned by one of those two and writable by neither group nor
others; and no directory above it lets others write without the sticky bit (whoever
can rename a directory on the way can put another key in its place). A symlink is
followed to its target, which is what gets checked, and the directory holding each
link on the way is checked too: whoever can replace a link chooses the key. Anything
else is an :class:`UnsafeFileError` whose message says what is wrong and the command
that fixes it.

**A store** (an SQLite file with its ``-wal`` and ``-shm``, a held message, a new key)
is created ``0600`` in directories created ``0700``, whatever the umask:
:func:`private_dir` makes directories then chmods them (``mkdir``'s mode passes
through the umask), :func:`create_private` opens with ``O_EXCL`` and the mode then
fchmods, :func:`private_database` creates the SQLite file itself before SQLite does
(SQLite creates its ``-wal`` and ``-shm`` with the database file's mode). A store
that an earlier release left readable by others is tightened when it is ours, with
one log line.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import stat
from pathlib import Path

__all__ = [
    "UnsafeFileError",
    "create_private",
    "private_database",
    "private_dir",
    "private_file",
    "read_secret",
]

log = logging.getLogger("congvu.files")

MAX_SECRET_BYTES = 1 << 20
"""A secret file larger than this is not a key (nor a passphrase)."""

_MAX_LINKS = 40  # as the kernel's own limit on symlinks followed in one lookup
_SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


class UnsafeFileError(Exception):
    """A secret file congvu refuses to use; ``path`` is the file asked for, ``reason``
    what is wrong and how to fix it (for a package's own key error to carry)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"refusing {path}: {reason}")
        self.path = path
        self.reason = reason


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _owners() -> str:
    """Who may own a secret and its directory: root, and the user running congvu."""
    euid = os.geteuid()
    return "root" if euid == 0 else f"root or {_user(euid)} (the user running congvu)"


def _or_run_as(uid: int) -> str:
    """Root running a command on the service user's files: the likelier fix is to run
    it as that user (the service reads the file too, and could not once it is root's)."""
    return f", or run this command as {_user(uid)}" if os.geteuid() == 0 else ""


def _is_trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def _access(mode: int) -> str:
    """Who can do what, beyond the owner: ``readable by group, writable by others``."""
    said = []
    for who, shift in (("group", 3), ("others", 0)):
        bits = (mode >> shift) & 0o7
        verbs = [verb for verb, bit in (("readable", 4), ("writable", 2), ("executable", 1))
                 if bits & bit]
        if verbs:
            said.append(f"{' and '.join(verbs)} by {who}")
    return ", ".join(said)


def _check_file(path: Path, target: Path, info: os.stat_result) -> None:
    """The secret itself (``target``, where the links from ``path`` lead)."""
    subject = "" if target == Path(os.path.abspath(path)) else f"the link's target {target} is "
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(path, f"{subject or 'it is '}not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise UnsafeFileError(path, f"{subject}{_access(mode)} (mode {mode:04o}); "
                              f"run chmod 600 {target}")
    if not _is_trusted_owner(info.st_uid):
        raise UnsafeFileError(path, f"{subject or 'it is '}owned by {_user(info.st_uid)}, "
                              f"not by {_owners()}; run chown {_user(os.geteuid())} {target}"
                              f"{_or_run_as(info.st_uid)}")


def _check_directory(secret: Path, directory: Path, *, holds_it: bool) -> None:
    """The directory holding a secret (or a link to it), or one above it."""
    info = directory.stat()
    mode = stat.S_IMODE(info.st_mode)
    where = "its directory" if holds_it else "the directory above it"
    if holds_it and not _is_trusted_owner(info.st_uid):
        raise UnsafeFileError(secret, f"{where} {directory} is owned by {_user(info.st_uid)}, "
                              f"not by {_owners()}; run chown {_user(os.geteuid())} "
                              f"{directory}{_or_run_as(info.st_uid)}")
    writable = mode & 0o022
    if holds_it and writable:
        raise UnsafeFileError(secret, f"{where} {directory} is writable by "
                              f"{_writers(writable)} (mode {mode:04o}); run chmod go-w "
                              f"{directory}")
    if writable and not mode & stat.S_ISVTX:
        raise UnsafeFileError(secret, f"{where} {directory} is writable by "
                              f"{_writers(writable)} (mode {mode:04o}) without the sticky "
                              f"bit; run chmod go-w {directory}")


def _writers(bits: int) -> str:
    return " and ".join(who for who, bit in (("group", 0o020), ("others", 0o002)) if bits & bit)


def _links(path: Path) -> tuple[Path, list[Path]]:
    """The file ``path`` leads to, and the real directory holding each link on the way."""
    holders: list[Path] = []
    current = Path(os.path.abspath(path))
    for _ in range(_MAX_LINKS):
        parent = current.parent.resolve(strict=True)
        holders.append(parent)
        if not current.is_symlink():
            return parent / current.name, holders
        current = parent / os.readlink(current)
    raise UnsafeFileError(path, f"more than {_MAX_LINKS} symbolic links to follow")


def read_secret(path: Path) -> bytes:
    """The bytes of a secret file, once the file and the directories that hold it pass.

    :raises UnsafeFileError: missing or unreadable; not a regular file; readable or
        writable by group or others; owned by another user than root or the one
        running congvu; in a directory such a user owns or group or others can write;
        below a directory others can write without the sticky bit; or over 1 MiB.
    """
    path = Path(path)
    try:
        target, holders = _links(path)
        for holder in dict.fromkeys(holders):
            _check_directory(path, holder, holds_it=True)
            for above in holder.parents:
                _check_directory(path, above, holds_it=False)
        # O_NOFOLLOW: the target was checked as a file; a link put there since is refused
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                     | os.O_NOCTTY)
    except FileNotFoundError as exc:
        missing = exc.filename and os.fspath(exc.filename)
        where = "" if not missing or missing in (str(path), os.path.abspath(path)) \
            else f" ({missing})"
        raise UnsafeFileError(path, f"cannot be read: {exc.strerror}{where}") from exc
    except OSError as exc:
        raise UnsafeFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        _check_file(path, target, info)
        if info.st_size > MAX_SECRET_BYTES:
            raise UnsafeFileError(path, f"{info.st_size} bytes is too large for a key "
                                  f"(at most {MAX_SECRET_BYTES})")
        return _read_all(path, fd)
    finally:
        os.close(fd)


def _read_all(path: Path, fd: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_SECRET_BYTES:
        try:
            chunk = os.read(fd, 65536)
        except OSError as exc:
            raise UnsafeFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise UnsafeFileError(path, f"grew past {MAX_SECRET_BYTES} bytes while being read")


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Make ``path`` a directory, creating it and any missing parent ``0700``.

    :param tighten: an existing ``path`` that group or others can use is made ``0700``
        when it is ours (logged); False for a directory shared with public data.
    :raises OSError: it cannot be created, or is not a directory.
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it first: it is theirs to have made right
        os.chmod(directory, 0o700)  # mkdir's mode went through the umask
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    if tighten and not missing:
        _tighten(path, info, 0o700)
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode ``0600`` unless it exists; tighten it if it is
    ours and group or others can use it (logged).

    :raises OSError: it cannot be created or read.
    """
    path = Path(path)
    try:
        os.close(create_private(path))
    except FileExistsError:
        _tighten(path, path.stat(), 0o600)


def create_private(path: Path) -> int:
    """A new file at ``path`` with mode ``0600`` whatever the umask, open for writing.

    :returns: its file descriptor (the caller closes it).
    :raises FileExistsError: something is there already (a symlink included).
    :raises OSError: it cannot be created.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private_durably(path: Path, data: bytes, *, tmp: Path | None = None) -> None:
    """Make ``data`` the file ``path`` (``0600``) so that a crash leaves either what was
    there or all of ``data``: a new temporary file (``tmp``, by default a hidden name
    beside ``path``; it must be on the same file system), fsync, rename over ``path``,
    fsync the directory. The temporary file is removed when any step fails.

    :raises FileExistsError: ``tmp`` exists already.
    :raises OSError: a step failed.
    """
    if tmp is None:
        tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def sync_directory(directory: Path) -> None:
    """fsync ``directory``, so a file made, renamed or removed in it stays so after a
    crash. A file system that cannot sync a directory (EINVAL, ENOTSUP) has nothing
    more to lose and is let be."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def private_database(path: Path) -> None:
    """Prepare an SQLite file before SQLite opens it: created ``0600`` (SQLite gives its
    ``-wal`` and ``-shm`` the database's mode), and an existing one that is ours and
    open to group or others tightened, with its companions.

    The directory is the caller's: :func:`private_dir` when it belongs to the store.

    :raises OSError: it cannot be created or read.
    """
    path = Path(path)
    private_file(path)
    for suffix in _SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        try:
            _tighten(companion, companion.stat(), 0o600)
        except FileNotFoundError:
            continue


def _tighten(path: Path, info: os.stat_result, mode: int) -> None:
    was = stat.S_IMODE(info.st_mode)
    if not was & 0o077 or info.st_uid != os.geteuid():
        return
    os.chmod(path, was & mode)
    log.warning("tightened %s from mode %04o to %04o: group and others had access",
                path, was, was & mode)
