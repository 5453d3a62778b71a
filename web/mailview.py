"""A held message shown safely: decoded headers and the MIME tree as plain data.

What the page shows is what was judged: the header fields as mailbase's one header
reader splits them, and the parts (archive members and files inside documents too) as
the policy walk found them, not a second parser's reading of the same bytes.
Nothing of the message is ever rendered as HTML: the templates escape every value,
and parts are listed (type, name, size), with only text/plain shown, truncated.
Malformed headers or parts are shown as their raw text, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbase import read_header
from policies import PolicyError, read_parts

PREVIEW = 4000


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME part as listed on the page."""

    path: str
    content_type: str
    filename: str | None
    size: int
    preview: str | None


def headers(raw: bytes) -> list[tuple[str, str]]:
    """The header fields, unfolded, RFC 2047 words decoded where they can be."""
    return [(field.name.decode("ascii", "replace"), field.text)
            for field in read_header(raw).fields]


def parts(raw: bytes) -> list[Part]:
    """The leaves of the MIME tree as the policy walk read them, numbered as IMAP does
    ('1', '2.1', ...), each archive member or file inside a document after them under
    its part's number ('2/setup.exe'); none when the walk itself failed."""
    try:
        found = read_parts(raw)
    except PolicyError:
        return []
    listed: list[Part] = []
    for part in found.parts:
        number = part.path or "1"
        preview = None
        if part.member is None and part.content_type == "text/plain":
            preview = part.data[:PREVIEW].decode("utf-8", errors="replace")
        listed.append(Part(f"{number}/{part.member}" if part.member else number,
                           part.content_type or part.detection.type, part.filename,
                           part.size, preview))
    return listed
