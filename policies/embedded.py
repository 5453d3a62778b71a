"""Files inside documents: a program packaged inside a .docx or a PDF is still one.

A document that can carry files is a container, walked as archives are (the listing in
archives.py, under the same depth, count and size budget): each file inside becomes a
member named under the document ("report.pdf/setup.exe"), so every rule sees it.

OOXML keeps embedded objects under `*/embeddings/`; an OLE "Package" object wraps
a file in an `\\x01Ole10Native` stream (label, source path, then the bytes, as
oletools' oleobj reads it). PDFs: pdf_files.py; RTF objects: rtf_objects.py; OneNote:
onenote.py; HTML data: URIs: smuggling.py.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Iterator

import olefile

from policies.model import Part
from policies.onenote import is_onenote, onenote_files
from policies.pdf_files import Embedded, may_embed, pdf_files
from policies.rtf_objects import rtf_objects
from policies.smuggling import carries_data_files, data_uri_files

_EMBEDDING_DIRS = ("word/embeddings/", "xl/embeddings/", "ppt/embeddings/")
_MAX_OBJECTS = 100


def is_container(part: Part) -> bool:
    """Whether `part` is a document that may carry files inside it: an OOXML document,
    a PDF with embedded files or file attachment annotations, an RTF document with
    objects, a OneNote section, or an HTML attachment with data: URIs of application
    types."""
    kind = part.detection.type
    if kind.startswith("application/vnd.openxmlformats") or is_onenote(part):
        return True
    if kind == "application/pdf":
        return may_embed(part.data)
    if kind == "text/rtf":
        return b"\\objdata" in part.data
    return carries_data_files(part)


def contents(part: Part, max_size: int) -> Iterator[Embedded]:
    """The files inside the document `part`, named under the document's own name (a
    top-level "report.pdf" gives "report.pdf/setup.exe"), each read up to `max_size`."""
    base = "" if part.member else f"{part.filename or 'document'}/"
    kind = part.detection.type
    if kind == "application/pdf":
        found = pdf_files(part.data, max_size)
    elif kind == "text/rtf":
        found = rtf_objects(part.data, max_size)
    elif is_onenote(part):
        found = onenote_files(part.data, max_size)
    elif kind.startswith("application/vnd.openxmlformats"):
        found = _ooxml_objects(part.data, max_size)
    else:
        found = data_uri_files(part.data, max_size)
    for item in found:
        yield Embedded(base + item.name if item.name else "", item.data, item.problem)


def _ooxml_objects(data: bytes, max_size: int) -> Iterator[Embedded]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if i.filename.lower().startswith(_EMBEDDING_DIRS)]
        for info in infos[:_MAX_OBJECTS]:
            if info.file_size > max_size or info.flag_bits & 0x1:
                yield Embedded(info.filename, None, ("unreadable-archive", f"embedded object "
                               f"{info.filename!r} was not inspected"))
                continue
            yield ole_object(info.filename, archive.read(info))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        yield Embedded("", None, ("unreadable-archive", f"embedded objects cannot be read: {exc}"))


def ole_object(name: str, data: bytes) -> Embedded:
    """The object `data` stored as `name`: the file inside when it is an OLE Package
    ("name/setup.exe"), else the object itself."""
    package = _unpack_ole_package(data)
    if package is None:
        return Embedded(name, data)
    label, content = package
    return Embedded(f"{name}/{label.rsplit(chr(92), 1)[-1]}", content)


def _unpack_ole_package(data: bytes) -> tuple[str, bytes] | None:
    if not data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return None
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if not ole.exists("\x01Ole10Native"):
                return None
            native = ole.openstream("\x01Ole10Native").read()
    except Exception:  # olefile raises plain exceptions on broken files
        return None
    try:
        pos = 6  # total size (4), flags (2)
        label, pos = _cstring(native, pos)
        _, pos = _cstring(native, pos)  # source path
        pos += 8  # two unknown longs
        _, pos = _cstring(native, pos)  # temporary path
        (size,) = struct.unpack_from("<I", native, pos)
        content = native[pos + 4 : pos + 4 + size]
    except (struct.error, ValueError):
        return None
    return label.decode("cp1252", "replace") or "package", content


def _cstring(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.index(b"\0", pos)
    return data[pos:end], end + 1
