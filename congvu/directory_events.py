"""The directory's command-line imports as administrative events of the audit chain.

directory/ knows nothing of audit/: its commands tell the root of each import that
changed something (:class:`directory.DirectoryChanged`), and this writes it, as the
console writes its own edits (web/actions.py): one ``directory-change`` event per unit
created, updated or made inactive, its target and unit the unit's id; one per roster
import, its target the file (the roster's own history names each mailbox).
"""

from __future__ import annotations

from audit import AdminEvent, AdminKind, AuditConfig, AuditError, AuditLog
from directory import DirectoryChanged
from mailbase import CommandFailed

_COMMANDS = {"units": "directory import", "roster": "directory mailboxes import"}


def change_events(change: DirectoryChanged) -> list[AdminEvent]:
    """The admin events one import from the command line makes."""
    summary = change.summary
    base: dict[str, str | int | float | bool | None] = {
        "via": "cli", "command": _COMMANDS[change.what], "source": summary.source}
    if change.recorded_as is not None and change.recorded_as != change.actor:
        base["recorded_as"] = change.recorded_as  # the name --actor put in the history
    if change.what == "roster":
        counts = {"created": len(summary.created), "updated": len(summary.updated),
                  "deactivated": len(summary.deactivated), "skipped": len(summary.skipped)}
        return [AdminEvent(kind=AdminKind.DIRECTORY_CHANGE, actor=change.actor,
                           target=summary.source, unit_id=change.unit,
                           details={**base, "roster": True, **counts})]
    return [AdminEvent(kind=AdminKind.DIRECTORY_CHANGE, actor=change.actor, target=unit_id,
                       unit_id=unit_id, details={**base, "action": action})
            for action, ids in (("created", summary.created), ("updated", summary.updated),
                                ("deactivated", summary.deactivated))
            for unit_id in ids]


def audit_change(config: AuditConfig, change: DirectoryChanged) -> None:
    """Write ``change`` into the audit chain, in one transaction.

    :raises CommandFailed: the audit store cannot be written (the import is done).
    """
    try:
        with AuditLog.open(config) as log:
            log.write(change_events(change))
    except AuditError as exc:
        raise CommandFailed(f"{change.summary.source}: imported, but the change could not "
                            f"be written to the audit log: {exc}") from exc
