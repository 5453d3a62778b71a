"""Authentication-Results headers (RFC 8601): write ours, remove forged ones.

The milter stage calls, in this order, on inbound mail: verification on the bytes as
received, :func:`remove_authentication_results` (any incoming header claiming our
authserv-id is a forgery, RFC 8601 section 5), then prepends
:func:`authentication_results`. Both work on bytes and never re-serialize the message;
the fields are the ones :func:`mailbase.read_header` read, so a forged result is found
wherever the one reading sees a field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from mailbase import HeaderBlock, read_header

_AR_KEY = b"authentication-results"
_VALUE_SPECIALS = re.compile(r'[\s()<>@,;:\\"/\[\]?=]')


class MethodResult(Protocol):
    """One method's result, as DKIM (and later SPF, DMARC, ARC) results provide it."""

    @property
    def method(self) -> str:
        """The RFC 8601 method name (``dkim``, ``spf``...)."""

    @property
    def result(self) -> Enum:
        """The result; its ``value`` is the RFC 8601 result keyword."""

    @property
    def reason(self) -> str:
        """Why, in words; written as a comment."""

    def properties(self) -> list[tuple[str, str]]:
        """The ``ptype.property=value`` pairs."""


def _comment(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    return f"({text})"


def _value(text: str) -> str:
    if text and _VALUE_SPECIALS.search(text) is None and text.isascii():
        return text
    escaped = re.sub(r"[\x00-\x1f\x7f]+", " ", text.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"{escaped}"'


def authentication_results(authserv_id: str, results: Sequence[MethodResult]) -> bytes:
    """The Authentication-Results header line (CRLF-terminated) for ``results``.

    With no results it says ``none`` (RFC 8601 section 2.2: no method was applied).
    """
    if not re.fullmatch(r"[A-Za-z0-9._-]+", authserv_id):
        raise ValueError(f"invalid authserv-id {authserv_id!r}")
    parts = []
    for one in results:
        words = [f"{one.method}={one.result.value}"]
        if one.reason:
            words.append(_comment(one.reason))
        words.extend(f"{name}={_value(value)}" for name, value in one.properties())
        parts.append(" ".join(words))
    if not parts:
        return f"Authentication-Results: {authserv_id}; none\r\n".encode("ascii", "replace")
    text = f"Authentication-Results: {authserv_id};\r\n\t" + ";\r\n\t".join(parts) + "\r\n"
    return text.encode("utf-8")


def authserv_id_of(value: bytes) -> str | None:
    """The authserv-id an Authentication-Results value claims (comments ignored)."""
    text = value.replace(b"\r\n", b"").decode("utf-8", "replace")
    text = _strip_comments(text).strip()
    match = re.match(r'"((?:[^"\\]|\\.)*)"|([^\s;]+)', text)
    if match is None:
        return None
    found = match.group(1) if match.group(1) is not None else match.group(2)
    return found.lower().rstrip(".")


def _strip_comments(text: str) -> str:
    out, depth, escaped = [], 0, False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def remove_authentication_results(raw: bytes, authserv_id: str, *,
                                  header: HeaderBlock | None = None) -> bytes:
    """``raw`` without the Authentication-Results headers that claim ``authserv_id``.

    Only those header fields are cut out; every other byte is kept as it was. It never
    fails: a malformed header section still loses its forged results.

    :param header: ``raw``'s header as :func:`mailbase.read_header` read it; read here
        when not given.
    :raises ValueError: ``header`` was read from other bytes.
    """
    if header is None:
        header = read_header(raw)
    header.body(raw)  # the misuse check: the block must be this message's
    ours = authserv_id.lower().rstrip(".")
    forged = {id(f) for f in header.fields
              if f.key == _AR_KEY and authserv_id_of(f.unfolded) == ours}
    if not forged:
        return raw
    out, pos, cut = [], 0, 0
    for field in header.fields:
        # fields are in order and each starts a line: the next one is found from here
        start = _line_start_of(raw, field.raw, pos, len(header.raw))
        stop = start + len(field.raw)
        stop += 2 if raw[stop:stop + 2] == b"\r\n" else 1 if raw[stop:stop + 1] == b"\n" else 0
        pos = stop
        if id(field) in forged:
            out.append(raw[cut:start])
            cut = stop
    out.append(raw[cut:])
    return b"".join(out)


def _line_start_of(raw: bytes, text: bytes, pos: int, end: int) -> int:
    """Where ``text`` (a field as read) starts a line of ``raw``, at or after ``pos``."""
    start = raw.find(text, pos, end)
    while start > 0 and raw[start - 1] != 0x0A:
        start = raw.find(text, start + 1, end)
    return start


