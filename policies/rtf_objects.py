"""OLE objects inside RTF documents (`{\\object ... {\\*\\objdata <hex>}}`).

The hex is read as Word reads it: white space, nested groups and control words inside
the destination are skipped (a common way to hide an object from simpler readers).
The hex is an OLE1 object (MS-OLEDS 2.2.4): version, format, class name, topic and
item names, then the native data. A "Package" object wraps a file (label, source
path, two longs, temporary path, size, bytes); native data that is an OLE2 compound
file is read as ole_objects.py reads OLE objects (the file of its Package stream, else
the compound file, whose own objects are then listed); any other object's native data
is the member itself. An object that does not parse is still a
member, as its raw bytes, so detection sees whatever it holds.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

from policies.ole_objects import OLE_MAGIC, c_string, ole_object
from policies.pdf_files import Embedded

_OBJDATA = re.compile(rb"\\objdata(?![A-Za-z])")
_MAX_OBJECTS = 100
#: what the reader meets in a destination: braces, control words (with their parameter
#: and one space), control symbols, and runs of hex digits; anything else is skipped.
_TOKEN = re.compile(rb"[{}]|\\[A-Za-z]+(?:-?[0-9]+)? ?|\\.|[0-9A-Fa-f]+", re.DOTALL)


def rtf_objects(data: bytes, max_size: int) -> Iterator[Embedded]:
    """The objects of the RTF document `data`, each read up to `max_size` bytes."""
    for count, match in enumerate(_OBJDATA.finditer(data), start=1):
        name = f"object{count}"
        if count > _MAX_OBJECTS:
            yield Embedded("", None, ("archive-limits", f"more than {_MAX_OBJECTS} RTF "
                                      "objects; the rest were not inspected"))
            return
        raw = _hex_destination(data, match.end(), max_size)
        if raw is None:
            yield Embedded(name, None, ("archive-limits", f"RTF object {name} is larger "
                                        f"than {max_size} bytes; it was not inspected"))
            continue
        yield _ole1(name, raw)


def _hex_destination(data: bytes, pos: int, max_size: int) -> bytes | None:
    """The bytes of the hex in the group that starts before `pos`, or None past `max_size`."""
    digits: list[bytes] = []
    count = 0
    depth = 0
    for m in _TOKEN.finditer(data, pos):
        token = m.group(0)
        if token == b"{":
            depth += 1
        elif token == b"}":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and token[0] != 0x5C:  # a control word or symbol is skipped whole
            digits.append(token)
            count += len(token)
            if count > 2 * max_size:
                return None
    hexed = b"".join(digits)
    return bytes.fromhex(hexed[: len(hexed) - len(hexed) % 2].decode("ascii"))


def _ole1(name: str, raw: bytes) -> Embedded:
    try:
        (format_id,) = struct.unpack_from("<I", raw, 4)
        if format_id != 2:  # not an embedded object (1 is a link, nothing inside)
            return Embedded(name, raw)
        pos = 8  # OLEVersion, FormatID
        class_name, pos = _lp_string(raw, pos)
        _, pos = _lp_string(raw, pos)  # topic
        _, pos = _lp_string(raw, pos)  # item
        (size,) = struct.unpack_from("<I", raw, pos)
        native = raw[pos + 4 : pos + 4 + size]
    except (struct.error, ValueError):
        return Embedded(name, raw)
    if native.startswith(OLE_MAGIC):  # an OLE2 object: a Package storage, or any other
        return ole_object(name, native)
    if class_name.rstrip(b"\0") != b"Package":
        return Embedded(name, native)
    try:
        pos = 2  # flags
        label, pos = c_string(native, pos)
        _, pos = c_string(native, pos)  # source path
        pos += 8
        _, pos = c_string(native, pos)  # temporary path
        (size,) = struct.unpack_from("<I", native, pos)
        content = native[pos + 4 : pos + 4 + size]
    except (struct.error, ValueError):
        return Embedded(name, native)
    label_text = label.decode("cp1252", "replace").replace("\\", "/").rsplit("/", 1)[-1]
    return Embedded(f"{name}/{label_text or 'package'}", content)


def _lp_string(data: bytes, pos: int) -> tuple[bytes, int]:
    (length,) = struct.unpack_from("<I", data, pos)
    if pos + 4 + length > len(data):
        raise ValueError("string runs past the object")
    return data[pos + 4 : pos + 4 + length], pos + 4 + length
