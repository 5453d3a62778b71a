"""Attachment policies: the MIME walk, content detection, archives, rules, decisions and quarantine."""

from policies.cli import commands
from policies.config import PoliciesConfig
from policies.errors import PolicyError

__all__ = ["PoliciesConfig", "PolicyError", "commands"]
