"""The header block of a message, read once: its fields in order, and what is wrong with it.

A header block that does not follow RFC 5322 is read differently by different mail
programs: one skips a line without a colon, another ends the header there; one joins a
leading folded line to nothing, another drops it; a C program stops at a NUL, another
ends a line at a bare CR. :func:`read_header` is the one splitter: identity, DKIM,
S/MIME, the attachment policies and the audit record all take their fields from it.
It never guesses silently: it keeps every field it can see and names each place
another program would read otherwise as a :class:`HeaderDefect`, so a caller deciding
who sent the message, or vouching for it with a signature, can treat the block as
ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.errors import CharsetError
from email.header import decode_header, make_header
from enum import Enum
from typing import NamedTuple

# RFC 5322 section 3.6.8: a field name is printable US-ASCII except the colon; the
# obsolete syntax allows white space before the colon (section 4.5.3), a defect here.
_NAME = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")
# A literal first: "\r?\n(?!...)" is five times slower on a header block.
_FIELD_SPLIT = re.compile(rb"\n(?![ \t])")
# RFC 2047 section 2: an encoded word is an atom of its own, without white space inside.
_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=")
_BARE_CR = re.compile(rb"\r(?!\n)")


class HeaderField(NamedTuple):
    """One field as it stands: ``name`` as written, ``value`` after the colon with its
    folding line breaks kept as received (CRLF, or LF in a file), so callers can unfold
    or sign it as they need; ``gap`` is the white space some old mailers write between
    the name and the colon (RFC 5322 section 4.5.3), kept so :attr:`raw` gives back the
    exact bytes DKIM signs.

    A named tuple, not a frozen dataclass: as immutable, and three times cheaper to
    make, which counts for every field of every header block (measured).
    """

    name: bytes
    value: bytes
    gap: bytes = b""

    @property
    def key(self) -> bytes:
        """The name in lower case, for comparisons."""
        return self.name.lower()

    @property
    def raw(self) -> bytes:
        """The field as written, without its final line break."""
        return self.name + self.gap + b":" + self.value

    @property
    def unfolded(self) -> bytes:
        """The value with its folding line breaks removed (RFC 5322 section 2.2.3)."""
        return self.value.replace(b"\r\n", b"").replace(b"\n", b"")

    @property
    def text(self) -> str:
        """The value as a person reads it: unfolded, without the white space around it,
        RFC 2047 encoded words decoded, 8-bit octets read as UTF-8 (RFC 6532; what is
        not UTF-8 becomes U+FFFD, see :attr:`is_utf8`)."""
        value = self.unfolded.strip(b" \t")
        if value.isascii():
            return _decoded(value.decode("ascii"))
        return _decoded_words(value.decode("utf-8", "replace"))

    @property
    def is_utf8(self) -> bool:
        """Whether the value's octets are UTF-8 (ASCII is), so :attr:`text` lost nothing."""
        try:
            self.value.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True


def _decoded(text: str) -> str:
    """ASCII text with its RFC 2047 encoded words decoded by the standard library, which
    joins adjacent words of one charset before decoding (a character split between two
    words survives); undecodable text is kept as written."""
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    # CharsetError: a charset name that is not ASCII (=?\x80tf-8?q?...?=)
    except (ValueError, LookupError, UnicodeError, CharsetError):
        return text


def _decoded_words(text: str) -> str:
    """RFC 2047 encoded words decoded inside text that holds raw UTF-8 (RFC 6532).

    The standard library's decode_header takes only ASCII, so each encoded word is
    decoded on its own; white space between two adjacent encoded words goes (RFC 2047
    section 6.2).
    """
    pieces: list[str] = []
    end = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[end:match.start()]
        if end == 0 or between.strip(" \t"):
            pieces.append(between)
        pieces.append(_decoded(match.group()))
        end = match.end()
    pieces.append(text[end:])
    return "".join(pieces)


class HeaderDefectKind(Enum):
    """A way a header block reads differently to another program."""

    #: a line that is neither a field nor a continuation: lenient readers (Python's
    #: email package, many clients) end the header there and read the rest as body
    STRAY_LINE = "not a header field"
    #: the block starts with a folded line, which continues nothing
    ORPHAN_CONTINUATION = "continues a field that does not exist"
    #: white space between a field name and its colon: obsolete syntax that strict
    #: readers (dkimpy, Python's email package) do not take for that field
    SPACE_BEFORE_COLON = "has whitespace before the colon (obsolete syntax)"
    #: a NUL octet: a C program reads the line only up to it
    NUL = "holds a NUL octet"
    #: a CR not followed by LF: some programs end a line there
    BARE_CR = "holds a bare CR"


