"""Large base64 parts, stored once across messages.

The same PDF sent to fifty units is fifty messages whose bytes differ (headers,
boundaries) but whose attachment is the same base64 text. A run of base64 lines whose
decoded bytes exceed :data:`MIN_PART` is stored once, decoded, under the SHA-256 of
those bytes, and the message keeps a reference in its place, but only when encoding
the decoded bytes again (same line length, same line end) gives the run's bytes
exactly: checked when writing, so reading rebuilds the message byte for byte. Any
other run (lines of uneven length, mixed line ends, text after the padding, a
non-canonical last quantum) stays in the message as it is.

The runs are found in the raw bytes, not through a MIME parser: what matters is only
that the run re-encodes exactly, and a parser's view of where a part starts could only
make fewer runs qualify.

A message stored this way is ``CVAD\\x01``, the count of parts (2 bytes, big-endian),
each part's SHA-256 (32 raw bytes), then the manifest as a zstd frame (or sealed, like
any object). The part names are in the clear so that a backup finds the parts without
the key; they are hashes of attachments, which the audit record lists anyway. The
manifest is one JSON line (the segments: ``["text", length]`` or ``["part", sha256,
line_length, line_end, encoded_length]``) and then the text segments, concatenated.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from dataclasses import dataclass

#: parts whose decoded bytes are larger than this are stored once
MIN_PART = 64 * 1024
DEDUPLICATED = b"CVAD\x01"
_COUNT = struct.Struct(">H")
_MAX_PARTS = 0xFFFF
# Full lines of base64 (at least 40 characters: short lines make no attachment); the
# run's last, shorter line and its padding are looked at separately.
_RUN = re.compile(rb"(?:(?<=\n)|\A)(?:[A-Za-z0-9+/]{40,998}\r?\n){16,}")
_LAST = re.compile(rb"(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9+/]*={1,2})\r?\n")


@dataclass(frozen=True, slots=True)
class Run:
    """One run of base64 lines that re-encodes exactly."""

    start: int
    end: int
    decoded: bytes
    line: int
    eol: bytes


def encode(decoded: bytes, line: int, eol: bytes) -> bytes:
    """``decoded`` as base64 in lines of ``line`` characters, each ended by ``eol``."""
    text = base64.b64encode(decoded)
    return b"".join(text[i:i + line] + eol for i in range(0, len(text), line))


def runs(message: bytes) -> list[Run]:
    """The base64 runs of ``message`` worth storing once, in order."""
    if len(message) <= MIN_PART:
        return []
    found: list[Run] = []
    for match in _RUN.finditer(message):
        start, end = match.span()
        if (end - start) * 3 // 4 <= MIN_PART:
            continue
        # the run's last line, shorter (its padding), unless the full lines end it
        last = _LAST.match(message, end)
        longer = None
        if last is not None and last.end() - end <= match.group().index(b"\n") + 1:
            longer = _exact(message, start, last.end())
        run = longer or _exact(message, start, end)
        if run is not None:
            found.append(run)
    return found


def _exact(message: bytes, start: int, end: int) -> Run | None:
    """The run ``message[start:end]`` when it re-encodes exactly, else None."""
    text = message[start:end]
    first = text.index(b"\n")
    eol = b"\r\n" if first and text[first - 1:first] == b"\r" else b"\n"
    line = first + 1 - len(eol)
    if line % 4:
        return None
    try:
        decoded = base64.b64decode(text.replace(b"\r\n", b"").replace(b"\n", b""),
                                   validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(decoded) <= MIN_PART or encode(decoded, line, eol) != text:
        return None
    return Run(start, end, decoded, line, eol)


def manifest(message: bytes, found: list[Run], names: list[str]) -> bytes:
    """The manifest of ``message`` with each run replaced by its part (``names``)."""
    segments: list[list[object]] = []
    texts: list[bytes] = []
    at = 0
    for run, name in zip(found, names, strict=True):
        if run.start > at:
            segments.append(["text", run.start - at])
            texts.append(message[at:run.start])
        segments.append(["part", name, run.line, run.eol.decode(), run.end - run.start])
        at = run.end
    if at < len(message):
        segments.append(["text", len(message) - at])
        texts.append(message[at:])
    return json.dumps({"segments": segments}, separators=(",", ":")).encode() + b"\n" + \
        b"".join(texts)


def header(names: list[str]) -> bytes:
    """The clear header of a deduplicated object: magic, count, the parts' names."""
    if len(names) > _MAX_PARTS:
        raise ValueError("too many parts")
    return DEDUPLICATED + _COUNT.pack(len(names)) + b"".join(bytes.fromhex(n) for n in names)


def split(raw: bytes) -> tuple[list[str], bytes]:
    """The part names of a deduplicated object and the rest (the manifest's frame).

    :raises ValueError: the header is cut short.
    """
    at = len(DEDUPLICATED)
    (count,) = _COUNT.unpack_from(raw, at)
    at += _COUNT.size
    if len(raw) < at + 32 * count:
        raise ValueError("the list of parts is cut short")
    names = [raw[at + 32 * i:at + 32 * (i + 1)].hex() for i in range(count)]
    return names, raw[at + 32 * count:]


def rebuild(manifest_bytes: bytes, parts: dict[str, bytes]) -> bytes:
    """The message a manifest describes, given its parts' decoded bytes.

    :raises ValueError: the manifest is malformed or names a part not given.
    """
    line_end = manifest_bytes.index(b"\n")
    segments = json.loads(manifest_bytes[:line_end])["segments"]
    texts = memoryview(manifest_bytes)[line_end + 1:]
    out: list[bytes] = []
    at = 0
    for segment in segments:
        if segment[0] == "text":
            out.append(bytes(texts[at:at + int(segment[1])]))
            at += int(segment[1])
        elif segment[0] == "part":
            _, name, line, eol, length = segment
            piece = encode(parts[name], int(line), str(eol).encode())
            if len(piece) != length:
                raise ValueError(f"part {name} does not encode to {length} bytes")
            out.append(piece)
        else:
            raise ValueError(f"unknown segment {segment[0]!r}")
    if at != len(texts):
        raise ValueError("the manifest's text is longer than its segments")
    return b"".join(out)
