r"""The readings of other MIME parsers, for the ambiguous-MIME corpus: the leaves each
shows (media type, transfer encoding as that parser takes it, the names and charsets it gives).

Python's email package is read here in-process; Dovecot's reading is its IMAP
BODYSTRUCTURE (RFC 3501 7.4.2), fetched from a real Dovecot by the e2e test; Postfix's
is the list of MIME header fields its cleanup daemon hands to ``mime_header_checks``
(what an administrator's ``/name=.*\.exe/ REJECT`` rule would see), logged by a real
Postfix; the JavaScript parsers' are the attachments they offer (tests/js).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from email.message import Message
from typing import Any

Leaf = list[Any]  # [media type, transfer encoding, [names], [charsets]]


def python_leaves(raw: bytes, policy_name: str) -> list[Leaf]:
    """The leaves Python's email package shows under policy ``compat32`` or ``default``."""
    policy = email.policy.compat32 if policy_name == "compat32" else email.policy.default
    message = email.message_from_bytes(raw, policy=policy)
    leaves: list[Leaf] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        # what get_payload(decode=True) compares against: the field's text, lower case
        cte = str(part.get("content-transfer-encoding", "")).strip().lower()
        charset = part.get_content_charset()
        leaves.append([part.get_content_type(), cte, _python_names(part),
                       [charset] if charset else []])
    return leaves


def _python_names(part: Message) -> list[str]:
    names = []
    for found in (part.get_filename(), part.get_param("name")):
        if found is None:
            continue
        value = email.utils.collapse_rfc2231_value(found)  # type: ignore[arg-type]
        if value and value not in names:
            names.append(value)
    return names


_TOKEN = re.compile(rb'\s*(\(|\)|NIL|"(?:[^"\\]|\\.)*"|\{\d+\}\r\n|[^\s()"]+)')


def parse_sexp(data: bytes) -> Any:
    """An IMAP parenthesised list as nested Python lists of str (NIL: None)."""
    stack: list[list[Any]] = [[]]
    pos = 0
    while pos < len(data):
        match = _TOKEN.match(data, pos)
        if match is None:
            break
        token = match.group(1)
        pos = match.end()
        if token == b"(":
            stack.append([])
        elif token == b")":
            done = stack.pop()
            stack[-1].append(done)
        elif token == b"NIL":
            stack[-1].append(None)
        elif token.startswith(b"{"):
            size = int(token[1:-3])
            stack[-1].append(data[pos : pos + size].decode("utf-8", "replace"))
            pos += size
        elif token.startswith(b'"'):
            stack[-1].append(re.sub(rb"\\(.)", rb"\1", token[1:-1]).decode("utf-8", "replace"))
        else:
            stack[-1].append(token.decode("ascii", "replace"))
    return stack[0]


def dovecot_leaves(fetched: bytes) -> list[Leaf]:
    """The leaves of a FETCH (BODYSTRUCTURE) response, as Dovecot reads the message."""
    _, items = parse_sexp(fetched)[:2]  # "1 (BODYSTRUCTURE (...))"
    structure = items[items.index("BODYSTRUCTURE") + 1]
    leaves: list[Leaf] = []
    _collect(structure, leaves)
    return leaves


def _params(values: list[Any] | None) -> list[tuple[str, str]]:
    values = values or []
    return [(values[k].lower(), values[k + 1]) for k in range(0, len(values) - 1, 2)]


def _collect(body: list[Any], leaves: list[Leaf]) -> None:
    if isinstance(body[0], list):  # multipart: its bodies first, then the subtype
        for child in body:
            if not isinstance(child, list):
                break
            _collect(child, leaves)
        return
    media = f"{body[0]}/{body[1]}".lower()
    if media == "message/rfc822" and len(body) > 8 and isinstance(body[8], list):
        _collect(body[8], leaves)  # the message inside, as Python's walk shows it
        return
    names = [v for k, v in _params(body[2]) if k.startswith("name")]
    # after the seven basic fields: text has a line count, message/rfc822 an envelope,
    # a body and a line count; then MD5 and the disposition (RFC 3501 7.4.2)
    extra = 1 if media.startswith("text/") else 3 if media == "message/rfc822" else 0
    extension = body[7 + extra :]
    disposition = extension[1] if len(extension) > 1 else None
    if isinstance(disposition, list) and len(disposition) > 1:
        names += [v for k, v in _params(disposition[1]) if k.startswith("filename")]
    charsets = [v.lower() for k, v in _params(body[2]) if k == "charset"]
    leaves.append([media, (body[5] or "").lower(), list(dict.fromkeys(names)),
                   list(dict.fromkeys(charsets))])


#: A line of Postfix's log for a header its MIME reader handed to the header checks
#: (``WARN`` action): the field as logged (Postfix cuts it at 200 characters), then the
#: client and envelope Postfix appends.
POSTFIX_WARNING = re.compile(
    r"^.*?: (?P<queue_id>[0-9A-F]+): warning: header (?P<field>.*?) "
    r"from [^ ]*\[127\.0\.0\.1\]; from=<")


def postfix_fields(log: str, queue_id: str) -> list[str]:
    """The MIME header fields Postfix's MIME reader (cleanup's state machine) handed to
    ``mime_header_checks`` for the message queued as ``queue_id``, in order."""
    fields = []
    for line in log.splitlines():
        match = POSTFIX_WARNING.match(line)
        if match and match["queue_id"] == queue_id:
            fields.append(match["field"])
    return fields


def field_names(fields: list[str]) -> list[str]:
    """The attachment names header fields give (name=, filename=), as Python's email
    package reads each field alone."""
    names: list[str] = []
    for field in fields:
        part = email.message_from_string(f"{field}\n\n", policy=email.policy.compat32)
        names += [n for n in _python_names(part) if n not in names]
    return names
