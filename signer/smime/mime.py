"""MIME on bytes for S/MIME: header fields, canonical form, 7-bit re-encoding, parts.

S/MIME signs a MIME entity in canonical form (RFC 8551 section 3.1.1: CRLF line ends,
and every part in a 7-bit-safe transfer encoding, section 3.1.3). Headers that stay on
the outer message are copied as the bytes they were; only the content is rebuilt, and
only when it holds 8-bit data or overlong lines does the stdlib ``email`` package parse
and re-serialize it. Every header block, the message's and each part's, is split by
:func:`mailbase.read_header`, the one splitter.
"""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import io
import quopri
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message

from mailbase import HeaderBlock, HeaderField, read_header
from mailbase.lines import has_line_longer

_ANY_EOL = re.compile(rb"\r\n|\r|\n")
# RFC 5322 section 2.1.1: 998 octets a line, CRLF excluded. Checked with the CR
# counted, which re-encodes a line of exactly 998 octets: safe, and cheap to test.
_MAX_LINE = 998
_BASE64_LINE = 76


def is_content(field: HeaderField) -> bool:
    """Whether ``field`` describes the content (``Content-*``), so goes inside a signature."""
    return field.key.startswith(b"content-")


@dataclass(frozen=True, slots=True)
class Entity:
    """A message or part: its header as :func:`mailbase.read_header` read it, and its body."""

    header: HeaderBlock
    body: bytes
    eol: bytes

    @property
    def fields(self) -> tuple[HeaderField, ...]:
        """The header fields, in order."""
        return self.header.fields

    def values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), unfolded, in order."""
        return [value.replace(b"\r\n", b"").replace(b"\n", b"").strip()
                .decode("utf-8", "replace") for value in self.header.values(name.encode())]

    def first(self, name: str) -> str | None:
        """The first value of header ``name``, or None."""
        found = self.values(name)
        return found[0] if found else None

    def content_type(self) -> ContentType:
        """The parsed Content-Type (text/plain when absent, RFC 2045 section 5.2)."""
        return ContentType.parse(self.first("content-type"))


def split_entity(raw: bytes, *, header: HeaderBlock | None = None) -> Entity:
    """Split ``raw`` into its header (read by :func:`mailbase.read_header`, or the
    reading given) and its body, keeping every byte of the body.

    :raises ValueError: ``header`` was read from other bytes.
    """
    if header is None:
        header = read_header(raw)
    first_eol = raw.find(b"\n")
    eol = b"\r\n" if first_eol > 0 and raw[first_eol - 1:first_eol] == b"\r" else b"\n"
    return Entity(header, header.body(raw), eol)


@dataclass(frozen=True, slots=True)
class ContentType:
    """A Content-Type value: ``mime_type`` lower-case, parameters with lower-case names."""

    mime_type: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> ContentType:
        """Parse a header value with the stdlib's RFC 2045/2231 parameter rules."""
        if not value:
            return cls("text/plain")
        message = Message()
        message["Content-Type"] = value
        params = message.get_params() or []
        mime_type = message.get_content_type()
        pairs = tuple(
            (k.lower(), str(email.utils.collapse_rfc2231_value(v))) for k, v in params[1:]
        )
        return cls(mime_type, pairs)

    def param(self, name: str) -> str | None:
        """The value of parameter ``name``, or None."""
        for key, value in self.params:
            if key == name:
                return value
        return None

    @property
    def maintype(self) -> str:
        """The part before the slash."""
        return self.mime_type.split("/", 1)[0]


def to_crlf(data: bytes) -> bytes:
    """Every line end (CRLF, bare LF, bare CR) as CRLF."""
    crlf = data.count(b"\r\n")
    if crlf == data.count(b"\n") and crlf == data.count(b"\r"):
        return data  # already canonical: counting is much cheaper than rewriting
    return _ANY_EOL.sub(b"\r\n", data)


def to_eol(data: bytes, eol: bytes) -> bytes:
    """CRLF data with ``eol`` line ends (a no-op for CRLF)."""
    return data if eol == b"\r\n" else data.replace(b"\r\n", eol)


