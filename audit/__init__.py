"""The tamper-evident send/receive log of every agency: record, query, report, verify.

milter/ builds an :class:`AuditRecord` per message and writes it through an
:class:`AuditWriter` (group commit) before the relay, then a :class:`Completion` with
its :class:`Fate`; web/ and the CLI read through :class:`AuditLog`. Every event is a
link of one hash chain with Ed25519-signed :class:`Checkpoint`\\ s (audit/README.md says what
that detects and what it cannot).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.chain import Checkpoint
    from audit.chains import ChainError, ImportedChain, check_chain_id
    from audit.cli import commands
    from audit.config import AuditConfig
    from audit.errors import AuditError, KeyFileError, QueryError
    from audit.importlog import Copied, CopyOutcome, copy_log
    from audit.interface import AuditStore
    from audit.keys import KeyTrust, check_signature, fingerprint, own_public_key, sign_file_bytes
    from audit.query import Filters, Page, RecordSummary, TraceEntry
    from audit.records import (
        Action,
        AdminEvent,
        AdminKind,
        Attachment,
        AuditRecord,
        AuthResult,
        Completion,
        Direction,
        DocumentSignatureRecord,
        EdXmlRecord,
        Fate,
        Operation,
        Role,
        Violation,
    )
    from audit.report import ChainHead, Counts, MailboxReport, Report, UnitReport
    from audit.reportfiled import FILE_FORMATS as REPORT_FILE_FORMATS
    from audit.reportfiled import render_file as render_report_file
    from audit.reportfmt import COLUMNS as REPORT_COLUMNS
    from audit.reportfmt import cell as report_cell
    from audit.reportfmt import charts as report_charts
    from audit.reportfmt import human_rows as report_human_rows
    from audit.reportfmt import labels as report_labels
    from audit.reportfmt import render as render_report
    from audit.reportfmt import rows as report_rows
    from audit.reportuse import OfficialUse, RosterMailbox, Use
    from audit.rotation import rotate_key
    from audit.store import AuditLog
    from audit.verify import VerifyReport
    from audit.writer import AuditWriter
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "audit.chain": ("Checkpoint",),
        "audit.chains": ("ChainError", "ImportedChain", "check_chain_id"),
        "audit.cli": ("commands",),
        "audit.config": ("AuditConfig",),
        "audit.errors": ("AuditError", "KeyFileError", "QueryError"),
        "audit.importlog": ("Copied", "CopyOutcome", "copy_log"),
        "audit.interface": ("AuditStore",),
        "audit.keys": (
            "KeyTrust", "check_signature", "fingerprint", "own_public_key",
            "sign_file_bytes",
        ),
        "audit.query": ("Filters", "Page", "RecordSummary", "TraceEntry"),
        "audit.records": (
            "Action", "AdminEvent", "AdminKind", "Attachment", "AuditRecord", "AuthResult",
            "Completion", "Direction", "DocumentSignatureRecord", "EdXmlRecord", "Fate",
            "Operation", "Role", "Violation",
        ),
        "audit.report": ("ChainHead", "Counts", "MailboxReport", "Report", "UnitReport"),
        "audit.reportfiled": (
            "FILE_FORMATS as REPORT_FILE_FORMATS", "render_file as render_report_file",
        ),
        "audit.reportfmt": (
            "COLUMNS as REPORT_COLUMNS", "cell as report_cell", "charts as report_charts",
            "human_rows as report_human_rows", "labels as report_labels",
            "render as render_report", "rows as report_rows",
        ),
        "audit.reportuse": ("OfficialUse", "RosterMailbox", "Use"),
        "audit.rotation": ("rotate_key",),
        "audit.store": ("AuditLog",),
        "audit.verify": ("VerifyReport",),
        "audit.writer": ("AuditWriter",),
    })

__all__ = [
    "REPORT_COLUMNS",
    "REPORT_FILE_FORMATS",
    "Action",
    "AdminEvent",
    "AdminKind",
    "Attachment",
    "AuditConfig",
    "AuditError",
    "AuditLog",
    "AuditRecord",
    "AuditStore",
    "AuditWriter",
    "AuthResult",
    "ChainError",
    "ChainHead",
    "Checkpoint",
    "Completion",
    "Copied",
    "CopyOutcome",
    "Counts",
    "Direction",
    "DocumentSignatureRecord",
    "EdXmlRecord",
    "Fate",
    "Filters",
    "ImportedChain",
    "KeyFileError",
    "KeyTrust",
    "MailboxReport",
    "OfficialUse",
    "Operation",
    "Page",
    "QueryError",
    "RecordSummary",
    "Report",
    "Role",
    "RosterMailbox",
    "TraceEntry",
    "UnitReport",
    "Use",
    "VerifyReport",
    "Violation",
    "check_chain_id",
    "check_signature",
    "commands",
    "copy_log",
    "fingerprint",
    "own_public_key",
    "render_report",
    "render_report_file",
    "report_cell",
    "report_charts",
    "report_human_rows",
    "report_labels",
    "report_rows",
    "rotate_key",
    "sign_file_bytes",
]
