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
ARCHIVE_TOO_DEEP = ReasonCode(
    "archive.too-deep", N_("archives nested deeper than {limit} levels; the rest was not "
                           "inspected"))
ARCHIVE_RATIO = ReasonCode("archive.ratio",
                           N_("member {name} expands {times} times (limit {limit})"))
ZIP_UNREADABLE = ReasonCode("archive.zip-unreadable", N_("zip cannot be read: {detail}"))

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

# -- the MIME structure (the walk's findings: malformed-mime, ambiguous-mime) -------------------
MIME_TOO_COSTLY = ReasonCode(
    "mime.too-costly", N_("the MIME structure is too costly to inspect (repeated readings of "
                          "the same bytes); the rest was not inspected"))
MIME_TOO_MANY_PARTS = ReasonCode(
    "mime.too-many-parts", N_("more than {limit} MIME parts; the rest was not inspected"))
MIME_TOO_DEEP = ReasonCode(
    "mime.too-deep",
    N_("MIME nesting deeper than {limit} levels at part {part}; the rest was not inspected"))
MIME_NO_BLANK_LINE = ReasonCode("mime.no-blank-line",
                                N_("the part has no blank line after its headers"))
MIME_NOT_A_FIELD = ReasonCode("mime.not-a-field",
                              N_("a line in the header block is not a header field"))
MIME_HEADER_TWO_WAYS = ReasonCode("mime.header-two-ways",
                                  N_("the header block reads two ways: {detail}"))
MIME_TYPE_PROBLEM = ReasonCode("mime.content-type-problem", N_("Content-Type: {detail}"))
MIME_DISPOSITION_PROBLEM = ReasonCode("mime.content-disposition-problem",
                                      N_("Content-Disposition: {detail}"))
MIME_NOT_TYPE_SUBTYPE = ReasonCode("mime.not-type-subtype",
                                   N_("Content-Type {type} is not type/subtype"))
MIME_NO_BOUNDARY = ReasonCode("mime.no-boundary", N_("{type} without a boundary parameter"))
MIME_EMPTY_BOUNDARY = ReasonCode(
    "mime.empty-boundary",
    N_("an empty boundary parameter (RFC 2046 5.1.1: 1 to 70 characters); Python and Dovecot "
       "take every line starting with -- as a delimiter"))
MIME_SMIME_UNREADABLE = ReasonCode("mime.smime-unreadable",
                                   N_("S/MIME signed data cannot be read"))
MIME_NESTED_BOUNDARY = ReasonCode(
    "mime.nested-boundary", N_("a nested boundary repeats an enclosing one (RFC 2046 5.1.1)"))
MIME_BOUNDARY_ABSENT = ReasonCode("mime.boundary-absent",
                                  N_("the multipart boundary never occurs in the body"))
MIME_NO_CLOSE = ReasonCode("mime.no-close", N_("the closing boundary is missing"))
MIME_AFTER_CLOSE = ReasonCode("mime.after-close", N_("parts follow the closing boundary"))
MIME_UNKNOWN_ENCODING = ReasonCode("mime.unknown-encoding",
                                   N_("unknown Content-Transfer-Encoding {encoding}"))
AMBIGUOUS_TYPES = ReasonCode(
    "ambiguous.content-types",
    N_("{count} different Content-Type fields (Python and Dovecot read the first): {values}"))
AMBIGUOUS_DISPOSITIONS = ReasonCode(
    "ambiguous.content-dispositions",
    N_("different Content-Disposition fields (Python and Dovecot read the first): {values}"))
AMBIGUOUS_ENCODED_MULTIPART = ReasonCode(
    "ambiguous.encoded-multipart",
    N_("a {type} with Content-Transfer-Encoding {encoding} (RFC 2045 6.4: only 7bit, 8bit or "
       "binary): Python and Dovecot read its body as it stands, a reader that decodes it "
       "first sees other parts"))
AMBIGUOUS_ENCODED_MESSAGE = ReasonCode(
    "ambiguous.encoded-message",
    N_("a {type} with Content-Transfer-Encoding {encoding} (RFC 2046 5.2.1: only 7bit, 8bit "
       "or binary): Python and Dovecot show it undecoded, a reader that decodes it first "
       "shows the message inside"))
AMBIGUOUS_DELIMITERS = ReasonCode(
    "ambiguous.delimiters",
    N_("boundary lines read two ways: {strict} delimiter lines by RFC 2046, {lenient} for a "
       "reader that takes any line starting with the boundary (Dovecot) or ends lines at a "
       "bare CR (Python)"))
AMBIGUOUS_SPACE_BEFORE_COLON = ReasonCode(
    "ambiguous.space-before-colon",
    N_("line {line} of the header block has white space before its colon: Python ends the "
       "header there, Dovecot reads it as a field"))
#: a field that reads several ways (policies/ambiguity.py's ``describe``), by its name
AMBIGUOUS_FIELD = {
    field: ReasonCode(f"ambiguous.{code}", template) for field, code, template in (
        ("Content-Transfer-Encoding", "transfer-encoding",
         N_("Content-Transfer-Encoding reads {count} ways, so mail programs disagree on "
            "the message: {readings}")),
        ("the media type", "media-type",
         N_("the media type reads {count} ways, so mail programs disagree on the message: "
            "{readings}")),
        ("the boundary parameter", "boundary",
         N_("the boundary parameter reads {count} ways, so mail programs disagree on the "
            "message: {readings}")),
        ("the attachment's name", "name",
         N_("the attachment's name reads {count} ways, so mail programs disagree on the "
            "message: {readings}")),
        ("the charset", "charset",
         N_("the charset reads {count} ways, so mail programs disagree on the message: "
            "{readings}")),
    )
}

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
    ARCHIVE_TOO_DEEP, ARCHIVE_RATIO, ZIP_UNREADABLE, MIME_TOO_COSTLY, MIME_TOO_MANY_PARTS,
    MIME_TOO_DEEP, MIME_NO_BLANK_LINE, MIME_NOT_A_FIELD,
    MIME_HEADER_TWO_WAYS, MIME_TYPE_PROBLEM, MIME_DISPOSITION_PROBLEM, MIME_NOT_TYPE_SUBTYPE,
    MIME_NO_BOUNDARY, MIME_EMPTY_BOUNDARY, MIME_SMIME_UNREADABLE, MIME_NESTED_BOUNDARY,
    MIME_BOUNDARY_ABSENT, MIME_NO_CLOSE, MIME_AFTER_CLOSE, MIME_UNKNOWN_ENCODING,
    AMBIGUOUS_TYPES, AMBIGUOUS_DISPOSITIONS, AMBIGUOUS_ENCODED_MULTIPART,
    AMBIGUOUS_ENCODED_MESSAGE, AMBIGUOUS_DELIMITERS, AMBIGUOUS_SPACE_BEFORE_COLON,
    *AMBIGUOUS_FIELD.values(),
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
