"""Errors raised by directory/.

    DirectoryError            anything directory/ could not do
"""

from __future__ import annotations


class DirectoryError(Exception):
    """directory/ could not do what was asked; the message says what and where."""
