"""The values policies/ passes around: parts, violations, actions and decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mailbase import Reason
from policies.edxml import EdXml


class Action(StrEnum):
    """What a policy does about a violation; `SEVERITY` orders them."""

    ACCEPT = "accept"
    TAG = "tag"
    STRIP = "strip"
    QUARANTINE = "quarantine"
    REJECT = "reject"


#: reject > quarantine > strip > tag > accept (the most severe action wins).
SEVERITY: dict[Action, int] = {
    Action.ACCEPT: 0,
    Action.TAG: 1,
    Action.STRIP: 2,
    Action.QUARANTINE: 3,
    Action.REJECT: 4,
}


class Direction(StrEnum):
    """Which way a message travels."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class Detection:
    """What the bytes of a part are, whatever its name says.

    `type` is a MIME-style label ("application/pdf", "application/x-dosexec");
    the flags carry what a rule needs beyond the type.
    """

    type: str
    is_executable: bool = False
    is_script: bool = False
    is_archive: bool = False
    is_encrypted: bool = False
    has_macros: bool = False
    has_pdf_javascript: bool = False
    #: what was found that makes the part active ("/JavaScript", "vbaProject.bin").
    findings: tuple[str, ...] = ()


UNKNOWN = Detection("application/octet-stream")


@dataclass(slots=True)
class Part:
    """One leaf of the message, or one member of an archive inside it.

    `path` is the MIME path ("1.2.3"; "" for a single-part message's body); `member`
    is the path inside the archive (nested archives joined with "/"), None for a
    MIME part. `span` is the byte range of the outermost MIME part in the raw
    message that holds this one, which is what `strip` removes.
    """

    path: str
    content_type: str
    filenames: tuple[str, ...]
    data: bytes
    size: int
    span: tuple[int, int] | None = None
    member: str | None = None
    is_attachment: bool = False
    #: the charset its Content-Type names (the first reading), None when it names none;
    #: what its text is read with (the archive's search index)
    charset: str | None = None
    detection: Detection = UNKNOWN
    #: defects found while reading this part (bad base64, archive limits, ...).
    defects: list[Defect] = field(default_factory=list)

    @property
    def filename(self) -> str | None:
        """The name to report: the first declared name, or None."""
        return self.filenames[0] if self.filenames else None


@dataclass(frozen=True, slots=True)
class Defect:
    """Something the walk or the archive lister could not read cleanly.

    `kind` names the rule that reports it ("malformed-mime", "archive-limits").
    """

    kind: str
    reason: str
    #: the reason's code and parameters, which ``reason`` is the English of
    why: Reason | None = field(default=None, compare=False)

    @classmethod
    def of(cls, kind: str, why: Reason) -> Defect:
        """A defect of ``kind`` for ``why``, its English text rendered from it."""
        return cls(kind, why.text, why)


@dataclass(frozen=True, slots=True)
class Violation:
    """One finding of one rule about one part (or the whole message)."""

    rule: str
    #: the reason in English, as logs, notices and JSON keep it
    reason: str
    filename: str | None = None
    content_type: str | None = None
    detected_type: str | None = None
    part: str | None = None
    member: str | None = None
    #: the reason's code and parameters (policies/reasons.py), which ``reason`` is the
    #: English of; None for a violation made without one
    why: Reason | None = field(default=None, compare=False)

    @classmethod
    def of(cls, rule: str, why: Reason, **where: str | None) -> Violation:
        """A violation of ``rule`` for ``why``, its English text rendered from it."""
        return cls(rule, why.text, why=why, **where)

    def as_json(self) -> dict[str, Any]:
        """The violation as `policy check`, the quarantine and the audit record keep it:
        the English ``reason``, and its ``code`` and ``params`` when it has them."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "reason": self.reason,
            "filename": self.filename,
            "content_type": self.content_type,
            "detected_type": self.detected_type,
            "part": self.part,
            "member": self.member,
        }
        if self.why is not None:
            out.update(self.why.as_json())
        return out


@dataclass(frozen=True, slots=True)
class Finding:
    """A violation with the action the policy gives it, and what `strip` removes."""

    violation: Violation
    action: Action
    #: the raw byte range `strip` replaces (None: the whole message body).
    span: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment (or archive member) as the walk found it, for the audit record."""

    path: str
    member: str | None
    filename: str | None
    content_type: str
    detected_type: str
    size: int
    sha256: str
    #: an edXML package's header (the document exchange's envelope), None otherwise
    edxml: EdXml | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What a policy makes of one message: the most severe action and why."""

    action: Action
    findings: tuple[Finding, ...] = ()
    #: the SMTP reply text for a reject (Vietnamese, then English).
    reply_text: str = ""
    #: the header to add for a tag, as (name, value).
    tag_header: tuple[str, str] | None = None
    #: every attachment and archive member the walk found, in walk order.
    attachments: tuple[Attachment, ...] = ()

    @property
    def violations(self) -> tuple[Violation, ...]:
        """Every violation, whatever its action."""
        return tuple(f.violation for f in self.findings)

    def as_json(self) -> dict[str, object]:
        """The decision as JSON-ready data (the quarantine index stores this)."""
        return {
            "action": self.action.value,
            "violations": [
                {**f.violation.as_json(), "action": f.action.value} for f in self.findings
            ],
            "reply_text": self.reply_text,
        }
