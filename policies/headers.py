"""MIME header fields read at the bytes level: structured values and filenames.

The hot path does not build `email.message.Message` objects (measured: even
compat32 is too slow for the target of 1,500 decisions/s); it takes the few
fields a policy needs from the header block :func:`mailbase.read_header` split
(the one splitter) and decodes filenames with the stdlib helpers
(`email.utils.decode_rfc2231`, `email.header.decode_header`).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from email.errors import MessageError
from email.header import decode_header, make_header

from mailbase import HeaderBlock
from policies.model import Defect

_TOKEN_END = re.compile(r'[;"]')
_ENCODED_WORD = "=?"


@dataclass(slots=True)
class Headers:
    """The header block of one entity: the MIME fields, each with every value seen."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    defects: list[Defect] = field(default_factory=list)

    def all(self, name: str) -> list[str]:
        """Every value of the field `name` (lower case), in order."""
        return self.fields.get(name, [])


def _decode_header_bytes(name: bytes, raw: bytes, defects: list[Defect]) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    try:
        # RFC 6532: 8-bit header text is UTF-8 (many clients write raw UTF-8 names).
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        reason = f"header {name.decode('ascii')} has 8-bit bytes that are not UTF-8"
        defects.append(Defect("malformed-mime", reason))
        return raw.decode("latin-1")


_WANTED = (b"content-", b"mime-version")


def mime_headers(block: HeaderBlock) -> Headers:
    """The MIME fields (Content-*, MIME-Version) of a header block that
    :func:`mailbase.read_header` read; other fields are skipped."""
    headers = Headers()
    for name, value, _ in block.fields:
        key = name.lower()
        if key.startswith(_WANTED):
            if b"\n" in value:
                value = value.replace(b"\r\n", b"").replace(b"\n", b"")
            text = _decode_header_bytes(name, value, headers.defects)
            headers.fields.setdefault(key.decode("ascii"), []).append(text.strip())
    return headers


def split_params(value: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """Split `type/sub; a=b; c="d"` into the main value, its parameters and problems.

    Parameter names are lower-cased; quoted strings are unquoted. The problems are
    human-readable texts (unterminated quotes), never exceptions.
    """
    problems: list[str] = []
    main, _, rest = value.partition(";")
    params: list[tuple[str, str]] = []
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " \t;":
            i += 1
        eq = rest.find("=", i)
        semi = rest.find(";", i)
        if eq < 0 or (0 <= semi < eq):
            # a parameter without "=": skip it (RFC 2045 says tokens only).
            bare = rest[i : semi if semi >= 0 else n].strip()
            if bare:
                problems.append(f"parameter without a value: {bare!r}")
            i = semi + 1 if semi >= 0 else n
            continue
        name = rest[i:eq].strip().lower()
        j = eq + 1
        while j < n and rest[j] in " \t":
            j += 1
        if j < n and rest[j] == '"':
            out: list[str] = []
            j += 1
            while j < n and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < n:
                    j += 1
                out.append(rest[j])
                j += 1
            if j >= n:
                problems.append(f"unterminated quoted value of parameter {name!r}")
            params.append((name, "".join(out)))
            j += 1
            nxt = rest.find(";", j)
            i = nxt + 1 if nxt >= 0 else n
        else:
            m = _TOKEN_END.search(rest, j)
            end = m.start() if m else n
            params.append((name, rest[j:end].strip()))
            i = end + 1 if m else n
    return main.strip(), params, problems


def _pct(text: str, charset: str) -> str:
    return _charset_decode(urllib.parse.unquote_to_bytes(text), charset)


def _charset_decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("latin-1")


def _decode_words(value: str) -> str:
    if _ENCODED_WORD not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, ValueError, MessageError):
        # A broken encoded word (bad base64, or a charset name that is not ASCII such
        # as "=?\x80tf-8?q?...?=", which the standard library raises CharsetError for;
        # both found by the fuzz test) keeps its raw text: the rules still see every
        # readable part of the name.
        return value


def param_values(params: list[tuple[str, str]], wanted: str) -> list[str]:
    """Every value of parameter `wanted`, decoded (RFC 2231 and RFC 2047), in order.

    `name*` and `name*0*`, `name*1` ... continuations (RFC 2231 section 3-4) are
    joined and decoded with their declared charset; a plain `name` may carry
    RFC 2047 encoded words (not allowed, but common). Every distinct reading is
    returned, so a name hidden in one form cannot escape the rules.
    """
    plain: list[str] = []
    extended: list[str] = []
    sections: dict[int, tuple[bool, str]] = {}
    for name, value in params:
        if name == wanted:
            plain.append(_decode_words(value))
        elif name == wanted + "*":
            charset, _, rest = value.partition("'")
            _, _, encoded = rest.partition("'")
            extended.append(_pct(encoded, charset) if rest else _pct(value, ""))
        elif name.startswith(wanted + "*"):
            index, star, _ = name[len(wanted) + 1 :].partition("*")
            if index.isdigit() and int(index) < 1000:
                sections.setdefault(int(index), (bool(star), value))
    if sections:
        charset = ""
        chunks: list[bytes] = []
        for num in sorted(sections):
            is_encoded, value = sections[num]
            if num == 0 and is_encoded:
                charset, _, rest = value.partition("'")
                _, _, value = rest.partition("'")
            # join the bytes first: a multi-byte character may straddle two sections.
            chunks.append(
                urllib.parse.unquote_to_bytes(value) if is_encoded
                else value.encode("utf-8", "surrogateescape")
            )
        extended.append(_charset_decode(b"".join(chunks), charset))
    out = []
    for value in extended + plain:
        if value and value not in out:
            out.append(value)
    return out