@dataclass(frozen=True, slots=True)
class HeaderDefect:
    """One place where a header block reads two ways: what, on which line (from 1), and
    at which offset of the bytes read (where that line starts)."""

    kind: HeaderDefectKind
    line: int
    offset: int

    def __str__(self) -> str:
        if self.kind is HeaderDefectKind.STRAY_LINE:
            return f"line {self.line} is not a header field"
        return f"line {self.line} {self.kind.value}"


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """A message's header fields in order, and the defects that make it read two ways."""

    fields: tuple[HeaderField, ...]
    defects: tuple[HeaderDefect, ...] = ()
    #: the block as received (no final line break), for the readings that look for
    #: ambiguity and for checking that a block belongs to a message
    raw: bytes = b""
    #: where the body starts in the bytes read: after the empty line that ends the
    #: header, or at their end when there is none
    body_start: int = 0

    def values(self, name: bytes) -> list[bytes]:
        """Every value of the fields called ``name`` (any case), in order."""
        key = name.lower()
        return [field.value for field in self.fields if field.key == key]

    def first(self, name: bytes) -> HeaderField | None:
        """The first field called ``name`` (any case), or None."""
        key = name.lower()
        return next((field for field in self.fields if field.key == key), None)

    def body(self, raw: bytes) -> bytes:
        """The body of ``raw``, the message this block was read from.

        :raises ValueError: ``raw`` does not start with this block (another message).
        """
        # read_header's body starts after the block's last line break, or the block is
        # all there is; a block made up (no bytes read) fits only the empty message
        fits = self.body_start > len(self.raw) or self.body_start == len(self.raw) == len(raw)
        if not (fits and raw.startswith(self.raw) and self.body_start <= len(raw)):
            raise ValueError("the header block was not read from these bytes")
        return raw[self.body_start:]


def _bounds(raw: bytes) -> tuple[int, int]:
    """Where the header block of ``raw`` ends (before its last line break) and where the
    body starts (after the empty line)."""
    if raw.startswith(b"\r\n"):
        return 0, 2
    if raw.startswith(b"\n"):
        return 0, 1
    # bytes.find, not a regex with optional CRs: ten times faster on every message
    crlf, lf = raw.find(b"\n\r\n"), raw.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return len(raw), len(raw)
    if lf < 0 or 0 <= crlf < lf:
        end, start = crlf, crlf + 3
    else:
        end, start = lf, lf + 2
    return (end - 1 if end > 0 and raw[end - 1] == 0x0D else end), start


def header_bytes(raw: bytes) -> bytes:
    """The header block of ``raw``: everything before the first empty line."""
    return raw[: _bounds(raw)[0]]


def read_header(raw: bytes) -> HeaderBlock:
    """Read the header block of a message, of a MIME part, or a bare header block.

    Lines end in CRLF or LF. A line that is neither a field nor a continuation of one,
    a block that starts with a continuation line, a field name followed by whitespace
    before the colon (RFC 5322's obsolete syntax), a NUL and a bare CR are defects;
    the fields around them are still read.
    """
    end, body_start = _bounds(raw)
    block = raw[:end]
    fields: list[HeaderField] = []
    defects: list[HeaderDefect] = []
    # One C-speed split into fields (a line break not followed by whitespace), then
    # one match per field: a per-line loop cost four times as much.
    pieces = _FIELD_SPLIT.split(block) if block else []
    append = fields.append
    seen = [0, 0, 1]  # a piece's index, offset and line: each counted once in all
    for index, piece in enumerate(pieces):
        match = _NAME.match(piece)
        if match is not None:
            value = piece[match.end():]
            append(HeaderField(match.group(1), value[:-1] if value.endswith(b"\r") else value))
            continue
        defects += _odd_piece(piece, index, pieces, block, fields, seen)
    if b"\0" in block:
        defects.append(_defect(HeaderDefectKind.NUL, block, block.find(b"\0")))
    if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
        bare = _BARE_CR.search(block)
        if bare is not None:
            defects.append(_defect(HeaderDefectKind.BARE_CR, block, bare.start()))
    if defects:
        defects.sort(key=lambda defect: defect.offset)
    return HeaderBlock(tuple(fields), tuple(defects), block, body_start)


def _odd_piece(piece: bytes, index: int, pieces: list[bytes], block: bytes,
               fields: list[HeaderField], seen: list[int]) -> list[HeaderDefect]:
    """The defect of a piece that is not a plain ``name:`` field (off the fast path),
    keeping the field of one written with white space before its colon."""
    before = pieces[seen[0]:index]
    start = seen[1] + sum(len(p) + 1 for p in before)
    line = seen[2] + len(before) + sum(p.count(b"\n") for p in before)
    seen[:] = [index, start, line]
    if piece.endswith(b"\r"):
        piece = piece[:-1]
    match = _FIELD.match(piece)
    if match is not None:
        fields.append(HeaderField(match.group(1), piece[match.end():], match.group(2)))
        return [HeaderDefect(HeaderDefectKind.SPACE_BEFORE_COLON, line, start)]
    if index == 0 and piece[:1] in (b" ", b"\t"):
        return [HeaderDefect(HeaderDefectKind.ORPHAN_CONTINUATION, line, start)]
    if piece.strip(b"\r\n"):
        return [HeaderDefect(HeaderDefectKind.STRAY_LINE, line, start)]
    return []


def _defect(kind: HeaderDefectKind, block: bytes, at: int) -> HeaderDefect:
    """A defect at offset ``at`` (the first NUL or bare CR), named by its line."""
    line_start = block.rfind(b"\n", 0, at) + 1
    return HeaderDefect(kind, block.count(b"\n", 0, line_start) + 1, line_start)
