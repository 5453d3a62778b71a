"""The fenced blocks of a Markdown page, for the tests that run a page as written
(docs/merging-provinces.md, deploy/README.md, docs/runbooks.md)."""

from __future__ import annotations

import re


def blocks(text: str) -> list[tuple[str, str]]:
    """The page's fenced blocks with a language: (language, body), in page order."""
    return re.findall(r"^```(\w+)\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)
