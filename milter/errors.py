"""Errors raised by milter/.

    MilterError          anything the service could not do
    ├── ConfigError      the configuration file is unreadable or invalid
    └── NextHopError     the next hop could not take the message (temporary or not)
"""

from __future__ import annotations


class MilterError(Exception):
    """The service could not do what was asked."""


class ConfigError(MilterError):
    """The configuration is invalid; ``problems`` lists each as "key.path: reason"."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} configuration error(s):\n{lines}")


class NextHopError(MilterError):
    """The next hop refused or failed; ``code`` is its SMTP code (4xx or 5xx)."""

    def __init__(self, code: int, enhanced: str, text: str) -> None:
        self.code = code
        self.enhanced = enhanced
        self.text = text
        super().__init__(f"next hop answered {code} {enhanced} {text}".rstrip())

    @property
    def is_permanent(self) -> bool:
        """True for a 5xx answer: pass it back; 4xx and failures mean retry later."""
        return 500 <= self.code < 600
