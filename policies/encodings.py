"""Content-Transfer-Encodings, uuencode and TNEF: bytes in, bytes and problems out.

Every decoder returns what it could read plus a problem text when the input was
broken; none raises. Where mail clients could read the same bytes two ways
(base64 that continues after its padding), the decoder returns the longer reading,
so content cannot hide behind a decoder that stops early.
"""

from __future__ import annotations

import binascii
import re
import struct

_B64_VALID = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_WHITESPACE = b" \t\r\n\x0b\x0c"
_PAD_SPLIT = re.compile(rb"(?<==)(?=[^=])")


def decode_base64(data: bytes) -> tuple[bytes, str | None]:
    """Decode base64 leniently; report junk characters, bad padding and hidden tails."""
    compact = data.translate(None, _WHITESPACE)
    problem: str | None = None
    junk = compact.translate(None, _B64_VALID)
    if junk:
        problem = f"{len(junk)} bytes outside the base64 alphabet"
        compact = bytes(b for b in compact if b in _B64_VALID)
    body = compact.rstrip(b"=")
    if b"=" in body:
        # RFC 2045 6.8: "=" only at the end. Some readers stop, others go on: decode
        # every padded chunk so what a lenient client would show is what we check.
        problem = problem or "base64 data continues after its padding"
        return b"".join(_b64_chunk(c)[0] for c in _PAD_SPLIT.split(compact)), problem
    out, chunk_problem = _b64_chunk(compact)
    return out, problem or chunk_problem


def _b64_chunk(chunk: bytes) -> tuple[bytes, str | None]:
    try:
        return binascii.a2b_base64(chunk), None
    except binascii.Error:
        body = chunk.rstrip(b"=")
        body = body[: len(body) - len(body) % 4]
        try:
            return binascii.a2b_base64(body), "base64 data has a bad length or padding"
        except binascii.Error:  # pragma: no cover - a multiple of 4 always decodes
            return b"", "base64 data cannot be decoded"


def decode_qp(data: bytes) -> bytes:
    """Decode quoted-printable (RFC 2045 6.7); stray "=" are kept as they are."""
    return binascii.a2b_qp(data)


def decode_uu_lines(lines: list[bytes]) -> tuple[bytes, str | None]:
    """Decode the lines between `begin` and `end` of a uuencoded block."""
    out = bytearray()
    problem = None
    for line in lines:
        if not line or line in (b"`", b" "):
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Some encoders write lines longer than the length byte says.
            nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:nbytes])
            except binascii.Error:
                problem = "uuencoded line cannot be decoded"
    return bytes(out), problem


_UU_BEGIN = re.compile(rb"^begin(?:-base64)? [0-7]{3,4} ([^\r\n]+)\r?$", re.M)
_UU_END = re.compile(rb"^end\r?$", re.M)


def find_uuencoded(text: bytes, *, limit: int) -> list[tuple[str, bytes, str | None]]:
    """Inline uuencoded files in a text body: (name, bytes, problem) for each block."""
    found: list[tuple[str, bytes, str | None]] = []
    if b"begin " not in text:
        return found
    pos = 0
    while len(found) < limit:
        m = _UU_BEGIN.search(text, pos)
        if not m:
            break
        end = _UU_END.search(text, m.end())
        stop = end.start() if end else len(text)
        lines = [ln.rstrip(b"\r") for ln in text[m.end() : stop].split(b"\n")]
        name = m.group(1).decode("utf-8", "replace").strip()
        if m.group(0).startswith(b"begin-base64"):
            data, problem = decode_base64(b"".join(ln for ln in lines if ln != b"===="))
        else:
            data, problem = decode_uu_lines(lines)
        if end is None:
            problem = problem or "uuencoded block has no end line"
        found.append((name, data, problem))
        pos = end.end() if end else len(text)
    return found


TNEF_SIGNATURE = b"\x78\x9f\x3e\x22"
_ATT_ATTACH_REND_DATA = 0x00069002
_ATT_ATTACH_TITLE = 0x00018010
_ATT_ATTACH_DATA = 0x0006800F
_LVL_ATTACHMENT = 2


def read_tnef(data: bytes, *, limit: int) -> tuple[list[tuple[str, bytes]], str | None]:
    """The attachments inside a TNEF (winmail.dat) stream: (name, bytes) each.

    Reads the attachment-level attributes of the MS-OXTNEF stream: a new
    attachment starts at attAttachRendData, its name is attAttachTitle and its
    content attAttachData. MAPI property blocks are not read.
    """
    if not data.startswith(TNEF_SIGNATURE):
        return [], "TNEF signature missing"
    found: list[tuple[str, bytes]] = []
    name, content = "", b""
    started = False
    pos = 6
    n = len(data)
    while pos + 9 <= n:
        level = data[pos]
        attr_id, length = struct.unpack_from("<II", data, pos + 1)
        start = pos + 9
        end = start + length
        if end + 2 > n:
            return _flush(found, started, name, content), "TNEF attribute runs past the end"
        value = data[start:end]
        pos = end + 2  # two checksum bytes
        if level != _LVL_ATTACHMENT:
            continue
        if attr_id == _ATT_ATTACH_REND_DATA:
            found = _flush(found, started, name, content)
            name, content, started = "", b"", True
            if len(found) >= limit:
                return found, "TNEF has too many attachments"
        elif attr_id == _ATT_ATTACH_TITLE:
            name = value.rstrip(b"\0").decode("cp1252", "replace")
        elif attr_id == _ATT_ATTACH_DATA:
            content, started = value, True
    return _flush(found, started, name, content), None


def _flush(
    found: list[tuple[str, bytes]], started: bool, name: str, content: bytes
) -> list[tuple[str, bytes]]:
    if started and (name or content):
        found.append((name, content))
    return found
