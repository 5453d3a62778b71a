"""Objects embedded in Office documents: a program packaged inside a .docx is still one.

OOXML keeps embedded objects under `*/embeddings/`; an OLE "Package" object wraps
a file in an `\\x01Ole10Native` stream (label, source path, then the bytes, as
oletools' oleobj reads it). Each embedded object becomes a member of the document
(`member` = "word/embeddings/oleObject1.bin/setup.exe"), so every rule sees it.
"""

from __future__ import annotations

import io
import struct
import zipfile

import olefile

from policies.detect import detect
from policies.model import Defect, Part

_EMBEDDING_DIRS = ("word/embeddings/", "xl/embeddings/", "ppt/embeddings/")
_MAX_OBJECTS = 100
_MAX_OBJECT_SIZE = 32 * 1024 * 1024


def is_document_with_objects(part: Part) -> bool:
    """Whether `part` is an OOXML document (a zip) that may carry embedded objects."""
    return part.detection.type.startswith("application/vnd.openxmlformats")


def embedded_objects(part: Part) -> list[Part]:
    """The embedded objects of the OOXML document `part`, as members."""
    out: list[Part] = []
    prefix = f"{part.member}/" if part.member else ""
    try:
        archive = zipfile.ZipFile(io.BytesIO(part.data))
        infos = [i for i in archive.infolist() if i.filename.lower().startswith(_EMBEDDING_DIRS)]
        for info in infos[:_MAX_OBJECTS]:
            if info.file_size > _MAX_OBJECT_SIZE or info.flag_bits & 0x1:
                part.defects.append(Defect("unreadable-archive", f"embedded object "
                                           f"{info.filename!r} was not inspected"))
                continue
            data = archive.read(info)
            name, content = _unpack_ole_package(data) or (info.filename, data)
            member = (f"{prefix}{info.filename}/{name}" if name != info.filename
                      else prefix + info.filename)
            out.append(Part(
                path=part.path, content_type="", filenames=(name.rsplit("\\", 1)[-1],),
                data=content, size=len(content), span=part.span, member=member,
                is_attachment=True, detection=detect(content, use_libmagic=False),
            ))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        part.defects.append(Defect("unreadable-archive",
                                   f"embedded objects cannot be read: {exc}"))
    return out


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
