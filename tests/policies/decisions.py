"""What every decision must say, whatever the message: the checks the fuzz tests make
where no one can know the expected action in advance."""

from __future__ import annotations

from mailbase import reply_text
from policies import Action, Policy
from policies.model import Decision

_ORDER = [Action.ACCEPT, Action.TAG, Action.STRIP, Action.QUARANTINE, Action.REJECT]


def assert_decision_follows_its_findings(decision: Decision, policy: Policy) -> None:
    """The action is the most severe of the findings' (accept when none), the reply is
    the policy's reject text naming the first rejecting rule exactly when it rejects,
    and the tag header names the tagging rules exactly when one tags."""
    actions = {f.action for f in decision.findings}
    expected = max(actions, key=_ORDER.index, default=Action.ACCEPT)
    assert decision.action is expected, (decision.action, decision.findings)
    if expected is Action.REJECT:
        first = next(f.violation for f in decision.findings if f.action is Action.REJECT)
        what = first.rule + (f": {first.filename}" if first.filename else "")
        # both languages, then the rule and file once, as every reply says it
        assert decision.reply_text == reply_text(policy.reject_text_vi,
                                                 policy.reject_text_en, what)
    else:
        assert decision.reply_text == ""
    tags = sorted({f.violation.rule for f in decision.findings if f.action is Action.TAG})
    assert decision.tag_header == ((policy.tag_header, ", ".join(tags)) if tags else None)
    for finding in decision.findings:
        assert finding.violation.rule and finding.violation.reason
