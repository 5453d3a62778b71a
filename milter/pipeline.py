"""The pipeline: stages run in order over one message, each returning a verdict.

Stages are small classes with a ``name``, a ``kind`` and ``async run(ctx) -> Verdict``
(Mailman's ``pipelines/builtin.py``, with handlers renamed stages); the order they run
in is fixed by the table in milter/stages/. The composition asserts the order
ARCHITECTURE.md gives: verification before anything that changes the bytes, and DKIM
signing the last stage that changes them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

from milter.replies import R550_POLICY, Reply

if TYPE_CHECKING:  # the stage table (milter/stages/) reads this module with the configuration
    from milter.context import MessageContext


class Outcome(enum.Enum):
    """What a stage decided."""

    CONTINUE = "continue"
    REJECT = "reject"
    QUARANTINE = "quarantine"
    TEMPFAIL = "tempfail"
    #: refused, but answered 250 and dropped: behind Postfix's queue a 5xx would become
    #: a bounce to a forged sender (no stage returns it: milter/act.py's plan makes it
    #: of a REJECT)
    DISCARD = "discard"


class StageKind(enum.IntEnum):
    """Where a stage may sit; the pipeline must be sorted by kind."""

    VERIFY = 1  # reads the bytes as received
    DECIDE = 2  # reads verdicts, may prepend headers
    CHANGE = 3  # may replace the bytes (strip, S/MIME wrap)
    SIGN = 4  # DKIM: the last that changes bytes
    KEEP = 5  # the archive: keeps the bytes that leave, changes nothing


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a stage produces: continue, reject, quarantine or tempfail, with a reply."""

    outcome: Outcome
    reply: Reply | None = None
    reason: str = ""

    @property
    def is_final(self) -> bool:
        """True when the pipeline stops here."""
        return self.outcome is not Outcome.CONTINUE


CONTINUE = Verdict(Outcome.CONTINUE)


def reject(reason: str, reply: Reply = R550_POLICY, *, detail: str | None = None) -> Verdict:
    """A permanent refusal: ``reply``'s words (both languages), then what the sender
    reads after them (``detail``, else the reason); the record keeps the reason."""
    said = reason if detail is None else detail
    return Verdict(Outcome.REJECT, reply.detailed(said) if said else reply, reason)


def quarantine(reason: str) -> Verdict:
    """Hold the message instead of relaying it."""
    return Verdict(Outcome.QUARANTINE, None, reason)


class Stage(Protocol):
    """One step of the pipeline."""

    name: str
    kind: ClassVar[StageKind]

    async def run(self, ctx: MessageContext) -> Verdict:
        """Look at (and possibly change) the message; say what happens next."""
        ...


class PipelineOrderError(ValueError):
    """The stages are in a forbidden order (a byte change before verification or after DKIM)."""


def check_order(stages: Iterable[tuple[str, StageKind]]) -> None:
    """Refuse stages (name, kind) whose kinds are out of order, or two signing stages.

    :raises PipelineOrderError: naming every stage with its kind.
    """
    named = list(stages)
    kinds = [kind for _, kind in named]
    if kinds != sorted(kinds):
        order = ", ".join(f"{name} ({kind.name.lower()})" for name, kind in named)
        raise PipelineOrderError(
            f"stages out of order: {order}; verification must come before any "
            "stage that changes bytes, and DKIM signing last among those"
        )
    if kinds.count(StageKind.SIGN) > 1:
        raise PipelineOrderError("only one signing stage may run")


class Pipeline:
    """An ordered list of stages, checked once when it is built."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        check_order((stage.name, stage.kind) for stage in stages)
        self.stages = tuple(stages)

    @property
    def names(self) -> list[str]:
        """The stage names in order."""
        return [stage.name for stage in self.stages]

    async def run(self, ctx: MessageContext) -> Verdict:
        """Run every stage until one is final; CONTINUE when all pass."""
        for stage in self.stages:
            verdict = await stage.run(ctx)
            if verdict.is_final:
                ctx.decided_by = stage.name
                return verdict
        return CONTINUE


class AddHeader:
    """Example stage: prepend one fixed header (used by the tests and for tracing)."""

    kind: ClassVar[StageKind] = StageKind.DECIDE

    def __init__(self, name: str, value: str) -> None:
        self.name = f"add-header:{name}"
        self._header = (name, value)

    async def run(self, ctx: MessageContext) -> Verdict:
        """Prepend the header and continue."""
        ctx.add_header(*self._header)
        return CONTINUE
