"""Security markings: classified documents must not travel by official e-mail
(policies/markings.py says what a marking is and where it is looked for)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from mailbase import Reason
from policies import reasons
from policies.markings import (
    body_text,
    document_text,
    is_document,
    subject_marking,
    text_marking,
)
from policies.model import Part, Violation
from policies.rules.base import Context, RuleSettings, Scope, violation

_TEXT_BODIES = ("text/plain", "text/html")


def _documents(ctx: Context) -> Iterator[tuple[Part, str | None]]:
    """Each PDF and DOCX of the message (archive members too) with its text, read once
    per message whichever rule asks first."""
    for part in ctx.parts:
        if not is_document(part.detection.type):
            continue
        key = f"{part.path}\0{part.member or ''}"
        if key not in ctx.texts:
            ctx.texts[key] = document_text(part.data, part.detection.type)
        yield part, ctx.texts[key]


def _marked(part: Part, degree: str) -> Reason:
    name = part.member or part.filename
    return (reasons.DOCUMENT_MARKED(document=name, degree=degree) if name
            else reasons.PART_MARKED(part=part.path or "body", degree=degree))


def _unreadable(part: Part) -> Reason:
    name = part.member or part.filename
    return (reasons.DOCUMENT_UNREADABLE(document=name) if name
            else reasons.PART_UNREADABLE(part=part.path or "body"))


class ClassifiedMarking:
    """Finds the marks of a classified document: MẬT, TỐI MẬT, TUYỆT MẬT."""

    name: ClassVar[str] = "classified-marking"
    description: ClassVar[str] = (
        "The message is marked classified (MẬT, TỐI MẬT or TUYỆT MẬT, in capitals with "
        "their diacritics): as the subject's first word followed by a separator, or alone "
        "on a line of a text body or of the first 2,000 characters of an attached PDF's "
        "or DOCX's text. Classified documents do not travel by official e-mail."
    )
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """A violation for the subject, and for each body or document, that is marked."""
        found = []
        degree = subject_marking(ctx.subject)
        if degree:
            found.append(Violation.of(self.name, reasons.SUBJECT_MARKED(degree=degree)))
        for body in ctx.parts:
            if body.is_attachment or body.member is not None or \
                    body.content_type not in _TEXT_BODIES:
                continue
            degree = text_marking(body_text(body.data, body.content_type))
            if degree:
                found.append(violation(self.name, reasons.TEXT_MARKED(degree=degree), body))
        for document, text in _documents(ctx):
            degree = text_marking(text) if text else None
            if degree:
                found.append(violation(self.name, _marked(document, degree), document))
        return found


class MarkingNotCheckable:
    """Notes the documents whose text could not be read for a marking."""

    name: ClassVar[str] = "marking-not-checkable"
    description: ClassVar[str] = (
        "An attached PDF or DOCX has no text to look for a classified marking in (a "
        "scanned PDF, an encrypted or unreadable file): it was not checked."
    )
    scope: ClassVar[Scope] = Scope.MESSAGE

    def __init__(self, settings: RuleSettings) -> None:
        pass

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """A violation for each document without readable text."""
        return [violation(self.name, _unreadable(document), document)
                for document, text in _documents(ctx) if text is None]
