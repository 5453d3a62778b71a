"""The attachment policy stage: decide with policies/, then act on the decision."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import ClassVar

from milter.context import MessageContext
from milter.direction import Direction
from milter.pipeline import CONTINUE, Outcome, StageKind, Verdict, quarantine
from milter.replies import R451_ATTACHMENTS, R550_POLICY
from milter.stages.documents import parts_of, verdicts
from policies import SEVERITY, Action, Decision, PoliciesConfig, PolicyError, decide, strip

# Above this size the decision runs in a thread so other sessions keep moving.
_INLINE_LIMIT = 256 * 1024


class PolicyStage:
    """Apply the policy of the message's unit(s) and direction."""

    name = "policy"
    kind: ClassVar[StageKind] = StageKind.CHANGE

    def __init__(
        self, config: PoliciesConfig, chain: Callable[[str | None], Sequence[str]]
    ) -> None:
        self.config = config
        self.chain = chain

    def _decide(self, ctx: MessageContext) -> Decision:
        # Outbound: the sender's unit's policy. Inbound: each recipient unit's; the
        # most severe decision wins, so no unit's policy is talked around.
        if ctx.direction is Direction.OUTBOUND:
            owners: Sequence[str | None] = [ctx.sender_unit]
        else:
            owners = list(ctx.recipient_units) or [None]
        chains = {tuple(self.chain(owner)) for owner in owners}
        documents = verdicts(ctx)
        raw = ctx.current_content
        # the parts the documents stage read, and the record lists: one walk; and the
        # header block read at the door, unless a stage before changed the bytes
        parts = parts_of(ctx, self.config, raw)
        header = ctx.header if raw is ctx.original_content else None
        decisions = [
            decide(raw, self.config.resolve(chain, ctx.direction.value),
                   documents=documents, parts=parts, header=header)
            for chain in chains
        ]
        return max(decisions, key=lambda d: SEVERITY[d.action])

    async def run(self, ctx: MessageContext) -> Verdict:
        """Accept, tag, strip, quarantine or reject as the policy says."""
        try:
            if len(ctx.current_content) > _INLINE_LIMIT:
                decision = await asyncio.to_thread(self._decide, ctx)
            else:
                decision = self._decide(ctx)
        except PolicyError as exc:
            return Verdict(Outcome.TEMPFAIL, R451_ATTACHMENTS, str(exc))
        ctx.decision = decision
        if decision.action is Action.REJECT:
            # the policy's own words (policies/engine.py: both languages, then the rule)
            return Verdict(Outcome.REJECT, R550_POLICY.with_text(decision.reply_text),
                           decision.reply_text)
        if decision.action is Action.QUARANTINE:
            return quarantine(", ".join(sorted({v.rule for v in decision.violations})))
        if decision.action is Action.STRIP:
            ctx.replace_content(strip(ctx.current_content, decision))
        if decision.tag_header is not None:
            ctx.add_header(*decision.tag_header)
        return CONTINUE
