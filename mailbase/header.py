"""The header block of a message, read once: its fields in order, and what is wrong with it.

A header block that does not follow RFC 5322 is read differently by different mail
programs: one skips a line without a colon, another ends the header there; one joins a
leading folded line to nothing, another drops it. :func:`read_header` never guesses
silently: it keeps every field it can see and names each such place as a defect, so a
caller deciding who sent the message can treat the block as ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# RFC 5322 section 3.6.8: a field name is printable US-ASCII except the colon.
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)([ \t]*):")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True, slots=True)
class HeaderField:
    """One field as it stands: ``name`` as written, ``value`` after the colon with its
    folding line breaks kept (CRLF), so callers can unfold or sign it as they need."""

    name: bytes
    value: bytes

    @property
    def key(self) -> bytes:
        """The name in lower case, for comparisons."""
        return self.name.lower()

    @property
    def unfolded(self) -> bytes:
        """The value with its folding line breaks removed (RFC 5322 section 2.2.3)."""
        return self.value.replace(b"\r\n", b"").replace(b"\n", b"")


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """A message's header fields in order, and the defects that make it read two ways."""

    fields: tuple[HeaderField, ...]
    defects: tuple[str, ...] = ()
    #: the block as received, for the readings that look for ambiguity
    raw: bytes = b""

    def values(self, name: bytes) -> list[bytes]:
        """Every value of the fields called ``name`` (any case), in order."""
        key = name.lower()
        return [field.value for field in self.fields if field.key == key]


def header_bytes(raw: bytes) -> bytes:
    """The header block of ``raw``: everything before the first empty line."""
    end = _HEADER_END.search(raw)
    if raw.startswith((b"\r\n", b"\n")):
        return b""
    return raw if end is None else raw[: end.start()]


def read_header(raw: bytes) -> HeaderBlock:
    """Read the header block of a message (or of a bare header block).

    Lines end in CRLF or LF. A line that is neither a field nor a continuation of one,
    a block that starts with a continuation line and a field name followed by
    whitespace before the colon (RFC 5322's obsolete syntax) are defects; the fields
    around them are still read.
    """
    block = header_bytes(raw)
    fields: list[HeaderField] = []
    defects: list[str] = []
    name: bytes | None = None
    parts: list[bytes] = []
    for number, line in enumerate(block.split(b"\n"), start=1):
        line = line[:-1] if line.endswith(b"\r") else line
        if line[:1] in (b" ", b"\t"):
            if name is None:
                defects.append(f"line {number} continues a field that does not exist")
                continue
            parts.append(b"\r\n" + line)
            continue
        if name is not None:
            fields.append(HeaderField(name, b"".join(parts)))
            name = None
        match = _FIELD.match(line)
        if match is None:
            if line:
                defects.append(f"line {number} is not a header field")
            continue
        if match.group(2):
            defects.append(f"line {number} has whitespace before the colon (obsolete syntax)")
        name, parts = match.group(1), [line[match.end():]]
    if name is not None:
        fields.append(HeaderField(name, b"".join(parts)))
    return HeaderBlock(tuple(fields), tuple(defects), block)
