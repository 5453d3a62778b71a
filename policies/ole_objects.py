"""Objects inside OLE compound files: what Word, Excel and PowerPoint embed in a legacy
.doc, .xls or .ppt, and what an OOXML or RTF object wraps.

An OLE "Package" object wraps a file in an `\\x01Ole10Native` stream (label, source
path, two longs, temporary path, size, then the bytes, as oletools' oleobj reads it).
Legacy documents keep each embedded object in a storage of its own: Word under
`ObjectPool/_<id>/`, Excel in `MBD<hex>/` storages; the object's data is its
`\\x01Ole10Native` stream (a packaged file), its `Package` stream (an embedded OOXML
document) or its `CONTENTS` stream (an embedded PDF and the like). Every such stream
anywhere in the file is a member, so a storage renamed to hide it is found as well.
PowerPoint keeps its objects inside the "PowerPoint Document" stream: each
ExOleObjStg record holds a compound file, zlib-compressed or not (MS-PPT 2.10.34).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import olefile

from policies.pdf_files import Embedded

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAX_OBJECTS = 100
#: the streams that hold an embedded object's data, by their name in lower case
_OBJECT_STREAMS = {"\x01ole10native", "package", "contents"}
_PPT_EX_OLE_OBJ_STG = 0x1011
_PACKAGE_HEADER_ROOM = 65536


def ole_object(name: str, data: bytes) -> Embedded:
    """The object `data` stored as `name`: the file inside when it is an OLE Package
    ("name/setup.exe"), else the object itself (a compound file is then a container
    of its own, walked in turn)."""
    package = _unpack_ole_package(data)
    if package is None:
        return Embedded(name, data)
    label, content = package
    return Embedded(f"{name}/{_base_name(label)}", content)


def compound_objects(data: bytes, max_size: int) -> Iterator[Embedded]:
    """The objects embedded in the compound file `data` (a legacy Office document or any
    other OLE storage), each read up to `max_size` bytes."""
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as exc:  # olefile raises plain exceptions on broken files
        yield Embedded("", None, ("unreadable-archive", f"embedded objects cannot be read: {exc}"))
        return
    try:
        yield from _objects(ole, max_size)
        if ole.parsing_issues:  # a damaged FAT or directory: some objects may be unseen
            _, issue = ole.parsing_issues[0]
            yield Embedded("", None, ("unreadable-archive",
                                      f"the compound file is damaged ({issue})"))
    finally:
        ole.close()


def _objects(ole: olefile.OleFileIO, max_size: int) -> Iterator[Embedded]:
    count = 0
    for path in ole.listdir(streams=True, storages=False):
        leaf = path[-1].lower()
        if leaf == "powerpoint document":
            found: Iterator[Embedded] = _ppt_objects(ole, path, max_size)
        elif leaf in _OBJECT_STREAMS:
            found = iter((_stream_object(ole, path, max_size),))
        else:
            continue
        for item in found:
            count += 1
            if count > _MAX_OBJECTS:
                yield Embedded("", None, ("archive-limits", f"more than {_MAX_OBJECTS} "
                                          "embedded objects; the rest were not inspected"))
                return
            yield item


def _stream_object(ole: olefile.OleFileIO, path: list[str], max_size: int) -> Embedded:
    storage = "/".join(_printable(p) for p in path[:-1]) or "object"
    try:
        # a package's stream also holds its label and two paths
        if ole.get_size(path) > max_size + _PACKAGE_HEADER_ROOM:
            return Embedded(storage, None, ("archive-limits", f"embedded object {storage!r} "
                            f"is larger than {max_size} bytes; it was not inspected"))
        declared = ole.get_size(path)
        raw = ole.openstream(path).read()
    except Exception as exc:  # a broken FAT chain: olefile's own exceptions
        return Embedded(storage, None, ("unreadable-archive",
                        f"embedded object {storage!r} cannot be read: {exc}"))
    if len(raw) < declared:  # olefile reads past the end of a truncated file as nothing
        return Embedded(storage, None, ("unreadable-archive",
                        f"embedded object {storage!r} is cut short"))
    if path[-1] != "\x01Ole10Native":
        if len(raw) > max_size:
            return Embedded(storage, None, ("archive-limits", f"embedded object {storage!r} "
                            f"is larger than {max_size} bytes; it was not inspected"))
        return Embedded(storage, raw)
    package = _parse_native(raw)
    if package is None:
        return Embedded(storage, raw[:max_size], ("unreadable-archive",
                        f"the package in {storage!r} does not parse"))
    label, content = package
    if len(content) > max_size:
        return Embedded(f"{storage}/{_base_name(label)}", None, ("archive-limits",
                        f"the file packaged in {storage!r} is larger than {max_size} bytes; "
                        "it was not inspected"))
    return Embedded(f"{storage}/{_base_name(label)}", content)


def _ppt_objects(ole: olefile.OleFileIO, path: list[str], max_size: int) -> Iterator[Embedded]:
    try:
        stream = ole.openstream(path).read()
    except Exception as exc:  # olefile's own exceptions on a broken FAT chain
        yield Embedded("", None, ("unreadable-archive", f"the slides cannot be read: {exc}"))
        return
    pos = count = 0
    while pos + 8 <= len(stream):
        ver_instance, rec_type, length = struct.unpack_from("<HHI", stream, pos)
        body_at = pos + 8
        if ver_instance & 0x0F == 0x0F:  # a container record: its children follow
            pos = body_at
            continue
        pos = body_at + length
        if rec_type != _PPT_EX_OLE_OBJ_STG:
            continue
        count += 1
        name = f"object{count}"
        body = stream[body_at : min(pos, len(stream))]
        if ver_instance >> 4 == 1:  # compressed: the size it inflates to, then zlib
            inflater = zlib.decompressobj()
            try:
                body = inflater.decompress(body[4:], max_size + 1)
            except zlib.error:
                yield Embedded(name, None, ("unreadable-archive",
                               f"the slides' object {name} does not inflate"))
                continue
        if len(body) > max_size:
            yield Embedded(name, None, ("archive-limits", f"the slides' object {name} is "
                           f"larger than {max_size} bytes; it was not inspected"))
            continue
        yield ole_object(name, body)


def _unpack_ole_package(data: bytes) -> tuple[str, bytes] | None:
    if not data.startswith(OLE_MAGIC):
        return None
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if not ole.exists("\x01Ole10Native"):
                return None
            native = ole.openstream("\x01Ole10Native").read()
    except Exception:  # olefile raises plain exceptions on broken files
        return None
    return _parse_native(native)


def _parse_native(native: bytes) -> tuple[str, bytes] | None:
    """An `\\x01Ole10Native` stream's label and file: total size (4), flags (2), label,
    source path, two longs, temporary path, size (4), bytes."""
    try:
        pos = 6
        label, pos = c_string(native, pos)
        _, pos = c_string(native, pos)  # source path
        pos += 8
        _, pos = c_string(native, pos)  # temporary path
        (size,) = struct.unpack_from("<I", native, pos)
    except (struct.error, ValueError):
        return None
    return label.decode("cp1252", "replace") or "package", native[pos + 4 : pos + 4 + size]


def c_string(data: bytes, pos: int) -> tuple[bytes, int]:
    """The NUL-terminated string at `pos` and the position after its NUL."""
    end = data.index(b"\0", pos)
    return data[pos:end], end + 1


def _base_name(label: str) -> str:
    """The file name a package label gives, whichever separator its source used."""
    return label.replace("\\", "/").rsplit("/", 1)[-1] or "package"


def _printable(name: str) -> str:
    # storage names may start with control characters (\x01CompObj, \x03ObjInfo)
    return "".join(c for c in name if c.isprintable()) or "storage"
