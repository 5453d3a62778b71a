"""One finding of ``congvu doctor``: its level, where, what, and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

#: Warn about certificates and CRLs that expire within this many days (``doctor --days``).
EXPIRY_DAYS = 30


class Level(IntEnum):
    """How bad one finding is; the worst one is the exit code."""

    OK = 0
    WARNING = 1
    ERROR = 2


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's outcome: its level, where (a key path or file), what, and the fix."""

    level: Level
    where: str
    message: str
    fix: str = ""

    def line(self) -> str:
        """The one line the doctor prints for this finding."""
        text = f"{self.level.name:<7} {self.where}: {self.message}"
        return f"{text}; fix: {self.fix}" if self.fix else text


def ok(where: str, message: str) -> Finding:
    """An OK finding."""
    return Finding(Level.OK, where, message)


def warn(where: str, message: str, fix: str = "") -> Finding:
    """A warning, with its fix."""
    return Finding(Level.WARNING, where, message, fix)


def error(where: str, message: str, fix: str = "") -> Finding:
    """An error, with its fix."""
    return Finding(Level.ERROR, where, message, fix)
