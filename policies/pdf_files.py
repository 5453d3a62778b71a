"""Files embedded in a PDF: the EmbeddedFiles name tree and file attachment annotations.

Read with pyHanko's PDF reader (already a dependency, for document signatures), in
non-strict mode and with pyHanko's decode limits set to ours, so a Flate bomb stops at
the member size. A PDF that cannot be parsed, or whose name tree or page tree is
broken, gives what was read so far and a defect; the walk of each tree is bounded in
nodes, so a cycle or a million-page tree ends.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodeLimits, StreamDecodeLimits
from pyhanko.pdf_utils.misc import PdfDecodeLimitError
from pyhanko.pdf_utils.reader import PdfFileReader

#: what shows plainly that a PDF carries files (it may also hide them in object streams).
_PLAIN_EVIDENCE = re.compile(rb"/EmbeddedFile|/FileAttachment|/EF\s*(<<|\d+\s+\d+\s+R)")
#: names that may lead to an embedded file, and a name with #xx escapes (PDF 7.3.5).
_FILE_NAMES = (b"/EF", b"/FileAttachment")
_ESCAPED_NAME = re.compile(rb"/[A-Za-z]*#")
_OBJSTM = re.compile(rb"/Type\s*/ObjStm")
_STREAM = re.compile(rb"stream\r?\n")
_OBJSTM_INFLATE_LIMIT = 16 * 1024 * 1024
#: tree nodes (name tree and page tree) visited before the walk stops.
MAX_NODES = 10_000
_MAX_TREE_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Embedded:
    """One file found inside a container, or a problem met while looking for them."""

    name: str
    data: bytes | None
    #: (defect kind, reason) when the file, or the rest of the container, was not read.
    problem: tuple[str, str] | None = None


def may_embed(data: bytes) -> bool:
    """Whether the PDF `data` may hold embedded files. Cheap (the PDF parser costs
    milliseconds): the names that carry files, in the bytes or in the object streams
    (PDF 7.5.7), where a file specification may be compressed out of sight; the file
    stream itself cannot be in one."""
    if _names_a_file(data):
        return True
    if b"/ObjStm" not in data:
        return False
    budget = _OBJSTM_INFLATE_LIMIT
    for m in _OBJSTM.finditer(data):
        start = _STREAM.search(data, m.end(), m.end() + 4096)
        if start is None:
            continue
        end = data.find(b"endstream", start.end())
        try:
            plain = zlib.decompressobj().decompress(
                data[start.end() : end if end >= 0 else len(data)], budget)
        except zlib.error:
            continue
        if _names_a_file(plain):
            return True
        budget -= len(plain)
        if budget <= 0:
            return True  # more than we read: let the parser look
    return False


def _names_a_file(data: bytes) -> bool:
    # substring tests first: far faster than a regular expression on every PDF.
    return any(name in data for name in _FILE_NAMES) or (
        b"#" in data and _ESCAPED_NAME.search(data) is not None)


def pdf_files(data: bytes, max_size: int) -> Iterator[Embedded]:
    """The files embedded in the PDF `data`, each decoded up to `max_size` bytes."""
    limits = DecodeLimits(per_stream=StreamDecodeLimits(max_output_size=max_size))
    try:
        pdf = PdfFileReader(io.BytesIO(data), strict=False, decode_limits=limits)
        if pdf.encrypted and not _opens_without_password(pdf):
            yield Embedded("", None, ("unreadable-archive", "the PDF is encrypted with a "
                                      "password; its embedded files were not inspected"))
            return
        specs = _name_tree_files(pdf.root) + _annotation_files(pdf.root)
    except Exception as exc:  # pyHanko raises many kinds on broken files
        # Viewers repair much that pyHanko refuses: a broken PDF is only a finding when
        # it plainly carries files that could not be reached.
        if _PLAIN_EVIDENCE.search(data):
            yield Embedded("", None, ("unreadable-archive",
                                      f"the PDF cannot be read for embedded files: {exc}"))
        return
    seen: set[tuple[int, int] | int] = set()
    for key, spec in specs:
        yield from _spec_file(key, spec, seen)


def _opens_without_password(pdf: PdfFileReader) -> bool:
    try:
        return bool(pdf.decrypt(b"").status.value)
    except Exception:
        return False


def _tree_nodes(start: object) -> Iterator[generic.DictionaryObject]:
    """The dictionaries of a page tree or name tree, each before its /Kids, at most
    _MAX_TREE_DEPTH levels deep and MAX_NODES in all (a cycle or a flood ends there)."""
    budget = MAX_NODES
    stack: list[tuple[object, int]] = [(start, 0)]
    while stack:
        node, depth = stack.pop()
        node = _deref(node)
        if not isinstance(node, generic.DictionaryObject) or depth > _MAX_TREE_DEPTH:
            continue
        budget -= 1
        if budget < 0:
            return
        yield node
        kids = _get(node, "/Kids")
        if isinstance(kids, generic.ArrayObject):
            stack.extend((kid, depth + 1) for kid in reversed(kids))


def _name_tree_files(root: generic.DictionaryObject) -> list[tuple[str, object]]:
    names = _get(root, "/Names")
    tree = _get(names, "/EmbeddedFiles") if names is not None else None
    found: list[tuple[str, object]] = []
    for node in _tree_nodes(tree):
        pairs = _get(node, "/Names")
        if isinstance(pairs, generic.ArrayObject):
            for i in range(0, len(pairs) - 1, 2):
                found.append((str(_deref(pairs[i])), pairs[i + 1]))
    return found


def _annotation_files(root: generic.DictionaryObject) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for node in _tree_nodes(_get(root, "/Pages")):
        if isinstance(_get(node, "/Kids"), generic.ArrayObject):
            continue  # an inner node of the page tree: its pages carry the annotations
        annots = _get(node, "/Annots")
        if isinstance(annots, generic.ArrayObject):
            for annot in annots:
                annot = _deref(annot)
                if (isinstance(annot, generic.DictionaryObject)
                        and _get(annot, "/Subtype") == "/FileAttachment"):
                    found.append(("", annot.raw_get("/FS") if "/FS" in annot else None))
    return found


def _spec_file(key: str, raw_spec: object, seen: set[tuple[int, int] | int]
               ) -> Iterator[Embedded]:
    spec = _deref(raw_spec)
    if not isinstance(spec, generic.DictionaryObject):
        return  # a plain file name: a reference to a file outside the PDF, nothing inside.
    ef = _get(spec, "/EF")
    if not isinstance(ef, generic.DictionaryObject):
        return
    name = next((str(_deref(spec.raw_get(k))) for k in ("/UF", "/F") if k in spec), key)
    name = name.replace("\\", "/").rsplit("/", 1)[-1] or key or "embedded"
    for entry in ("/F", "/UF"):
        if entry not in ef:
            continue
        raw = ef.raw_get(entry)
        ident = (raw.idnum, raw.generation) if isinstance(raw, generic.IndirectObject) else id(raw)
        if ident in seen:
            return
        seen.add(ident)
        stream = _deref(raw)
        if not isinstance(stream, generic.StreamObject):
            return
        try:
            yield Embedded(name, stream.data)
        except PdfDecodeLimitError:
            yield Embedded(name, None, ("archive-limits", f"embedded file {name!r} "
                                        "expands past the size limit; it was not inspected"))
        except Exception as exc:
            yield Embedded(name, None, ("unreadable-archive",
                                        f"embedded file {name!r} cannot be decoded: {exc}"))
        return


def _deref(value: object) -> object:
    try:
        if isinstance(value, generic.IndirectObject):
            return cast(object, value.get_object())  # type: ignore[no-untyped-call]
        return value
    except Exception:
        return None


def _get(node: object, key: str) -> object:
    if not isinstance(node, generic.DictionaryObject) or key not in node:
        return None
    return _deref(node.raw_get(key))
