"""The bytes of every attachment and archive member, for stages that read documents.

Taken from the same parts `decide` uses (:class:`policies.MessageParts`, so `sha256`
here equals the one in `Decision.attachments`), without rules: milter's
document-signature stage verifies what this yields.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from policies.parts import MessageParts


@dataclass(frozen=True, slots=True)
class AttachmentBytes:
    """One attachment or archive member with its decoded bytes."""

    #: the MIME path ("1.2"), as in `Attachment.path`
    path: str
    #: the path inside an archive ("dir/file.pdf"), None for a MIME part
    member: str | None
    filename: str | None
    data: bytes
    #: the hex SHA-256 of the bytes: the key the audit record uses
    sha256: str


def attachment_bytes(parts: MessageParts) -> Iterator[AttachmentBytes]:
    """Every attachment of the message whose ``parts`` these are and every member of
    the archives among them, in walk order; empty ones are left out."""
    for attachment, part in zip(parts.attachments, parts.attached, strict=True):
        if part.data:
            yield AttachmentBytes(attachment.path, attachment.member, attachment.filename,
                                  part.data, attachment.sha256)
