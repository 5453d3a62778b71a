"""Why a rule found a violation: every reason code of policies/, with its English template.

The code is stored in the audit record and the quarantine's decision beside the English
text (``reason``), so it is stable like a rule name: never renamed, only added. The
template is the English text itself (rendered for logs, notices, JSON) and the msgid of
policies/locale/vi/LC_MESSAGES/congvu-policies.po, where a person reads it in Vietnamese;
its ``{fields}`` are the parameters, each a data value shown as it is (a file name as
``repr`` gives it, so a control character in a name stays visible) or a nested reason.
"""

from __future__ import annotations

from pathlib import Path

from mailbase import N_, Catalogue, Reason, ReasonCode

__all__ = ["CATALOGUE", "REASONS", "at_member", "signature_broken"]

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "locale", "congvu-policies")

# -- names ------------------------------------------------------------------------------
BLOCKED_EXTENSION = ReasonCode("name.blocked-extension", N_("the name {name} ends in .{ext}"))
DOUBLE_EXTENSION = ReasonCode("name.double-extension",
                              N_("the name {name} hides .{hidden} behind .{shown}"))
BIDI_IN_NAME = ReasonCode("name.bidi-controls",
                          N_("the name {name} contains bidi controls {found}"))
CONFUSABLE_NAME = ReasonCode(
    "name.confusable", N_("the name {name} contains look-alike or invisible characters {found}"))
ONENOTE_NAME = ReasonCode("name.onenote", N_("the name {name} is a OneNote file"))

# -- content ------------------------------------------------------------------------------
PROGRAM = ReasonCode("content.program", N_("the content is a program: {type}{findings}"))
SCRIPT = ReasonCode("content.script", N_("the content is a script: {type}{findings}"))
BLOCKED_TYPE = ReasonCode("content.blocked-type",
                          N_("the content is blocked: {type}{findings}"))
EXTENSION_MISMATCH = ReasonCode("content.extension-mismatch",
                                N_("the name {name} says .{ext} but the content is {type}"))
UNNAMED_NOT_ALLOWED = ReasonCode(
    "content.unnamed-not-allowed",
    N_("an unnamed attachment of type {type} is not on the allowed list"))
TYPE_NOT_ALLOWED = ReasonCode("content.type-not-allowed",
                              N_("the type .{ext} of {name} is not on the allowed list"))
MACROS = ReasonCode("content.macros", N_("the document carries macros ({found})"))
PDF_ACTIVE = ReasonCode("content.pdf-active", N_("the PDF contains active content ({found})"))
PDF_EMBEDDED = ReasonCode("content.pdf-embedded-files", N_("the PDF carries embedded files"))
ENCRYPTED_DOCUMENT = ReasonCode("content.encrypted-document",
                                N_("the document is encrypted ({type})"))
ONENOTE_SECTION = ReasonCode("content.onenote", N_("the content is a OneNote section"))
HTML_SMUGGLING = ReasonCode("content.html-smuggling",
                            N_("the HTML builds a file in the browser: {signs}"))

# -- documents' signatures ------------------------------------------------------------------
UNSIGNED_DOCUMENT = ReasonCode("document.unsigned",
                               N_("the document carries no digital signature"))
_SIGNATURE_BROKEN = {
    verdict: ReasonCode(f"document.signature-{verdict}", template)
    for verdict, template in (
        ("invalid", N_("the document's digital signature is invalid")),
        ("untrusted", N_("the document's digital signature is untrusted")),
        ("expired", N_("the document's digital signature is expired")),
        ("revoked", N_("the document's digital signature is revoked")),
        ("modified-after-signing",
         N_("the document's digital signature is modified-after-signing")),
    )
}

# -- the message ------------------------------------------------------------------------------
ATTACHMENT_SIZE = ReasonCode("message.attachment-size",
                             N_("the attachment has {size} bytes (limit {limit})"))
MESSAGE_SIZE = ReasonCode("message.size", N_("the message has {size} bytes (limit {limit})"))
ATTACHMENT_COUNT = ReasonCode("message.attachment-count",
                              N_("the message has {count} attachments (limit {limit})"))
ENCRYPTED_MESSAGE = ReasonCode(
    "message.encrypted", N_("the message is encrypted; its content was not inspected"))
ENCRYPTED_MEMBER = ReasonCode("archive.encrypted-member", N_("the archive member is encrypted"))

# -- markings and encodings ------------------------------------------------------------------
SUBJECT_MARKED = ReasonCode("marking.subject", N_("the subject is marked {degree}"))
TEXT_MARKED = ReasonCode("marking.text", N_("the text is marked {degree}"))
DOCUMENT_MARKED = ReasonCode("marking.document", N_("{document} is marked {degree}"))
PART_MARKED = ReasonCode("marking.part", N_("part {part} is marked {degree}"))
DOCUMENT_UNREADABLE = ReasonCode(
    "marking.unreadable", N_("{document} has no text to check for a classified marking"))
PART_UNREADABLE = ReasonCode(
    "marking.part-unreadable", N_("part {part} has no text to check for a classified marking"))
LEGACY_SUBJECT = ReasonCode("encoding.legacy-subject",
                            N_("the subject is typed in {encoding}, not Unicode"))
LEGACY_TEXT = ReasonCode("encoding.legacy-text",
                         N_("the text is typed in {encoding}, not Unicode"))

# -- where -----------------------------------------------------------------------------------
AT_MEMBER = ReasonCode("at-member", N_("{reason} (at {member})"))

#: every code of policies/ (tests/policies checks each has its Vietnamese)
REASONS: tuple[ReasonCode, ...] = (
    BLOCKED_EXTENSION, DOUBLE_EXTENSION, BIDI_IN_NAME, CONFUSABLE_NAME, ONENOTE_NAME,
    PROGRAM, SCRIPT, BLOCKED_TYPE, EXTENSION_MISMATCH, UNNAMED_NOT_ALLOWED,
    TYPE_NOT_ALLOWED, MACROS, PDF_ACTIVE, PDF_EMBEDDED, ENCRYPTED_DOCUMENT,
    ONENOTE_SECTION, HTML_SMUGGLING, UNSIGNED_DOCUMENT, *_SIGNATURE_BROKEN.values(),
    ATTACHMENT_SIZE, MESSAGE_SIZE, ATTACHMENT_COUNT, ENCRYPTED_MESSAGE, ENCRYPTED_MEMBER,
    SUBJECT_MARKED, TEXT_MARKED, DOCUMENT_MARKED, PART_MARKED, DOCUMENT_UNREADABLE,
    PART_UNREADABLE, LEGACY_SUBJECT, LEGACY_TEXT, AT_MEMBER,
)


def signature_broken(verdict: str) -> Reason:
    """The reason for a document whose signature's verdict is ``verdict`` (one of the
    broken ones: invalid, untrusted, expired, revoked, modified-after-signing).

    :raises KeyError: another verdict (a programming error of the caller).
    """
    return _SIGNATURE_BROKEN[verdict]()


def at_member(reason: Reason, member: str) -> Reason:
    """``reason`` said of a file inside a document or a folder of an archive."""
    return AT_MEMBER(reason=reason, member=member)
