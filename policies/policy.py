"""A resolved policy: the ordered rule -> action table with its rules built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policies.archives import ArchiveLimits
from policies.model import Action, Direction
from policies.rules import REGISTRY, Rule, RuleSettings
from policies.walk import WalkLimits


@dataclass(frozen=True, slots=True)
class Policy:
    """What `decide` applies: each rule with its action, in order, plus texts and limits.

    Build it with `PoliciesConfig.resolve` (or `default_policy()`), never per message.
    """

    rules: tuple[tuple[Rule, Action], ...]
    reject_text_vi: str
    reject_text_en: str
    tag_header: str
    walk_limits: WalkLimits
    archive_limits: ArchiveLimits
    unit: str | None = None
    direction: Direction | None = None
    #: the unit's action on inbound DMARC failures (p=reject, p=quarantine,
    #: other failures); None where no layer sets one (milter then uses [signer.auth]'s)
    on_dmarc_reject: Action | None = None
    on_dmarc_quarantine: Action | None = None
    on_dmarc_fail: Action | None = None

    @property
    def actions(self) -> dict[str, Action]:
        """Rule name -> action, in the order the rules run ("accept" rules are off)."""
        return {rule.name: action for rule, action in self.rules}


def build_policy(
    merged: dict[str, Any],
    tag_header: str,
    walk_limits: WalkLimits,
    archive_limits: ArchiveLimits,
    *,
    unit: str | None,
    direction: Direction | None,
) -> Policy:
    """A `Policy` from merged configuration values (see `PoliciesConfig.resolve`)."""
    settings = RuleSettings(
        blocked_extensions=frozenset(merged["blocked_extensions"]),
        blocked_types=frozenset(merged["blocked_types"]),
        allowed_extensions=frozenset(merged["allowed_extensions"]),
        max_attachment_size=merged["max_attachment_size"],
        max_message_size=merged["max_message_size"],
        max_attachments=merged["max_attachments"],
    )
    actions: dict[str, Action] = merged["actions"]
    rules = tuple(
        (REGISTRY[name](settings), action)
        for name, action in actions.items()
        if action is not Action.ACCEPT
    )
    return Policy(
        rules=rules,
        reject_text_vi=merged["reject_text_vi"],
        reject_text_en=merged["reject_text_en"],
        tag_header=tag_header,
        walk_limits=walk_limits,
        archive_limits=archive_limits,
        unit=unit,
        direction=direction,
        on_dmarc_reject=_action(merged.get("on_dmarc_reject")),
        on_dmarc_quarantine=_action(merged.get("on_dmarc_quarantine")),
        on_dmarc_fail=_action(merged.get("on_dmarc_fail")),
    )


def _action(value: str | None) -> Action | None:
    return None if value is None else Action(value)
