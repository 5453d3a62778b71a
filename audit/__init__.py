"""The tamper-evident send/receive log of every agency: record, query, report, verify."""

from audit.cli import commands
from audit.config import AuditConfig
from audit.errors import AuditError

__all__ = ["AuditConfig", "AuditError", "commands"]
