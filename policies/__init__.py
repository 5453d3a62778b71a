"""Attachment policies: the MIME walk, content detection, archives, rules, decisions and quarantine."""

from policies.cli import commands
from policies.config import PolicyConfig
from policies.errors import PolicyError

__all__ = ["PolicyConfig", "PolicyError", "commands"]
