"""Attachment policies: the MIME walk, content detection, archives, rules, decisions and quarantine.

milter/ builds a `Policy` once per (unit chain, direction) with
`PoliciesConfig.resolve`, calls `decide(raw, policy)` for each message, applies
`strip(raw, decision)` when the decision says so, and holds messages with
`Quarantine.put` (`open_quarantine`: a directory, or PostgreSQL for several
servers). A message's parts are read once (`SharedParts`, `read_parts`) and
shared by `decide`, `attachment_bytes` and the audit record. Nothing here knows about
SMTP.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policies.cli import commands
    from policies.config import DEFAULT_ACTIONS, PoliciesConfig, QuarantineConfig
    from policies.contents import AttachmentBytes, attachment_bytes
    from policies.engine import decide, strip
    from policies.errors import (
        MissingReason,
        PolicyError,
        QuarantineBusy,
        QuarantineError,
        QuarantineNotFound,
    )
    from policies.held import MAX_REASON, Headline, HeldReason, act_reason, headline, held_reasons
    from policies.model import SEVERITY, Action, Attachment, Decision, Direction, Finding, Violation
    from policies.notices import held_notice
    from policies.parts import MessageParts, SharedParts, read_parts
    from policies.pgquarantine import PgQuarantine, copy_quarantine, open_quarantine
    from policies.policy import Policy
    from policies.quarantine import HeldClaim, Quarantine, QuarantineEntry, QuarantineId
    from policies.reasons import CATALOGUE as REASONS_CATALOGUE
    from policies.reasons import REASONS
    from policies.rules import REGISTRY
    from policies.text import reads_pdf, searchable_text, text_of, walked_leaves
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "policies.cli": ("commands",),
        "policies.config": ("DEFAULT_ACTIONS", "PoliciesConfig", "QuarantineConfig"),
        "policies.contents": ("AttachmentBytes", "attachment_bytes"),
        "policies.engine": ("decide", "strip"),
        "policies.errors": (
            "MissingReason", "PolicyError", "QuarantineBusy", "QuarantineError",
            "QuarantineNotFound",
        ),
        "policies.held": (
            "MAX_REASON", "Headline", "HeldReason", "act_reason", "headline",
            "held_reasons",
        ),
        "policies.model": (
            "SEVERITY", "Action", "Attachment", "Decision", "Direction", "Finding",
            "Violation",
        ),
        "policies.notices": ("held_notice",),
        "policies.parts": ("MessageParts", "SharedParts", "read_parts"),
        "policies.pgquarantine": ("PgQuarantine", "copy_quarantine", "open_quarantine"),
        "policies.policy": ("Policy",),
        "policies.quarantine": ("HeldClaim", "Quarantine", "QuarantineEntry", "QuarantineId"),
        "policies.reasons": ("CATALOGUE as REASONS_CATALOGUE", "REASONS"),
        "policies.rules": ("REGISTRY",),
        "policies.text": ("reads_pdf", "searchable_text", "text_of", "walked_leaves"),
    })

__all__ = [
    "DEFAULT_ACTIONS",
    "MAX_REASON",
    "REASONS",
    "REASONS_CATALOGUE",
    "REGISTRY",
    "SEVERITY",
    "Action",
    "Attachment",
    "AttachmentBytes",
    "Decision",
    "Direction",
    "Finding",
    "Headline",
    "HeldClaim",
    "HeldReason",
    "MessageParts",
    "MissingReason",
    "PgQuarantine",
    "PoliciesConfig",
    "Policy",
    "PolicyError",
    "Quarantine",
    "QuarantineBusy",
    "QuarantineConfig",
    "QuarantineEntry",
    "QuarantineError",
    "QuarantineId",
    "QuarantineNotFound",
    "SharedParts",
    "Violation",
    "act_reason",
    "attachment_bytes",
    "commands",
    "copy_quarantine",
    "decide",
    "headline",
    "held_notice",
    "held_reasons",
    "open_quarantine",
    "read_parts",
    "reads_pdf",
    "searchable_text",
    "strip",
    "text_of",
    "walked_leaves",
]
