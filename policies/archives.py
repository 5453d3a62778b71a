"""Archives listed in memory, recursively, with hard limits: nothing touches the disk.

zip and tar use the stdlib (fast, and zip's central directory gives sizes and the
encryption flag before anything is inflated); gzip, bzip2 and xz are inflated
with a bound; 7z, rar, cab and iso go through libarchive (libarchive-c over
Debian's libarchive13), the one well-kept library that reads all four from memory.
Every limit hit and every unreadable archive is a `Defect` on the part, never an
exception: archive bombs are a decision, not an outage.
"""

from __future__ import annotations

import bz2
import ctypes
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import cast

from policies import reasons
from policies.detect import detect
from policies.embedded import contents, is_container
from policies.model import Defect, Detection, Part

#: the type given to an archive member whose content is encrypted.
ENCRYPTED_MEMBER = "application/x-encrypted-member"


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How far archive listing goes before it stops and reports."""

    max_depth: int = 5
    max_members: int = 10_000
    max_total_size: int = 200 * 1024 * 1024
    #: uncompressed / compressed, checked once a member or archive passes `ratio_floor`.
    max_ratio: float = 100.0
    ratio_floor: int = 1024 * 1024
    #: members are read whole up to this size; beyond it, only the head (for detection).
    max_member_read: int = 32 * 1024 * 1024


class _Budget:
    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.size = limits.max_total_size
        self.members = limits.max_members


@dataclass(slots=True)
class _Entry:
    name: str
    size: int
    compressed: int | None
    data: bytes | None
    is_encrypted: bool = False
    problem: str | None = None


class _Stop(Exception):
    """A limit was hit inside a lister: the reason is the message."""


def expand(part: Part, limits: ArchiveLimits, budget: _Budget | None = None,
           depth: int = 1) -> list[Part]:
    """The members of the archive `part`, recursively, as parts with `member` set.

    Problems (limits hit, unreadable archive, encrypted members) are recorded as
    defects on `part` or as members typed `ENCRYPTED_MEMBER`.
    """
    budget = budget or _Budget(limits)
    out: list[Part] = []
    if depth > limits.max_depth:
        part.defects.append(Defect.of("archive-limits", reasons.ARCHIVE_TOO_DEEP(
            limit=limits.max_depth)))
        return out
    kind = part.detection.type
    prefix = f"{part.member}/" if part.member else ""
    try:
        for entry in _entries(kind, part, budget):
            if budget.members <= 0:
                raise _Stop(f"more than {limits.max_members} archive members")
            budget.members -= 1
            if entry.problem:
                part.defects.append(Defect("unreadable-archive", entry.problem))
                if entry.data is None and not entry.is_encrypted and not entry.name:
                    continue
            if entry.compressed is not None and entry.size >= limits.ratio_floor and (
                entry.size > limits.max_ratio * max(entry.compressed, 1)
            ):
                # listed (its name is checked) but never inflated.
                times = entry.size // max(entry.compressed, 1)
                part.defects.append(Defect.of("archive-limits", reasons.ARCHIVE_RATIO(
                    name=repr(entry.name), times=times, limit=f"{limits.max_ratio:g}")))
                entry.data = None
            if entry.is_encrypted:
                detection = Detection(ENCRYPTED_MEMBER, is_encrypted=True)
            elif entry.data is None:
                detection = Detection("application/octet-stream")
            else:
                detection = detect(entry.data, use_libmagic=False)
            member = Part(
                path=part.path, content_type="", filenames=(entry.name,),
                data=entry.data or b"", size=entry.size, span=part.span,
                member=prefix + entry.name, is_attachment=True, detection=detection,
            )
            out.append(member)
            if entry.data is not None and (detection.is_archive or is_container(member)):
                out += expand(member, limits, budget, depth + 1)
    except _Stop as stop:
        part.defects.append(Defect("archive-limits", f"{stop}; the rest was not inspected"))
    return out


def expand_parts(parts: list[Part], limits: ArchiveLimits) -> list[Part]:
    """`parts` followed by the members of every archive among them (one budget for all)."""
    budget = _Budget(limits)
    out: list[Part] = []
    for part in parts:
        out.append(part)
        if part.detection.is_archive or is_container(part):
            out += expand(part, limits, budget)
    return out


def _take(budget: _Budget, size: int, name: str) -> None:
    if size > budget.size:
        raise _Stop(f"more than {budget.limits.max_total_size} bytes uncompressed "
                    f"(at member {name!r})")
    budget.size -= size


def _entries(kind: str, part: Part, budget: _Budget) -> Iterator[_Entry]:
    if is_container(part):
        yield from _embedded_entries(part, budget)
    elif kind == "application/zip":
        yield from _zip_entries(part, budget)
    elif kind == "application/x-tar":
        yield from _tar_entries(part.data, budget)
    elif kind in ("application/gzip", "application/x-bzip2", "application/x-xz"):
        yield _single(part, kind, budget)
    else:
        yield from _libarchive_entries(part.data, budget)


def _embedded_entries(part: Part, budget: _Budget) -> Iterator[_Entry]:
    """The files inside a document (policies/embedded.py), under the archive budget."""
    for item in contents(part, min(budget.limits.max_member_read, budget.size)):
        if item.problem:
            part.defects.append(Defect(*item.problem))
        if item.data is not None:
            _take(budget, len(item.data), item.name)
            yield _Entry(item.name, len(item.data), None, item.data)
        elif item.name:
            yield _Entry(item.name, 0, None, None)  # not read, but its name is checked


def _zip_entries(part: Part, budget: _Budget) -> Iterator[_Entry]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(part.data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError,
            EOFError) as exc:
        # NotImplementedError: zipfile refuses versions and features it does not know
        # ("zip file version 6.4"), found by the fuzz test.
        part.defects.append(Defect.of("unreadable-archive",
                                      reasons.ZIP_UNREADABLE(detail=str(exc))))
        # Unzip tools that recover from the local headers would still show what is in
        # there, so list those too (the worse reading).
        yield from _zip_local_entries(part.data, budget)
        return
    # Declared sizes first: an overlapping-entries bomb stops here, before inflating.
    declared = sum(i.file_size for i in infos if not _is_zip_directory(i))
    if declared > budget.size:
        raise _Stop(f"zip declares {declared} bytes uncompressed "
                    f"(limit {budget.limits.max_total_size})")
    if len(infos) > budget.members:
        raise _Stop(f"zip has {len(infos)} members (limit {budget.limits.max_members})")
    for info in infos:
        if _is_zip_directory(info):
            continue
        if info.flag_bits & 0x1:
            yield _Entry(info.filename, info.file_size, info.compress_size, None,
                         is_encrypted=True)
            continue
        _take(budget, info.file_size, info.filename)
        if info.file_size >= budget.limits.ratio_floor and (
            info.file_size > budget.limits.max_ratio * max(info.compress_size, 1)
        ):
            yield _Entry(info.filename, info.file_size, info.compress_size, None)
            continue
        try:
            with archive.open(info) as stream:
                data = stream.read(budget.limits.max_member_read)
            problem = None
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError,
                OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            data, problem = None, f"zip member {info.filename!r} cannot be read: {exc}"
        yield _Entry(info.filename, info.file_size, info.compress_size, data, problem=problem)


def _is_zip_directory(info: zipfile.ZipInfo) -> bool:
    """A name ending in "/" (``ZipInfo.is_dir`` raises IndexError on an empty name,
    which a damaged central directory can hold: found by the fuzz test)."""
    return info.filename.endswith("/")


_LOCAL = struct.Struct("<4sHHHHHIIIHH")


def _zip_local_entries(data: bytes, budget: _Budget) -> Iterator[_Entry]:
    """Members found by their local file headers (APPNOTE 4.3.7), central directory or not."""
    pos = data.find(b"PK\x03\x04")
    while pos >= 0 and pos + _LOCAL.size <= len(data):
        (_, _, flags, method, _, _, _, csize, usize, nlen, xlen) = _LOCAL.unpack_from(data, pos)
        start = pos + _LOCAL.size
        name = data[start : start + nlen].decode("utf-8" if flags & 0x800 else "cp437", "replace")
        body = start + nlen + xlen
        content: bytes | None = None
        if flags & 0x1:
            yield _Entry(name, usize, csize, None, is_encrypted=True)
        else:
            limit = min(budget.size, budget.limits.max_member_read) + 1
            end = body + csize if csize and not flags & 0x8 else len(data)
            try:
                if method == 0 and csize:
                    content = data[body:end][:limit]
                elif method == 8:
                    content = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[body:end], limit)
            except zlib.error:
                content = None
            if content is not None:
                if len(content) >= limit:
                    raise _Stop(f"zip member {name!r} inflates past {limit - 1} bytes")
                _take(budget, len(content), name)
            yield _Entry(name, len(content) if content is not None else usize, None, content)
        pos = data.find(b"PK\x03\x04", body)


def _tar_entries(data: bytes, budget: _Budget) -> Iterator[_Entry]:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for info in archive:
                if not info.isfile():
                    continue
                _take(budget, info.size, info.name)
                stream = archive.extractfile(info)
                content = stream.read(budget.limits.max_member_read) if stream else b""
                yield _Entry(info.name, info.size, None, content)
    except (tarfile.TarError, ValueError, OSError, EOFError) as exc:
        yield _Entry("", 0, None, None, problem=f"tar cannot be read: {exc}")


def _single(part: Part, kind: str, budget: _Budget) -> _Entry:
    limit = min(budget.size, budget.limits.max_member_read) + 1
    name = part.filename or "data"
    for suffix in (".gz", ".tgz", ".bz2", ".xz", ".z"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)] + (".tar" if suffix == ".tgz" else "")
            break
    try:
        if kind == "application/gzip":
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = inflater.decompress(part.data, limit)
        elif kind == "application/x-bzip2":
            out = bz2.BZ2Decompressor().decompress(part.data, limit)
        else:
            out = lzma.LZMADecompressor().decompress(part.data, limit)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        return _Entry(name, 0, None, None, problem=f"{kind} cannot be inflated: {exc}")
    if len(out) >= limit:
        raise _Stop(f"{kind} inflates past {limit - 1} bytes")
    _take(budget, len(out), name)
    return _Entry(name, len(out), len(part.data), out)


@cache
def _is_encrypted() -> Callable[[object], int]:
    """archive_entry_is_encrypted (libarchive >= 3.2), typed: libarchive-c does not
    wrap it, and an untyped ctypes call would truncate the 64-bit entry pointer."""
    from libarchive import ffi

    function = ctypes.CDLL(ffi.libarchive._name).archive_entry_is_encrypted
    function.argtypes = [ctypes.c_void_p]
    function.restype = ctypes.c_int
    return cast(Callable[[object], int], function)


def _libarchive_entries(data: bytes, budget: _Budget) -> Iterator[_Entry]:
    import libarchive

    count = 0
    try:
        with libarchive.memory_reader(data) as archive:
            for entry in archive:
                count += 1
                if not entry.isfile:
                    continue
                name = entry.pathname or ""
                size = entry.size or 0
                if _is_encrypted()(entry._entry_p):
                    yield _Entry(name, size, None, None, is_encrypted=True)
                    continue
                _take(budget, size, name)
                chunks: list[bytes] = []
                got = 0
                for block in entry.get_blocks():
                    got += len(block)
                    if got > budget.limits.max_member_read or got > size + budget.size:
                        raise _Stop(f"member {name!r} inflates past its declared size")
                    chunks.append(block)
                yield _Entry(name, got, None, b"".join(chunks))
    except libarchive.ArchiveError as exc:
        text = str(exc)
        if "ncrypt" in text or "assphrase" in text:
            yield _Entry("", 0, None, None, is_encrypted=True)
        else:
            yield _Entry("", 0, None, None, problem=f"archive cannot be read: {text}")
        return
    if count == 0:
        yield _Entry("", 0, None, None, problem="archive cannot be read: no members found")
