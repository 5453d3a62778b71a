"""OneNote sections (.one): a file embedded in a page runs when the reader clicks it.

OneNote attachments carried much malware once Office macros were blocked (early 2023),
and mature gateways block them outright; so does the `onenote` rule by default. The
files a section carries are also listed, as members "notes.one/file1", ... so a
policy that lets OneNote through still has every rule judge what is inside. The
format ([MS-ONESTORE] 2.6.13, FileDataStoreObject): a header GUID, the length (64
bits), 12 unused bytes, then the file's bytes. The names of the files live elsewhere
in the section's property sets and are not needed to judge their content.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from policies.model import Part
from policies.pdf_files import Embedded

#: {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}, the file format GUID of a .one section.
ONENOTE_MAGIC = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3")
#: {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}, the header of a FileDataStoreObject.
_FILE_DATA = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac")
_MAX_FILES = 100


def is_onenote(part: Part) -> bool:
    """Whether `part` is a OneNote section, by its bytes."""
    return part.data.startswith(ONENOTE_MAGIC)


def onenote_files(data: bytes, max_size: int) -> Iterator[Embedded]:
    """The files embedded in the OneNote section `data`, each up to `max_size` bytes."""
    pos = data.find(_FILE_DATA)
    count = 0
    while pos >= 0:
        count += 1
        name = f"file{count}"
        if count > _MAX_FILES:
            yield Embedded("", None, ("archive-limits", f"more than {_MAX_FILES} files in "
                                      "the OneNote section; the rest were not inspected"))
            return
        start = pos + 16 + 8 + 12
        try:
            (length,) = struct.unpack_from("<Q", data, pos + 16)
        except struct.error:
            length = -1
        if length < 0 or start + length > len(data):
            yield Embedded(name, data[start : start + max_size], ("unreadable-archive",
                           f"the OneNote file {name} is cut short"))
            return
        if length > max_size:
            yield Embedded(name, None, ("archive-limits", f"the OneNote file {name} is "
                                        f"larger than {max_size} bytes; it was not inspected"))
        else:
            yield Embedded(name, data[start : start + length])
        pos = data.find(_FILE_DATA, start + min(length, max_size))
