"""What a person is shown of a held message, and what they must give to act on one.

The quarantine's list and its page of one message lead with what the message is
(Subject, From) and why it is held (each violation's rule and reason), for the
console and the command line alike. Releasing or deleting one takes a reason, which
goes into the audit event with the act: who let a held message through, and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mailbase import read_header
from policies.errors import MissingReason, QuarantineError
from policies.quarantine import Quarantine, QuarantineEntry

#: how much of a held message is read for its Subject and From
HEAD_BYTES = 64 * 1024
#: the longest reason kept with a release or deletion
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class HeldReason:
    """One reason a message is held: the rule that found it and what it found."""

    rule: str
    #: in English, as recorded
    reason: str
    filename: str | None = None
    #: the reason's code and parameters (policies/reasons.py) as recorded; empty for
    #: mail held before reasons had codes
    code: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Headline:
    """A held message as a list shows it: Subject and From as a person reads them
    (None: the message has none, or its bytes could not be read), and why it is held."""

    subject: str | None
    header_from: str | None
    reasons: tuple[HeldReason, ...]


def held_reasons(entry: QuarantineEntry) -> tuple[HeldReason, ...]:
    """Why ``entry`` is held: its decision's violations, in order."""
    return tuple(HeldReason(str(v.get("rule", "")), str(v.get("reason", "")),
                            str(v["filename"]) if v.get("filename") else None,
                            str(v["code"]) if v.get("code") else None,
                            dict(v["params"]) if isinstance(v.get("params"), dict) else {})
                 for v in entry.decision.get("violations", []))


def headline(store: Quarantine, entry: QuarantineEntry) -> Headline:
    """``entry``'s Subject, From and reasons, reading only the start of its bytes."""
    try:
        head = store.read_head(entry.id, HEAD_BYTES)
    except QuarantineError:  # the list still shows the envelope and the reasons
        head = b""
    block = read_header(head)
    subject, sender = block.first(b"subject"), block.first(b"from")
    return Headline(subject.text if subject is not None else None,
                    sender.text if sender is not None else None, held_reasons(entry))


def act_reason(text: str | None) -> str:
    """The reason given for releasing or deleting held mail, as the audit log keeps it:
    one line of printable characters, white space runs made one space.

    :raises MissingReason: no reason, or a longer one than :data:`MAX_REASON`.
    """
    words = "".join(c if c.isprintable() else " " for c in (text or "")).split()
    reason = " ".join(words)
    if not reason:
        raise MissingReason("a reason is required to release or delete a held message "
                            "(it goes into the audit log with the act)")
    if len(reason) > MAX_REASON:
        raise MissingReason(f"the reason is {len(reason)} characters long; at most "
                            f"{MAX_REASON} are kept")
    return reason
