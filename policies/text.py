"""The words of a message a search finds, read with the one walk of its parts.

What the archive indexes and the console's search reads: the Subject, the From, To and
Cc fields (display names and addresses, RFC 2047 decoded by mailbase's
``HeaderField.text``), every attachment's file names, then the text of its text/plain
and text/html parts (HTML reduced to the text a reader sees: no tags, scripts or style
sheets), each decoded with the charset its part names, and the text of its PDFs of at
most :data:`PDF_MAX` bytes (their pages read until the text is long enough). The parts
are the MIME walk's (:func:`policies.walk.walk`), the header fields
:func:`mailbase.read_header`'s: no other reading of the message.

The filter has read the message already when it archives it: :func:`text_of` gives the
same text from those readings (the header fields, and the leaves
:func:`walked_leaves` takes from the walk the pipeline kept), so the bytes it stores
are not read again when they are the bytes it walked under header lines of its own,
or those bytes signed whole as a multipart/signed.

Never raises on malformed input: what cannot be read adds no words.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from pypdf import PdfReader

from mailbase import HeaderField, read_header
from policies.model import Part
from policies.walk import WalkLimits, walk

if TYPE_CHECKING:  # the walk a message's stages share; importing it loads the detectors
    from policies.parts import SharedParts

#: the header fields whose text is searched, in the order they are given
FIELDS = (b"subject", b"from", b"to", b"cc")
#: characters given at most (subject, people and names first: a long body is cut, never
#: they); the archive's index keeps less
TEXT_MAX = 1 << 20
#: the largest PDF whose text is read (bytes, decoded)
PDF_MAX = 5 * 1024 * 1024
# Block elements end a line: words on either side of one are never joined.
_BREAKS = frozenset({"br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4",
                     "h5", "h6", "table", "ul", "ol", "blockquote", "pre", "hr", "title"})
_HIDDEN = frozenset({"script", "style", "head", "template"})
#: the limits searchable_text walks with (made once: compared for every archived message)
_WALK_LIMITS = WalkLimits()

# pypdf logs a warning for every oddity of a malformed file; a search only wants text
logging.getLogger("pypdf").setLevel(logging.ERROR)


def searchable_text(raw: bytes, *, limit: int = TEXT_MAX, pdf_max: int = PDF_MAX) -> str:
    """The text a search of ``raw`` looks in: its subject, From, To and Cc, its
    attachments' names, its text and HTML parts, and the text of its PDFs of at most
    ``pdf_max`` bytes; one piece a line, at most ``limit`` characters."""
    header = read_header(raw)
    return text_of(header.fields, walk(raw, header=header).parts, limit=limit,
                   pdf_max=pdf_max)


def text_of(fields: Sequence[HeaderField], parts: Sequence[Part], *,
            names_after: Sequence[str] = (), limit: int = TEXT_MAX,
            pdf_max: int = PDF_MAX) -> str:
    """The text :func:`searchable_text` finds in a message whose header fields are
    ``fields`` and whose MIME leaves, as its walk (default limits) finds them, are
    ``parts`` followed by leaves that hold no text, named ``names_after`` (the signature
    of a multipart/signed)."""
    pieces: list[str] = []
    size = 0

    def add(text: str) -> bool:
        nonlocal size
        text = text.strip()
        if text:
            pieces.append(text[:limit - size])
            size += len(pieces[-1]) + 1
        return size < limit

    for name in FIELDS:
        for field in fields:
            if field.key == name and not add(field.text):
                return "\n".join(pieces)
    for filenames in [*(part.filenames for part in parts), names_after]:
        for filename in filenames:
            if not add(filename):
                return "\n".join(pieces)
    for part in parts:
        if part.content_type == "text/plain":
            text = _decoded(part.data, part.charset)
        elif part.content_type == "text/html":
            text = html_text(_decoded(part.data, part.charset))
        elif pdf_max and _is_pdf(part.content_type, part.filenames) and (
                len(part.data) <= pdf_max):
            text = pdf_text(part.data, limit=limit - size)
        else:
            continue
        if not add(text):
            break
    return "\n".join(pieces)


def reads_pdf(parts: Sequence[Part], *, pdf_max: int = PDF_MAX) -> bool:
    """Whether :func:`text_of` reads the text of a PDF among ``parts``: milliseconds a
    page, where the rest of a letter's text takes microseconds."""
    return bool(pdf_max) and any(
        _is_pdf(part.content_type, part.filenames) and len(part.data) <= pdf_max
        for part in parts)


def walked_leaves(parts: SharedParts, raw: bytes, *, size: int,
                  is_signed: bool) -> list[Part] | None:
    """The leaves :func:`searchable_text`'s walk finds in a message of ``size`` bytes
    made of ``raw``, taken from the walk ``parts`` kept of ``raw`` instead of walking
    again; None when that walk may find others.

    The caller vouches for how the message holds ``raw``: under header fields added in
    front that read cleanly and are no MIME field (``raw``'s header reading cleanly too,
    so the MIME fields and the body are ``raw``'s), or, with ``is_signed``, signed whole:
    the first part of a multipart/signed is ``raw``'s Content fields and body exactly,
    the second its signature (whose leaf is not among those returned). The walk then
    reads the same entities, those of a signed message one level deeper and beside two
    entities more (the multipart and the signature), and at most twice the message's
    bytes more. So ``parts``' walk stands in only when it was read with the default
    limits, as :func:`searchable_text` walks, and with room for that under each bound.
    """
    kept = parts.kept(raw)
    if kept is None:
        return None
    found, limits = kept
    deeper = 1 if is_signed else 0
    walked = found.walk
    if limits != _WALK_LIMITS or (
            walked.depth + deeper > limits.max_depth
            or walked.entity_count + 2 * deeper > limits.max_parts
            or walked.work_left < 2 * size):
        return None
    return walked.parts


def _is_pdf(content_type: str, filenames: tuple[str, ...]) -> bool:
    return content_type == "application/pdf" or any(
        name.lower().endswith(".pdf") for name in filenames)


def _decoded(data: bytes, charset: str | None) -> str:
    """``data`` read with ``charset``; UTF-8 when it names none, or one Python does not
    know (what is not in the charset becomes U+FFFD)."""
    try:
        return data.decode((charset or "utf-8").strip().strip('"'), "replace")
    # LookupError: unknown, or a codec that is no text codec (rot13, hex...)
    except (LookupError, UnicodeError, TypeError, ValueError):
        return data.decode("utf-8", "replace")


class _Text(HTMLParser):
    """The text of an HTML document as a reader sees it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BREAKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BREAKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.pieces.append(data)


def html_text(html: str) -> str:
    """The text of ``html`` as a reader sees it: tags, comments, scripts and style sheets
    left out, character references decoded, a line break at each block."""
    reader = _Text()
    try:
        reader.feed(html)
        reader.close()
    except (AssertionError, ValueError):  # html.parser's own complaints on broken markup
        pass
    return "".join(reader.pieces)


def pdf_text(data: bytes, *, limit: int = TEXT_MAX) -> str:
    """The text of a PDF's pages, read until it holds ``limit`` characters; empty when
    it is none, encrypted or unreadable."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return ""
        pages: list[str] = []
        size = 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            size += len(pages[-1]) + 1
            if size >= limit:
                break
        return "\n".join(pages)
    # pypdf raises many kinds of error on a malformed file (its own, ValueError,
    # KeyError, RecursionError...): a file it cannot read has no text to find
    except Exception:
        return ""
