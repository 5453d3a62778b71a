"""Administrative acts of the console, each written to the audit chain (AdminEvent)."""

from __future__ import annotations

import csv
import io
from typing import Any

from audit import AdminEvent, AdminKind, AuditLog
from directory import Directory, ImportRejected, ImportSummary
from policies import Quarantine
from web.settings import WebSettings


def audit_admin(settings: WebSettings, event: AdminEvent) -> int:
    """Append ``event`` to the audit chain; return its id.

    :raises AuditError: the store cannot be written (the act is then not done).
    """
    with AuditLog.open(settings.audit) as log:
        return log.admin(event)


def delete_held(settings: WebSettings, qid: str, *, actor: str) -> None:
    """Delete a held message for good, audited first (no deletion without its record).

    :raises PolicyError: unknown id or a store failure. :raises AuditError: not audited.
    """
    with Quarantine(settings.quarantine_path,
                    retention_days=settings.quarantine_retention_days) as store:
        entry = store.get(qid)
        audit_admin(settings, AdminEvent(
            kind=AdminKind.QUARANTINE_DELETE, actor=actor, target=qid, unit_id=entry.unit_id,
            details={"sha256": entry.sha256, "via": "web"}))
        store.delete(qid)


EDITABLE = ("name", "parent", "address", "short_name", "name_en", "kind", "aliases",
            "dkim_domain", "phone", "website", "active", "senders", "certificate",
            "valid_from", "valid_until", "successor")


def unit_row(directory: Directory, unit_id: str | None) -> tuple[list[str], dict[str, str]]:
    """The import layout's columns and one unit's row (empty for a new unit)."""
    reader = csv.DictReader(io.StringIO(directory.export_csv()))
    columns = list(reader.fieldnames or [])
    for row in reader:
        if row["id"] == unit_id:
            return columns, row
    return columns, dict.fromkeys(columns, "")


def edit_unit(settings: WebSettings, unit_id: str, values: dict[str, str], *,
              actor: str) -> ImportSummary:
    """Create or change one unit through the directory's own import checks.

    The change is one partial import (so the directory's history records it with
    ``actor``) and one DIRECTORY_CHANGE event in the audit chain.

    :raises ImportRejected: the row is not valid (the reasons say why).
    """
    with Directory.open(settings.directory_path) as directory:
        columns, row = unit_row(directory, unit_id)
        row.update({k: v.replace("\r\n", "\n") for k, v in values.items() if k in columns})
        row["id"] = unit_id
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        writer.writerow(row)
        summary = directory.import_csv(out.getvalue(), partial=True, actor=actor)
    if summary.skipped:
        raise ImportRejected("<web form>", list(summary.skipped))
    if summary.created or summary.updated:
        details: dict[str, Any] = {"action": "created" if summary.created else "updated",
                                   "via": "web"}
        audit_admin(settings, AdminEvent(kind=AdminKind.DIRECTORY_CHANGE, actor=actor,
                                         target=unit_id, unit_id=unit_id, details=details))
    return summary


def user_event(settings: WebSettings, *, actor: str, target: str, action: str,
               unit_id: str | None = None) -> None:
    """Audit a change of users or grants (add, grant, revoke, disable, enable)."""
    audit_admin(settings, AdminEvent(kind=AdminKind.USER_GRANT, actor=actor, target=target,
                                     unit_id=unit_id, details={"action": action}))