def is_7bit_safe(data: bytes) -> bool:
    """No NUL or 8-bit octet, and no line longer than 998 octets (its CR counted)."""
    return data.isascii() and b"\x00" not in data and not has_line_longer(data, _MAX_LINE)


def canonical_content(fields: Sequence[HeaderField], body: bytes) -> bytes:
    """The MIME entity to sign: content headers and body, CRLF, 7-bit safe.

    The fast path keeps the bytes and only fixes line ends; an entity with 8-bit data
    or overlong lines is parsed and each such leaf part re-encoded, text as
    quoted-printable, everything else as base64 (RFC 8551 section 3.1.3).
    """
    head = b"".join(f.raw + b"\r\n" for f in fields)
    entity = to_crlf(head) + b"\r\n" + to_crlf(body) if head else b"\r\n" + to_crlf(body)
    if is_7bit_safe(entity):
        return entity
    return to_crlf(_reencode(head, body))


def _reencode(head: bytes, body: bytes) -> bytes:
    message = email.message_from_bytes(
        to_crlf(head) + b"\r\n" + body, policy=email.policy.compat32
    )
    for part in message.walk():
        if part.is_multipart():
            if (part.get("Content-Transfer-Encoding") or "").strip().lower() in {
                "8bit", "binary"
            }:
                part.replace_header("Content-Transfer-Encoding", "7bit")
            continue
        # The payload as parsed, 8-bit octets kept as surrogates: get_payload() would
        # decode it with the part's charset.
        payload = getattr(part, "_payload", "")
        raw = payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
        if is_7bit_safe(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            data = raw
        if part.get_content_maintype() == "text":
            encoded = quopri.encodestring(to_crlf(data).replace(b"\r\n", b"\n"))
            cte = "quoted-printable"
        else:
            encoded = base64.encodebytes(data)
            cte = "base64"
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = cte
        part.set_payload(encoded.decode("ascii"))
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, maxheaderlen=0).flatten(message, linesep="\r\n")
    return out.getvalue()


def split_multipart(body: bytes, boundary: str) -> tuple[list[bytes], bool]:
    """The body parts of a multipart body, exactly as written between the delimiters.

    The line end before each delimiter belongs to the delimiter (RFC 2046 section
    5.1.1), so a part is the bytes after a delimiter line and before the next line
    end-plus-delimiter. The flag says whether the close delimiter was found.
    """
    marker = b"--" + boundary.encode("ascii", "replace")
    parts: list[bytes] = []
    start: int | None = None
    pos = 0
    while (found := body.find(marker, pos)) >= 0:
        pos = found + len(marker)
        if found == 0:
            part_end = 0
        elif body[found - 1:found] == b"\n":
            part_end = found - 2 if body[found - 2:found] == b"\r\n" else found - 1
        else:
            continue  # not at the start of a line
        line_end = body.find(b"\n", pos)
        rest = body[pos:len(body) if line_end < 0 else line_end].rstrip(b"\r")
        is_close = rest.startswith(b"--")
        if (rest[2:] if is_close else rest).strip(b" \t"):
            continue  # a longer boundary that only starts like ours
        if start is not None:
            parts.append(body[start:part_end])
        if is_close:
            return parts, True
        start = pos = len(body) if line_end < 0 else line_end + 1
    return parts, False


def base64_lines(data: bytes, eol: bytes) -> bytes:
    """Base64 in 76-character lines, each ended with ``eol``."""
    text = base64.b64encode(data)
    return b"".join(
        text[i:i + _BASE64_LINE] + eol for i in range(0, len(text), _BASE64_LINE)
    )


def walk_types(raw: bytes, *, limit: int = 500) -> Iterable[tuple[str, str]]:
    """(part number, content type) of each part below the top, for spotting nested signatures.

    message/rfc822 parts are entered; the walk stops after ``limit`` parts.
    """
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    count = 0
    stack: list[tuple[str, Message]] = [("", message)]
    while stack and count < limit:
        number, part = stack.pop()
        count += 1
        if number:
            yield number, part.get_content_type()
        payload = part.get_payload()
        if isinstance(payload, list):
            prefix = f"{number}." if number else ""
            stack.extend(
                (f"{prefix}{i}", child) for i, child in reversed(list(enumerate(payload, 1)))
                if isinstance(child, Message)
            )
