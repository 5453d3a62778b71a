"""The bytes of every attachment and archive member, for stages that read documents.

The same walk and archive listing `decide` uses (so `sha256` here equals the one in
`Decision.attachments`), without rules: milter's document-signature stage verifies
what this yields. Bounded like the walk (`WalkLimits`, `ArchiveLimits`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from policies.archives import ArchiveLimits, expand_parts
from policies.detect import detect
from policies.walk import WalkLimits, walk


@dataclass(frozen=True, slots=True)
class AttachmentBytes:
    """One attachment or archive member with its decoded bytes."""

    #: the MIME path ("1.2"), as in `Attachment.path`
    path: str
    #: the path inside an archive ("dir/file.pdf"), None for a MIME part
    member: str | None
    filename: str | None
    data: bytes

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes: the key the audit record uses."""
        return hashlib.sha256(self.data).hexdigest()


def attachment_bytes(raw: bytes, *, walk_limits: WalkLimits | None = None,
                     archive_limits: ArchiveLimits | None = None
                     ) -> Iterator[AttachmentBytes]:
    """Every attachment of the message ``raw`` and every member of the archives among
    them, in walk order. Never raises on malformed input (what cannot be read is
    simply not yielded)."""
    found = walk(raw, walk_limits)
    parts = [p for p in found.parts if p.is_attachment]
    if not parts:
        return
    for part in parts:
        # libmagic is not needed: only archives are expanded, and they have signatures.
        part.detection = detect(part.data, is_attachment=True, use_libmagic=False)
    for part in expand_parts(parts, archive_limits or ArchiveLimits()):
        if part.is_attachment and part.data:
            yield AttachmentBytes(part.path, part.member, part.filename, part.data)
