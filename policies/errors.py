"""Errors raised by policies/.

    PolicyError            anything policies/ could not do (decide: the engine failed)
     +-- QuarantineError   the quarantine store could not be read or written (path named)
     |    +-- QuarantineNotFound   no held message has that id (`.id`)
     |    +-- QuarantineBusy       another release holds that message now (`.id`, `.by`)
     +-- MissingReason     a release or deletion of held mail without its reason
"""

from __future__ import annotations


class PolicyError(Exception):
    """policies/ could not do what was asked; the message says what and where."""


class QuarantineError(PolicyError):
    """The quarantine store failed; milter answers 451 and Postfix retries."""


class QuarantineNotFound(QuarantineError):
    """No held message has this id."""

    def __init__(self, qid: str) -> None:
        super().__init__(f"no quarantined message has the id {qid!r}: released or deleted "
                         "already, or never held (see `congvu quarantine list`)")
        self.id = qid


class QuarantineBusy(QuarantineError):
    """Another release (on this server or another sharing the store) holds this message."""

    def __init__(self, qid: str, by: str, since: str, *, timeout_minutes: int) -> None:
        super().__init__(f"held message {qid} is being released by {by} since {since}; "
                         "it stays held until that release ends (a release whose process "
                         f"died is given up after {timeout_minutes} minutes)")
        self.id = qid
        self.by = by
        self.since = since


class MissingReason(PolicyError):
    """A held message is released or deleted only with the reason why, for the audit log."""
