"""Rules about the message as a whole and about what could not be read."""

from __future__ import annotations

from typing import ClassVar

from policies import reasons
from policies.archives import ENCRYPTED_MEMBER
from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, violation, walk_defects


class AttachmentSize:
    """Limits the size of each attachment (decoded bytes)."""

    name: ClassVar[str] = "attachment-size"
    description: ClassVar[str] = "An attachment is larger than the configured maximum."
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        self.limit = settings.max_attachment_size

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        # archive members are bounded by archive-limits, not by this rule.
        if part.member is None and part.size > self.limit:
            return [violation(self.name, reasons.ATTACHMENT_SIZE(size=part.size,
                                                                 limit=self.limit), part)]
        return []


class MessageSize:
    """Limits the size of the whole message."""

    name: ClassVar[str] = "message-size"
    description: ClassVar[str] = "The message is larger than the configured maximum."
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        self.limit = settings.max_message_size

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if ctx.raw_size > self.limit:
            return [Violation.of(self.name, reasons.MESSAGE_SIZE(size=ctx.raw_size,
                                                                limit=self.limit))]
        return []


class AttachmentCount:
    """Limits how many attachments one message may carry."""

    name: ClassVar[str] = "attachment-count"
    description: ClassVar[str] = "The message carries more attachments than configured."
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        self.limit = settings.max_attachments

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if ctx.attachment_count > self.limit:
            return [Violation.of(self.name, reasons.ATTACHMENT_COUNT(
                count=ctx.attachment_count, limit=self.limit))]
        return []


class MalformedMime:
    """Reports what the MIME walk could not read: the part is suspicious."""

    name: ClassVar[str] = "malformed-mime"
    description: ClassVar[str] = (
        "The message's MIME structure is broken or ambiguous (missing or odd boundaries, "
        "duplicated headers, bad base64, too deep or too many parts), so a mail client "
        "may show something the filter did not inspect."
    )
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        return walk_defects(self.name, ctx)


class SmimeEncrypted:
    """Marks S/MIME (or PGP) encrypted mail, whose content cannot be inspected."""

    name: ClassVar[str] = "smime-encrypted"
    description: ClassVar[str] = (
        "The message is encrypted (S/MIME enveloped data or multipart/encrypted): its "
        "content cannot be inspected."
    )
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if ctx.walk.is_encrypted:
            return [Violation.of(self.name, reasons.ENCRYPTED_MESSAGE())]
        return []


class _DefectRule:
    name: ClassVar[str]

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        return [violation(self.name, d.why or d.reason, part)
                for d in part.defects if d.kind == self.name]


class ArchiveLimits(_DefectRule):
    """Reports archives that hit a limit (depth, members, size, ratio): likely bombs."""

    name: ClassVar[str] = "archive-limits"
    description: ClassVar[str] = (
        "An archive is nested too deep, has too many members, expands too much or too "
        "far (an archive bomb); what lies past the limit was not inspected."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass


class UnreadableArchive(_DefectRule):
    """Reports archives that cannot be listed (bad central directory, truncated)."""

    name: ClassVar[str] = "unreadable-archive"
    description: ClassVar[str] = (
        "An archive cannot be read (corrupt, truncated, unsupported), so its members were "
        "not inspected."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass


class EncryptedArchive:
    """Flags password-protected archive members, which cannot be inspected."""

    name: ClassVar[str] = "encrypted-archive"
    description: ClassVar[str] = (
        "An archive is password-protected, so its members cannot be inspected."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if part.detection.type == ENCRYPTED_MEMBER:
            return [violation(self.name, reasons.ENCRYPTED_MEMBER(), part)]
        return []
