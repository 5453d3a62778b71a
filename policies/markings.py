"""Security markings written on official mail, and the text they are looked for in.

The provinces' rules forbid sending classified documents by official e-mail. A
classified document carries its degree as a stamp: ``MẬT``, ``TỐI MẬT`` or ``TUYỆT
MẬT`` (the state-secret degrees), in capitals with their diacritics, alone on a line;
a subject starts with it, followed by a separator (``MẬT - Báo cáo ...``). The same
letters start ``MẬT KHẨU`` (password), which is never a marking.

Where the marking is looked for: the subject, the text bodies (text/plain, and
text/html with its tags taken out), and the first :data:`DOCUMENT_CHARS` characters
of a PDF's text (pypdf, its first pages) or a DOCX's (``word/document.xml``, read as
a stream and stopped early). A PDF with no text (a scan) or a document that cannot be
read has no text to check: :func:`document_text` says so with None.
"""

from __future__ import annotations

import html
import io
import logging
import re
import unicodedata
import zipfile
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from pypdf import PdfReader

#: How much of a document's text is read: the marking is at its top.
DOCUMENT_CHARS = 2000
#: The pages of a PDF read for that text, at most.
PDF_PAGES = 3
#: Documents larger than this are not opened for their text (not checkable).
MAX_DOCUMENT_SIZE = 32 * 1024 * 1024
#: At most this much of word/document.xml is inflated.
MAX_XML_BYTES = 4 * 1024 * 1024

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

_DEGREE = r"(?P<degree>TUYỆT[ \t]+MẬT|TỐI[ \t]+MẬT|MẬT)"
#: a marking alone on its line (white space, no-break spaces and a frame of brackets
#: or quotes allowed; a line may end CRLF)
_ALONE = re.compile(
    rf"^[ \t\u00a0\"'\u201c\u201d\[(]*{_DEGREE}[ \t\r\u00a0\"'\u201c\u201d\])]*$",
    re.MULTILINE)
#: a subject's first word, followed by a separator (never by another word: MẬT KHẨU)
_SUBJECT = re.compile(rf"^[ \t\[(]*{_DEGREE}[ \t]*(?:[\])\-\u2013\u2014:|/.,;]|$)")
_TAG = re.compile(r"<[^>]*>")
_BLOCK_END = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|/h[1-6])\b[^>]*>", re.IGNORECASE)
_HIDDEN = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"

# pypdf logs a warning for every oddity of a malformed file; the finding is ours to make
logging.getLogger("pypdf").setLevel(logging.ERROR)


def _degree(match: re.Match[str]) -> str:
    return " ".join(match.group("degree").split())


def subject_marking(subject: str) -> str | None:
    """The degree a subject is marked with (``MẬT``, ``TỐI MẬT``, ``TUYỆT MẬT``)."""
    match = _SUBJECT.match(unicodedata.normalize("NFC", subject))
    return _degree(match) if match else None


def text_marking(text: str) -> str | None:
    """The degree of the first marking standing alone on a line of ``text``."""
    text = unicodedata.normalize("NFC", text)
    if "MẬT" not in text:  # every degree ends so: most mail is answered without the scan
        return None
    match = _ALONE.search(text)
    return _degree(match) if match else None


def body_text(data: bytes, content_type: str) -> str:
    """A text body as people read it: UTF-8, else Windows-1258 (the Vietnamese Windows
    code page, which writes tones as combining marks: NFC joins them); HTML without
    its tags, scripts and styles, its entities decoded, a line per block."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1258", "replace")
    if content_type == "text/html":
        text = _BLOCK_END.sub("\n", _HIDDEN.sub("", text))
        text = html.unescape(_TAG.sub("", text))
    return unicodedata.normalize("NFC", text)


def document_text(data: bytes, detected_type: str) -> str | None:
    """The first :data:`DOCUMENT_CHARS` characters of a PDF's or DOCX's text; None when
    there is none to read (a scanned PDF, an encrypted or unreadable file)."""
    if len(data) > MAX_DOCUMENT_SIZE:
        return None
    text = _pdf_text(data) if detected_type == PDF else _docx_text(data)
    if text is None or not text.strip():
        return None
    return unicodedata.normalize("NFC", text[:DOCUMENT_CHARS])


def is_document(detected_type: str) -> bool:
    """Whether :func:`document_text` reads files of this type."""
    return detected_type in (PDF, DOCX)


def _pdf_text(data: bytes) -> str | None:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return None
        found: list[str] = []
        length = 0
        for page in reader.pages[:PDF_PAGES]:
            text = page.extract_text() or ""
            found.append(text)
            length += len(text)
            if length >= DOCUMENT_CHARS:
                break
        return "\n".join(found)
    # pypdf raises many kinds of error on a malformed file (its own, ValueError,
    # KeyError, RecursionError...): a file it cannot read has no text to check, and
    # must never make the policy fail (which would tempfail the message for good)
    except Exception:
        return None


def _docx_text(data: bytes) -> str | None:
    """The text of word/document.xml, a line per paragraph, read until there is
    enough; a DTD is refused (no entity can expand)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, \
                archive.open("word/document.xml") as stream:
            parser: XMLPullParser[Element] = XMLPullParser(events=("end",))
            found: list[str] = []
            length = read = 0
            while length < DOCUMENT_CHARS and read < MAX_XML_BYTES:
                chunk = stream.read(64 * 1024)
                if not chunk:
                    break
                if read == 0 and b"<!DOCTYPE" in chunk[:4096].upper():
                    return None
                read += len(chunk)
                parser.feed(chunk)
                for event in parser.read_events():
                    element = event[-1]
                    if not isinstance(element, Element):
                        continue
                    if element.tag == f"{_W}t" and element.text:
                        found.append(element.text)
                        length += len(element.text)
                    elif element.tag == f"{_W}p":
                        found.append("\n")
                        element.clear()
            return "".join(found)
    except (zipfile.BadZipFile, KeyError, ParseError, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError):
        return None
