"""Attachment policies: the MIME walk, content detection, archives, rules, decisions and quarantine.

milter/ builds a `Policy` once per (unit chain, direction) with
`PoliciesConfig.resolve`, calls `decide(raw, policy)` for each message, applies
`strip(raw, decision)` when the decision says so, and holds messages with
`Quarantine.put`. Nothing here knows about SMTP.
"""

from policies.cli import commands
from policies.config import DEFAULT_ACTIONS, PoliciesConfig
from policies.contents import AttachmentBytes, attachment_bytes
from policies.engine import decide, strip
from policies.errors import PolicyError, QuarantineError, QuarantineNotFound
from policies.model import SEVERITY, Action, Attachment, Decision, Direction, Finding, Violation
from policies.notices import held_notice
from policies.policy import Policy
from policies.quarantine import Quarantine, QuarantineEntry, QuarantineId
from policies.rules import REGISTRY

__all__ = [
    "DEFAULT_ACTIONS",
    "REGISTRY",
    "SEVERITY",
    "Action",
    "Attachment",
    "AttachmentBytes",
    "Decision",
    "Direction",
    "Finding",
    "PoliciesConfig",
    "Policy",
    "PolicyError",
    "Quarantine",
    "QuarantineEntry",
    "QuarantineError",
    "QuarantineId",
    "QuarantineNotFound",
    "Violation",
    "attachment_bytes",
    "commands",
    "decide",
    "held_notice",
    "strip",
]
