"""Administrative acts of the console, each written to the audit chain (AdminEvent)."""

from __future__ import annotations

import csv
import io
from typing import Any

from audit import AdminEvent, AdminKind, AuditLog
from directory import Directory, ImportSummary
from policies import act_reason, open_quarantine
from web.settings import WebSettings


def audit_admin(settings: WebSettings, event: AdminEvent) -> int:
    """Append ``event`` to the audit chain; return its id.

    :raises AuditError: the store cannot be written (the act is then not done).
    """
    with AuditLog.open(settings.audit) as log:
        return log.admin(event)


def delete_held(settings: WebSettings, qid: str, *, actor: str, reason: str) -> None:
    """Delete a held message for good, audited first with who and why (no deletion
    without its record).

    :raises PolicyError: no reason (MissingReason), unknown id or a store failure.
    :raises AuditError: not audited.
    """
    reason = act_reason(reason)
    with open_quarantine(settings.quarantine) as store:
        entry = store.get(qid)
        audit_admin(settings, AdminEvent(
            kind=AdminKind.QUARANTINE_DELETE, actor=actor, target=qid, unit_id=entry.unit_id,
            details={"sha256": entry.sha256, "via": "web", "reason": reason}))
        store.delete(qid)


EDITABLE = ("name", "parent", "address", "short_name", "name_en", "kind", "aliases",
            "dkim_domain", "phone", "website", "active", "senders", "certificate",
            "valid_from", "valid_until", "successor")


def _rows(directory: Directory) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(directory.export_csv()))
    return list(reader.fieldnames or []), list(reader)


def unit_row(directory: Directory, unit_id: str | None) -> tuple[list[str], dict[str, str]]:
    """The import layout's columns and one unit's row (empty for a new unit)."""
    columns, rows = _rows(directory)
    for row in rows:
        if row["id"] == unit_id:
            return columns, row
    return columns, dict.fromkeys(columns, "")


def edit_unit(settings: WebSettings, unit_id: str, values: dict[str, str], *,
              actor: str) -> ImportSummary:
    """Create or change one unit through the directory's own import checks.

    The whole directory is exported, the one row changed (or appended) and the file
    imported again, all or nothing: an import is the directory's only write, and a
    file missing units would make them inactive. The directory's history records
    the change with ``actor``; the audit chain gets a DIRECTORY_CHANGE event.

    :raises ImportRejected: the row is not valid (the reasons say why).
    """
    with Directory.open(settings.directory_store) as directory:
        columns, rows = _rows(directory)
        changed = {k: v.replace("\r\n", "\n") for k, v in values.items() if k in columns}
        for row in rows:
            if row["id"] == unit_id:
                row.update(changed)
                break
        else:
            rows.append({**dict.fromkeys(columns, ""), **changed, "id": unit_id})
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
        summary = directory.import_csv(out.getvalue(), actor=actor)
    if summary.created or summary.updated or summary.deactivated:
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
