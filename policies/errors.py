"""Errors raised by policies/.

    PolicyError            anything policies/ could not do
"""

from __future__ import annotations


class PolicyError(Exception):
    """policies/ could not do what was asked; the message says what and where."""
