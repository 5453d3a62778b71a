"""HTML attachments that build a file in the browser (policies/smuggling.py)."""

from __future__ import annotations

from typing import ClassVar

from policies import reasons
from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, violation
from policies.smuggling import is_html, smuggling_signs


class HtmlSmuggling:
    """Flags HTML attachments whose script or links hand the reader a file."""

    name: ClassVar[str] = "html-smuggling"
    description: ClassVar[str] = (
        "An HTML attachment builds a file in the browser: script or a download link "
        "together with a payload (a data: URI of a program or document type, or a large "
        "base64 blob), the way malware is slipped past attachment filters."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """A violation for an HTML attachment that shows both signs."""
        if not is_html(part):
            return []
        signs = smuggling_signs(part.data)
        if signs is None:
            return []
        return [violation(self.name, reasons.HTML_SMUGGLING(signs=str(signs)), part)]
