"""The one seam between the console and milter/: releasing a held message."""

from __future__ import annotations

from typing import Protocol


class Releaser(Protocol):
    """What releases a held message: sends it on through the signing stages to the
    next hop, audits the release (with who and why), removes it from the quarantine,
    and returns the next hop's reply. milter/ provides it; any failure raises (the
    message stays held).
    """

    def __call__(self, qid: str, actor: str, reason: str) -> str:
        """Release ``qid`` on behalf of ``actor`` for ``reason``; return the next hop's
        reply."""
        ...
