"""What every rule shares: the protocol, the context it reads and its settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol

from mailbase import Reason
from policies.model import Part, Violation
from policies.reasons import at_member
from policies.walk import Walk


class Scope(StrEnum):
    """Whether a rule looks at each part (and archive member) or once at the message."""

    PART = "part"
    MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """The thresholds and lists rules are built with (from validated configuration)."""

    blocked_extensions: frozenset[str] = frozenset()
    blocked_types: frozenset[str] = frozenset()
    allowed_extensions: frozenset[str] = frozenset()
    max_attachment_size: int = 25 * 1024 * 1024
    max_message_size: int = 50 * 1024 * 1024
    max_attachments: int = 50


@dataclass(frozen=True, slots=True)
class Context:
    """What a rule may know about the whole message while it checks one part."""

    raw_size: int
    walk: Walk
    #: MIME leaves that are attachments (archive members not counted).
    attachment_count: int
    parts: tuple[Part, ...] = field(default=())
    #: document signature verdicts by attachment sha256; empty when unknown
    documents: Mapping[str, str] = field(default_factory=dict)
    #: the message's Subject as people read it (RFC 2047 decoded; "" when none)
    subject: str = ""
    #: documents' text, read once per message by the rules that read it (by part
    #: path and member; None: no text to read)
    texts: dict[str, str | None] = field(default_factory=dict)


class Rule(Protocol):
    """A predicate over one part (or the message) that returns violations; it never acts."""

    name: ClassVar[str]
    description: ClassVar[str]
    scope: ClassVar[Scope]

    def __init__(self, settings: RuleSettings) -> None: ...

    def check(self, part: Part, ctx: Context) -> list[Violation]:
        """The violations of this rule in `part` (the whole message for MESSAGE rules)."""
        ...


def violation(rule: str, reason: Reason | str, part: Part, *,
              filename: str | None = None) -> Violation:
    """A violation about `part`, with its names, types, path and member filled in;
    `filename` is the name the rule found wrong, when the part has several (the readings
    of an ambiguous part, policies/ambiguity.py), else its first. A `reason` without a
    code (a walk's defect read before codes) is kept as its English text."""
    text = str(reason)
    why = reason if isinstance(reason, Reason) else None
    if part.member and "/" in part.member and part.member not in text:
        # a file inside a document or a folder of an archive: say where it is.
        text = f"{text} (at {part.member})"
        why = at_member(why, part.member) if why is not None else None
    return Violation(
        rule=rule,
        reason=text,
        why=why,
        filename=filename or part.filename,
        content_type=part.content_type or None,
        detected_type=part.detection.type,
        part=part.path or None,
        member=part.member,
    )


def walk_defects(rule: str, ctx: Context) -> list[Violation]:
    """A violation of ``rule`` for each place the MIME walk reported a defect of that
    kind, once per place and reason."""
    seen: set[tuple[str, str]] = set()
    out: list[Violation] = []
    for path, defect in ctx.walk.defects:
        if defect.kind == rule and (path, defect.reason) not in seen:
            seen.add((path, defect.reason))
            out.append(Violation(rule, defect.reason, part=path, why=defect.why))
    return out
