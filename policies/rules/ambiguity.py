"""The rule about MIME structure that depends on the program reading it."""

from __future__ import annotations

from typing import ClassVar

from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, walk_defects


class AmbiguousMime:
    """Reports each place where the walk found the message reads two ways
    (:mod:`policies.ambiguity`); the parts of every reading were inspected too."""

    name: ClassVar[str] = "ambiguous-mime"
    description: ClassVar[str] = (
        "The message's MIME structure reads differently in different mail programs "
        "(a boundary with a comment, repeated Content-Type, boundary, name or charset, "
        "boundary lines only some programs accept), so what a recipient sees may not be "
        "what was inspected; every reading's parts were checked."
    )
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        return walk_defects(self.name, ctx)
