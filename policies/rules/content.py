"""Rules about what the bytes are: detected types, lying extensions, active content."""

from __future__ import annotations

from typing import ClassVar

from policies import reasons
from policies.archives import ENCRYPTED_MEMBER
from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, violation
from policies.rules.names import extension

_OFFICE = (
    "application/msword",
    "application/vnd.ms-",
    "application/vnd.openxmlformats",
    "application/vnd.oasis.opendocument",
    "application/x-ole-storage",
    "text/rtf",
    "text/html",
    "text/plain",
    "application/x-ms-encrypted-office",
    "application/zip",
)
_ARCHIVE = (
    "application/zip",
    "application/vnd.rar",
    "application/x-7z-compressed",
    "application/gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/x-tar",
    "application/vnd.ms-cab-compressed",
    "application/x-iso9660-image",
)
#: extension -> the detected types (prefixes) its content may have.
FAMILIES: dict[str, tuple[str, ...]] = {
    "pdf": ("application/pdf",),
    **{
        ext: _OFFICE
        for ext in [
            "doc",
            "docx",
            "docm",
            "dot",
            "dotx",
            "xls",
            "xlsx",
            "xlsm",
            "xlt",
            "xltx",
            "ppt",
            "pptx",
            "pptm",
            "odt",
            "ods",
            "odp",
            "rtf",
        ]
    },
    **{ext: ("image/",) for ext in ["jpg", "jpeg", "png", "gif", "tif", "tiff"]},
    **{
        ext: _ARCHIVE for ext in ["zip", "rar", "7z", "gz", "tgz", "tar", "bz2", "xz", "cab", "iso"]
    },
    **{ext: ("text/", "application/x-empty") for ext in ["txt", "csv", "xml"]},
}


def _fits(detected: str, allowed: tuple[str, ...]) -> bool:
    return detected.startswith(allowed)


class BlockedType:
    """Blocks executable and script content, whatever the name says."""

    name: ClassVar[str] = "blocked-type"
    description: ClassVar[str] = (
        "The content is a program or a script (PE, ELF, Mach-O, MSI, LNK, JavaScript, "
        "VBScript, PowerShell, batch, HTA, shell), detected from the bytes."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        self.blocked = settings.blocked_types

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        d = part.detection
        if d.is_executable or d.is_script or d.type in self.blocked:
            code = (reasons.PROGRAM if d.is_executable else reasons.SCRIPT if d.is_script
                    else reasons.BLOCKED_TYPE)
            hint = f" ({', '.join(d.findings)})" if d.findings else ""
            return [violation(self.name, code(type=str(d.type), findings=hint), part)]
        return []


class ExtensionMismatch:
    """Flags a document extension whose content is something else."""

    name: ClassVar[str] = "extension-mismatch"
    description: ClassVar[str] = (
        "The name says one kind of document (.pdf, .docx, .jpg, .zip, ...) and the bytes "
        "say another."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if part.detection.type == ENCRYPTED_MEMBER:
            return []
        for name in part.filenames:
            ext = extension(name)
            allowed = FAMILIES.get(ext)
            if allowed and not _fits(part.detection.type, allowed):
                return [
                    violation(
                        self.name,
                        reasons.EXTENSION_MISMATCH(name=repr(name), ext=ext,
                                                   type=str(part.detection.type)),
                        part,
                        filename=name,
                    )
                ]
        return []


class AllowedTypes:
    """Allow-list mode: only the listed document types may pass."""

    name: ClassVar[str] = "allowed-types"
    description: ClassVar[str] = (
        "Only attachments whose extension is on the allowed list, and whose content "
        "matches it, may pass (the directive wants documents: pdf, docx, xlsx, ...)."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        self.allowed = settings.allowed_extensions

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if not part.is_attachment:
            return []
        if not part.filenames:
            if any(_fits(part.detection.type, FAMILIES.get(e, ())) for e in self.allowed):
                return []
            return [
                violation(
                    self.name,
                    reasons.UNNAMED_NOT_ALLOWED(type=str(part.detection.type)),
                    part,
                )
            ]
        for name in part.filenames:
            ext = extension(name)
            if ext not in self.allowed:
                return [
                    violation(
                        self.name,
                        reasons.TYPE_NOT_ALLOWED(ext=ext or "(none)", name=repr(name)),
                        part,
                        filename=name,
                    )
                ]
        return []


class Macro:
    """Flags Office documents that carry macros (VBA, OOXML vbaProject.bin, ODF Basic)."""

    name: ClassVar[str] = "macro"
    description: ClassVar[str] = "The document carries macros (code that runs when opened)."
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if part.detection.has_macros:
            found = ", ".join(part.detection.findings) or "macros"
            return [violation(self.name, reasons.MACROS(found=found), part)]
        return []


class PdfJavascript:
    """Flags PDFs with JavaScript or actions that launch programs."""

    name: ClassVar[str] = "pdf-javascript"
    description: ClassVar[str] = (
        "The PDF contains JavaScript or launch actions (/JavaScript, /JS, /Launch, XFA)."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if part.detection.has_pdf_javascript:
            found = ", ".join(f for f in part.detection.findings if f != "/EmbeddedFile")
            return [violation(self.name, reasons.PDF_ACTIVE(found=found), part)]
        return []


class PdfEmbeddedFile:
    """Flags PDFs that carry embedded files (legitimate in PDF/A-3 e-invoices); the files
    themselves are members of the PDF, judged by every rule (policies/embedded.py)."""

    name: ClassVar[str] = "pdf-embedded-file"
    description: ClassVar[str] = (
        "The PDF carries embedded files (/EmbeddedFile); each is also inspected as an "
        "attachment would be."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        if "/EmbeddedFile" in part.detection.findings:
            return [violation(self.name, reasons.PDF_EMBEDDED(), part)]
        return []


class EncryptedOffice:
    """Flags encrypted Office documents, which cannot be inspected."""

    name: ClassVar[str] = "encrypted-office"
    description: ClassVar[str] = (
        "The Office document is password-protected, so its content cannot be inspected."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        d = part.detection
        if d.is_encrypted and d.type != ENCRYPTED_MEMBER and not d.is_archive:
            return [violation(self.name, reasons.ENCRYPTED_DOCUMENT(type=str(d.type)), part)]
        return []
