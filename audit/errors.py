"""Errors raised by audit/.

    AuditError            anything audit/ could not do
"""

from __future__ import annotations


class AuditError(Exception):
    """audit/ could not do what was asked; the message says what and where."""
