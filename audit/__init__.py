"""The tamper-evident send/receive log of every agency: record, query, report, verify.

milter/ builds an :class:`AuditRecord` per message and writes it through an
:class:`AuditWriter` (group commit) before the relay, then a :class:`Completion` with
the outcome; web/ and the CLI read through :class:`AuditLog`. Every event is a link of
one hash chain with Ed25519-signed :class:`Checkpoint`\\ s (audit/README.md says what
that detects and what it cannot).
"""

from audit.chain import Checkpoint
from audit.cli import commands
from audit.config import AuditConfig
from audit.errors import AuditError, KeyFileError, QueryError
from audit.records import (
    Action,
    AdminEvent,
    AdminKind,
    Attachment,
    AuditRecord,
    AuthResult,
    Completion,
    Direction,
    Operation,
    Outcome,
    Role,
    Violation,
)
from audit.store import AuditLog
from audit.verify import VerifyReport
from audit.writer import AuditWriter

__all__ = [
    "Action",
    "AdminEvent",
    "AdminKind",
    "Attachment",
    "AuditConfig",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "AuditWriter",
    "AuthResult",
    "Checkpoint",
    "Completion",
    "Direction",
    "KeyFileError",
    "Operation",
    "Outcome",
    "QueryError",
    "Role",
    "VerifyReport",
    "Violation",
    "commands",
]
