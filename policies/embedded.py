"""Files inside documents: a program packaged inside a .docx or a PDF is still one.

A document that can carry files is a container, walked as archives are (the listing in
archives.py, under the same depth, count and size budget): each file inside becomes a
member named under the document ("report.pdf/setup.exe"), so every rule sees it.

OOXML keeps embedded objects under `*/embeddings/`, each an OLE object; OLE objects and
the objects of legacy .doc, .xls and .ppt files (compound files): ole_objects.py.
PDFs: pdf_files.py; RTF objects: rtf_objects.py; OneNote: onenote.py; HTML data: URIs:
smuggling.py.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

from policies.model import Part
from policies.ole_objects import OLE_MAGIC, compound_objects, ole_object
from policies.onenote import is_onenote, onenote_files
from policies.pdf_files import Embedded, may_embed, pdf_files
from policies.rtf_objects import rtf_objects
from policies.smuggling import carries_data_files, data_uri_files

_EMBEDDING_DIRS = ("word/embeddings/", "xl/embeddings/", "ppt/embeddings/")
_MAX_OBJECTS = 100


def is_container(part: Part) -> bool:
    """Whether `part` is a document that may carry files inside it: an OOXML document, a
    compound file (a legacy Office document or an OLE object), a PDF with embedded files
    or file attachment annotations, an RTF document with objects, a OneNote section, or
    an HTML attachment with data: URIs of application types."""
    kind = part.detection.type
    if kind.startswith("application/vnd.openxmlformats") or is_onenote(part):
        return True
    if part.data.startswith(OLE_MAGIC):
        return not part.detection.is_executable  # an installer (.msi) is judged whole
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
    elif part.data.startswith(OLE_MAGIC):
        found = compound_objects(part.data, max_size)
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
