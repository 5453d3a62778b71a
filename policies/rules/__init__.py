"""The rules: one small class each, listed in one literal registry (no scanning)."""

from __future__ import annotations

from policies.rules.ambiguity import AmbiguousMime
from policies.rules.base import Context, Rule, RuleSettings, Scope
from policies.rules.content import (
    AllowedTypes,
    BlockedType,
    EncryptedOffice,
    ExtensionMismatch,
    Macro,
    PdfEmbeddedFile,
    PdfJavascript,
)
from policies.rules.documents import InvalidDocumentSignature, UnsignedDocument
from policies.rules.legacy import LegacyEncodingRule
from policies.rules.markings import ClassifiedMarking, MarkingNotCheckable
from policies.rules.message import (
    ArchiveLimits,
    AttachmentCount,
    AttachmentSize,
    EncryptedArchive,
    MalformedMime,
    MessageSize,
    SmimeEncrypted,
    UnreadableArchive,
)
from policies.rules.names import BidiInName, BlockedExtension, DoubleExtension, LookalikeInName
from policies.rules.onenote import OneNote
from policies.rules.smuggling import HtmlSmuggling

#: rule name -> rule class. Names are stable: they appear in config, JSON and audit rows.
REGISTRY: dict[str, type[Rule]] = {
    "blocked-extension": BlockedExtension,
    "double-extension": DoubleExtension,
    "bidi-in-name": BidiInName,
    "lookalike-in-name": LookalikeInName,
    "blocked-type": BlockedType,
    "extension-mismatch": ExtensionMismatch,
    "allowed-types": AllowedTypes,
    "attachment-size": AttachmentSize,
    "message-size": MessageSize,
    "attachment-count": AttachmentCount,
    "encrypted-archive": EncryptedArchive,
    "encrypted-office": EncryptedOffice,
    "macro": Macro,
    "pdf-javascript": PdfJavascript,
    "pdf-embedded-file": PdfEmbeddedFile,
    "html-smuggling": HtmlSmuggling,
    "onenote": OneNote,
    "archive-limits": ArchiveLimits,
    "unreadable-archive": UnreadableArchive,
    "malformed-mime": MalformedMime,
    "ambiguous-mime": AmbiguousMime,
    "smime-encrypted": SmimeEncrypted,
    "unsigned-document": UnsignedDocument,
    "invalid-document-signature": InvalidDocumentSignature,
    "classified-marking": ClassifiedMarking,
    "marking-not-checkable": MarkingNotCheckable,
    "legacy-encoding": LegacyEncodingRule,
}

__all__ = ["REGISTRY", "Context", "Rule", "RuleSettings", "Scope"]
