"""Text typed in a legacy Vietnamese font encoding (policies/legacy.py)."""

from __future__ import annotations

from typing import ClassVar

from policies import reasons
from policies.legacy import legacy_encoding
from policies.markings import body_text
from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, violation

_TEXT_BODIES = ("text/plain", "text/html")


class LegacyEncodingRule:
    """Notes a subject or text body typed in TCVN3 or VNI instead of Unicode."""

    name: ClassVar[str] = "legacy-encoding"
    description: ClassVar[str] = (
        "The subject or a text body is Vietnamese typed in a legacy font encoding (TCVN3, "
        "VNI) instead of Unicode (TCVN 6909:2001): it reads as Western letters without "
        "the font."
    )
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """A violation for the subject, and for each text body, in a legacy encoding."""
        found = []
        encoding = legacy_encoding(ctx.subject)
        if encoding:
            found.append(Violation.of(self.name, reasons.LEGACY_SUBJECT(encoding=encoding)))
        for body in ctx.parts:
            if body.is_attachment or body.member is not None or \
                    body.content_type not in _TEXT_BODIES:
                continue
            encoding = legacy_encoding(body_text(body.data, body.content_type))
            if encoding:
                found.append(violation(self.name, reasons.LEGACY_TEXT(encoding=encoding), body))
        return found
