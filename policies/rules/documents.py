"""Rules on the digital signatures inside documents, off by default.

They read the verdicts signer/ found, handed to `decide(..., documents=...)` by
milter/ as {attachment sha256: verdict}; an attachment without a verdict there (not a
document, or not verified) is never a violation. Verdict words: "valid", "unsigned",
"invalid", "untrusted", "expired", "revoked", "modified-after-signing", "unverifiable".
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

from policies import reasons
from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, violation

#: verdicts that say a signature is there but does not hold.
BROKEN = frozenset({"invalid", "untrusted", "expired", "revoked", "modified-after-signing"})


def _verdict(part: Part, ctx: Context) -> str | None:
    if not ctx.documents or not part.is_attachment or not part.data:
        return None
    return ctx.documents.get(hashlib.sha256(part.data).hexdigest())


class UnsignedDocument:
    """A document (PDF or Office file) that carries no digital signature at all."""

    name: ClassVar[str] = "unsigned-document"
    description: ClassVar[str] = (
        "A PDF or Office document without a digital signature (needs a paper copy)")
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """A violation for each document whose verdict is ``unsigned``."""
        if _verdict(part, ctx) != "unsigned":
            return []
        return [violation(self.name, reasons.UNSIGNED_DOCUMENT(), part)]


class InvalidDocumentSignature:
    """A document whose signature does not hold (broken, changed, untrusted, expired...)."""

    name: ClassVar[str] = "invalid-document-signature"
    description: ClassVar[str] = (
        "A document whose digital signature is invalid, untrusted, expired, revoked, or "
        "was changed after signing")
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """A violation for each document with a signature and no valid one."""
        verdict = _verdict(part, ctx)
        if verdict not in BROKEN:
            return []
        return [violation(self.name, reasons.signature_broken(verdict), part)]
