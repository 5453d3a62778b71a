"""What ``config check`` and ``serve`` verify locally before any mail is taken.

DNS and remote problems are ``doctor``'s warnings, never reasons to refuse mail.
"""

from __future__ import annotations

import os
from pathlib import Path

from milter.config import CongvuConfig, NextHopKind


def _writable_dir(path: Path, what: str) -> str | None:
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"{what}: {existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{what}: {existing} is not writable by this user"
    return None


def check_locally(config: CongvuConfig) -> list[str]:
    """Every local problem with its key path; empty when the service can start."""
    problems: list[str] = []
    problem = _writable_dir(config.data_dir, "service.data_dir")
    if problem:
        problems.append(problem)
    if config.next_hop.kind is NextHopKind.MAILDIR:
        problem = _writable_dir(config.next_hop.maildir, "next_hop.maildir")
        if problem:
            problems.append(problem)
    return problems
