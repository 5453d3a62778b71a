"""Errors raised by policies/.

    PolicyError            anything policies/ could not do (decide: the engine failed)
     +-- QuarantineError   the quarantine store could not be read or written (path named)
     |    +-- QuarantineNotFound   no held message has that id (`.id`)
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
        super().__init__(f"no quarantined message has the id {qid!r} "
                         "(see `congvu quarantine list`)")
        self.id = qid


class MissingReason(PolicyError):
    """A held message is released or deleted only with the reason why, for the audit log."""
