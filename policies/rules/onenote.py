"""OneNote sections, blocked by default as mature gateways do (policies/onenote.py)."""

from __future__ import annotations

from typing import ClassVar

from policies import reasons
from policies.model import Part, Violation
from policies.onenote import is_onenote
from policies.rules.base import Context, RuleSettings, Scope, violation

_NAMES = (".one", ".onepkg")


class OneNote:
    """Flags OneNote sections and packages, by content or by name."""

    name: ClassVar[str] = "onenote"
    description: ClassVar[str] = (
        "The attachment is a OneNote section or package (.one, .onepkg): a file embedded in "
        "a page runs when clicked, and OneNote has carried much malware since Office "
        "macros were blocked. The files inside are also inspected."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """A violation for a OneNote section (its bytes) or a name OneNote opens."""
        if is_onenote(part):
            return [violation(self.name, reasons.ONENOTE_SECTION(), part)]
        name = (part.filename or "").lower().rstrip(". ")
        if part.is_attachment and name.endswith(_NAMES):
            return [violation(self.name, reasons.ONENOTE_NAME(name=repr(part.filename)), part)]
        return []
