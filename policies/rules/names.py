"""Rules about attachment names: extensions, double extensions, hidden characters.

A name is read as Windows would run it: NFKC-normalised, format characters
(bidi controls, zero-width) dropped, look-alike dots and Cyrillic or Greek
look-alike letters mapped to Latin, trailing dots and spaces removed (Win32 strips
them), case-folded. Vietnamese letters are Latin and survive untouched.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import ClassVar

from policies import reasons
from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, violation

BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
ZERO_WIDTH = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u034f\u2061\u2062\u2063\u2064")
_DOTS = {ord(c): "." for c in "\u3002\uff61\u2024\ufe52\u0701\u0702\u2e33\u00b7\u2027"}
# Letters that render as Latin ones (Unicode confusables, the ones used in names).
_CONFUSABLES = str.maketrans(
    "\u0430\u0441\u0435\u043e\u0440\u0445\u0443\u0456\u0458\u0455\u0501\u04bb\u043a\u043c\u0442"
    "\u0432\u043d\u0261\u03bf\u03b1\u03b5\u03b9\u03ba\u03bd\u03c1\u03c4\u03c7\u03c5\u0475\u051b\u051d",
    "aceopxyijsdhkmtbhgoaeikvptxuvqw",
)
DOCUMENT_EXTENSIONS = frozenset(
    [
        "pdf",
        "doc",
        "docx",
        "docm",
        "xls",
        "xlsx",
        "xlsm",
        "ppt",
        "pptx",
        "odt",
        "ods",
        "odp",
        "rtf",
        "txt",
        "csv",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "tif",
        "tiff",
        "bmp",
        "zip",
        "rar",
        "7z",
        "mp3",
        "mp4",
        "avi",
        "mov",
        "htm",
        "html",
        "xml",
    ]
)


@lru_cache(maxsize=4096)
def normalise(name: str) -> str:
    """`name` as Windows would act on it (see the module docstring)."""
    text = unicodedata.normalize("NFKC", name).translate(_DOTS).translate(_CONFUSABLES)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    return text.rstrip(". \t\r\n\x00").casefold()


def extensions(name: str) -> list[str]:
    """The dot-separated suffixes of the normalised name, innermost first."""
    _, *suffixes = normalise(name).split(".")
    return [s.strip() for s in suffixes if s.strip()]


def extension(name: str) -> str:
    """The last suffix of the normalised name ("" when there is none)."""
    found = extensions(name)
    return found[-1] if found else ""


class BlockedExtension:
    """Blocks attachments whose name ends in a blocked extension (however disguised)."""

    name: ClassVar[str] = "blocked-extension"
    description: ClassVar[str] = (
        "The attachment's name ends in an extension that runs code on Windows or macOS "
        "(.exe, .js, .vbs, ...), ignoring case, trailing dots and spaces and look-alikes."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        self.blocked = settings.blocked_extensions

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        for name in part.filenames:
            ext = extension(name)
            if ext in self.blocked:
                return [violation(self.name, reasons.BLOCKED_EXTENSION(name=repr(name), ext=ext),
                                  part, filename=name)]
        return []


class DoubleExtension:
    """Blocks names like "report.pdf.exe" that show a document and run a program."""

    name: ClassVar[str] = "double-extension"
    description: ClassVar[str] = (
        "The name shows a document extension followed by a blocked one "
        '("report.pdf.exe", "photo.jpg      .scr").'
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        self.blocked = settings.blocked_extensions

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        for name in part.filenames:
            found = extensions(name)
            if len(found) >= 2 and found[-1] in self.blocked and found[-2] in DOCUMENT_EXTENSIONS:
                return [
                    violation(
                        self.name, reasons.DOUBLE_EXTENSION(name=repr(name), hidden=found[-1],
                                                        shown=found[-2]),
                        part, filename=name,
                    )
                ]
        return []


class BidiInName:
    """Flags names with Unicode direction controls (U+202E makes "exe.pdf" of "fdp.exe")."""

    name: ClassVar[str] = "bidi-in-name"
    description: ClassVar[str] = (
        "The name contains Unicode bidirectional controls (such as U+202E RIGHT-TO-LEFT "
        "OVERRIDE), which make a name display differently from what it is."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        for name in part.filenames:
            found = sorted({f"U+{ord(c):04X}" for c in name if c in BIDI_CONTROLS})
            if found:
                return [
                    violation(
                        self.name,
                        reasons.BIDI_IN_NAME(name=repr(name), found=", ".join(found)),
                        part,
                        filename=name,
                    )
                ]
        return []


class LookalikeInName:
    """Flags names with zero-width characters or characters that imitate others."""

    name: ClassVar[str] = "lookalike-in-name"
    description: ClassVar[str] = (
        "The name contains zero-width characters, look-alike dots, full-width forms or "
        "Cyrillic/Greek letters that imitate Latin ones (Vietnamese letters are fine)."
    )
    scope: ClassVar[Scope] = Scope.PART

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        for name in part.filenames:
            if name.isascii():
                continue
            found = sorted(
                {
                    f"U+{ord(c):04X}"
                    for c in name
                    if c in ZERO_WIDTH or ord(c) in _DOTS or ord(c) in _CONFUSABLES
                }
            )
            nfc = unicodedata.normalize("NFC", name)
            if not found and unicodedata.normalize("NFKC", nfc) != nfc:
                found = sorted(
                    {f"U+{ord(c):04X}" for c in nfc if unicodedata.normalize("NFKC", c) != c}
                )
            if found:
                return [
                    violation(
                        self.name,
                        reasons.CONFUSABLE_NAME(name=repr(name), found=", ".join(found)),
                        part,
                        filename=name,
                    )
                ]
        return []
