"""Errors raised by audit/.

    AuditError            anything audit/ could not do (milter answers 451)
    ├── QueryError        a query's filters are invalid; ``field`` and ``value`` say which
    └── KeyFileError      the checkpoint key is missing, unreadable or too open; ``path``
"""

from __future__ import annotations

from pathlib import Path


class AuditError(Exception):
    """audit/ could not do what was asked; the message says what and where."""


class QueryError(AuditError):
    """A query filter is invalid: ``field`` names it, ``value`` is what was given."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"invalid filter {field}={value!r}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class KeyFileError(AuditError):
    """The checkpoint signing key cannot be used; ``path`` is the key file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"checkpoint key {path}: {reason}")
        self.path = path
        self.reason = reason
