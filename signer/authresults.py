"""Authentication-Results headers (RFC 8601): write ours, remove forged ones.

The milter stage calls, in this order, on inbound mail: verification on the bytes as
received, :func:`remove_authentication_results` (any incoming header claiming our
authserv-id is a forgery, RFC 8601 section 5), then prepends
:func:`authentication_results`. Both work on bytes and never re-serialize the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import Enum
from typing import Protocol

from signer import canon

_HEADER = b"Authentication-Results"
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


def remove_authentication_results(raw: bytes, authserv_id: str) -> bytes:
    """``raw`` without the Authentication-Results headers that claim ``authserv_id``.

    Only those header fields are cut out; every other byte is kept as it was.
    :raises ValueError: the header section is malformed (see :mod:`signer.canon`).
    """
    ours = authserv_id.lower().rstrip(".")
    if _HEADER.lower() not in raw[: _header_end(raw)].lower():
        return raw
    # Work on the original bytes: find each field's span with the same splitting rules
    # as canonicalization, on a CRLF or LF message alike.
    fields, _ = canon.split_message(raw)
    doomed = {i for i, f in enumerate(fields)
              if f.key == _HEADER.lower() and authserv_id_of(f.value) == ours}
    if not doomed:
        return raw
    out, pos = [], 0
    for i, span in enumerate(_field_spans(raw, len(fields))):
        if i in doomed:
            out.append(raw[pos : span[0]])
            pos = span[1]
    out.append(raw[pos:])
    return b"".join(out)


def _header_end(raw: bytes) -> int:
    match = re.search(rb"\r?\n\r?\n", raw)
    return match.start() if match else len(raw)


def _field_spans(raw: bytes, count: int) -> list[tuple[int, int]]:
    """Byte spans (line ending included) of the first ``count`` header fields of ``raw``."""
    spans: list[tuple[int, int]] = []
    pos = 0
    start = 0
    while len(spans) < count:
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end + 1
        nxt = raw[end : end + 1]
        if nxt not in (b" ", b"\t") or end >= len(raw):
            spans.append((start, end))
            start = end
        pos = end
    return spans
