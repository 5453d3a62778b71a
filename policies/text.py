"""The words of a message a search finds, read with the one walk of its parts.

What the archive indexes and the console's search reads: the Subject, the From, To and
Cc fields (display names and addresses, RFC 2047 decoded by mailbase's
``HeaderField.text``), every attachment's file names, then the text of its text/plain
and text/html parts (HTML reduced to the text a reader sees: no tags, scripts or style
sheets), each decoded with the charset its part names, and the text of its PDFs of at
most :data:`PDF_MAX` bytes (their pages read until the text is long enough). The parts
are the MIME walk's (:func:`policies.walk.walk`), the header fields
:func:`mailbase.read_header`'s: no other reading of the message.

Never raises on malformed input: what cannot be read adds no words.
"""

from __future__ import annotations

import io
import logging
from html.parser import HTMLParser

from pypdf import PdfReader

from mailbase import read_header
from policies.walk import walk

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

# pypdf logs a warning for every oddity of a malformed file; a search only wants text
logging.getLogger("pypdf").setLevel(logging.ERROR)


def searchable_text(raw: bytes, *, limit: int = TEXT_MAX, pdf_max: int = PDF_MAX) -> str:
    """The text a search of ``raw`` looks in: its subject, From, To and Cc, its
    attachments' names, its text and HTML parts, and the text of its PDFs of at most
    ``pdf_max`` bytes; one piece a line, at most ``limit`` characters."""
    pieces: list[str] = []
    size = 0

    def add(text: str) -> bool:
        nonlocal size
        text = text.strip()
        if text:
            pieces.append(text[:limit - size])
            size += len(pieces[-1]) + 1
        return size < limit

    header = read_header(raw)
    for name in FIELDS:
        for field in header.fields:
            if field.key == name and not add(field.text):
                return "\n".join(pieces)
    found = walk(raw, header=header)
    for part in found.parts:
        for filename in part.filenames:
            if not add(filename):
                return "\n".join(pieces)
    for part in found.parts:
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
