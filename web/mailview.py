"""A held message shown safely: decoded headers and the MIME tree as plain data.

Nothing of the message is ever rendered as HTML: the templates escape every value,
and parts are listed (type, name, size), with only text/plain shown, truncated.
Malformed headers or parts are shown as their raw text, never raised.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.message import Message

PREVIEW = 4000


@dataclass(frozen=True, slots=True)
class Part:
    """One MIME part as listed on the page."""

    path: str
    content_type: str
    filename: str | None
    size: int
    preview: str | None


def _text(value: object) -> str:
    raw = str(value)
    try:
        return str(make_header(decode_header(raw)))
    except (ValueError, LookupError, email.errors.MessageError):  # CharsetError too
        return raw


def headers(raw: bytes) -> list[tuple[str, str]]:
    """The header fields, RFC 2047 words decoded where they can be."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [(name, _text(value)) for name, value in msg.items()]


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except (ValueError, LookupError, UnicodeError):
        return "(undecodable)"
    return _text(name) if name else None


def parts(raw: bytes) -> list[Part]:
    """The leaves of the MIME tree, numbered as IMAP does ('1', '2.1', ...)."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    found: list[Part] = []

    def walk(node: Message, path: str, depth: int) -> None:
        if node.is_multipart() and depth < 50:
            payload = node.get_payload()
            for index, child in enumerate(payload if isinstance(payload, list) else [], 1):
                walk(child, f"{path}.{index}" if path else str(index), depth + 1)
            return
        try:
            data = node.get_payload(decode=True)
        except (ValueError, LookupError, UnicodeError):
            data = None
        body = data if isinstance(data, bytes) else b""
        preview = None
        if node.get_content_type() == "text/plain":
            charset = node.get_content_charset() or "utf-8"
            try:
                preview = body[:PREVIEW].decode(charset, errors="replace")
            except LookupError:
                preview = body[:PREVIEW].decode("utf-8", errors="replace")
        found.append(Part(path or "1", node.get_content_type(), _filename(node), len(body),
                          preview))

    walk(msg, "", 0)
    return found
