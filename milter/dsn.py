"""Delivery Status Notification parameters (RFC 3461), carried through the filter.

Postfix sends RET and ENVID on MAIL FROM and NOTIFY and ORCPT on RCPT TO when the
content filter advertises DSN; without them, a sender's request for a success notice
would be lost at reinjection. The filter checks their syntax and hands them on to a
next hop that also advertises DSN.
"""

from __future__ import annotations

import re

MAIL_PARAMETERS = frozenset({"RET", "ENVID"})
RCPT_PARAMETERS = frozenset({"NOTIFY", "ORCPT"})

# RFC 3461 4: xtext is printable ASCII except "+" and "=", plus "+HH" escapes.
_XTEXT = re.compile(r"^(?:[!-*,-<>-~]|\+[0-9A-F]{2})+$")
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})


class DsnSyntaxError(ValueError):
    """A DSN parameter the client got wrong; the message is the SMTP reply text."""


def _check(name: str, value: str) -> str:
    if name == "RET":
        if value.upper() not in ("FULL", "HDRS"):
            raise DsnSyntaxError("RET must be FULL or HDRS")
        return value.upper()
    if name == "ENVID":
        if len(value) > 100 or not _XTEXT.match(value):
            raise DsnSyntaxError("ENVID must be xtext of at most 100 characters")
        return value
    if name == "NOTIFY":
        words = value.upper().split(",")
        if words != ["NEVER"] and (not set(words) <= _NOTIFY or len(set(words)) != len(words)):
            raise DsnSyntaxError("NOTIFY must be NEVER, or SUCCESS, FAILURE and DELAY")
        return ",".join(words)
    # ORCPT: addr-type ";" xtext (RFC 3461 4.2)
    kind, semicolon, address = value.partition(";")
    if not semicolon or not kind or not _XTEXT.match(address or "-"):
        raise DsnSyntaxError("ORCPT must be addr-type;xtext")
    return value


def split(arg: str, allowed: frozenset[str]) -> tuple[str, list[str]]:
    """``arg`` without its DSN parameters, and those parameters checked ("KEY=value").

    :raises DsnSyntaxError: a malformed or repeated parameter.
    """
    kept: list[str] = []
    found: dict[str, str] = {}
    for index, token in enumerate(arg.split(" ")):
        name, equals, value = token.partition("=")
        if index == 0 or not equals or name.upper() not in allowed:
            kept.append(token)
            continue
        name = name.upper()
        if name in found:
            raise DsnSyntaxError(f"{name} given twice")
        found[name] = _check(name, value)
    return " ".join(kept), [f"{name}={value}" for name, value in found.items()]
