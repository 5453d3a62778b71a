"""Incremental verify: the chain from the last checkpoint a verify proved, remembered.

``congvu audit verify`` walks every row; on a log of millions that is minutes. After a
verify finds the chain intact, the newest trusted checkpoint it matched is remembered
(:class:`VerifiedState`), and ``verify --since-verified`` walks only what came after it:
the rows after that checkpoint must link to its hash, and the checkpoints from it on must
be signed by trusted keys and kept to their schedule. Its time is that of what was
added since, not of the log.

Where: one small JSON file, by default ``audit-verified.json`` in the data directory
(beside ``keys/``; ``verify --state FILE`` for an inspector's own machine), mode 0600,
holding for each store (its file, or its URL) the checkpoint in full, as exported.

Why it can be trusted: the checkpoint is signed. It is read back only when its
signature is valid, verify counts it only when its key is one it trusts now (as any
checkpoint), and the store must agree with it (the rows after it link to its hash; a
stored checkpoint at its record with another hash is tampering), so an edited file
cannot make verify start from a head nobody signed. What the file decides is only where
to start: from an older checkpoint, verify reads more; the one risk is a file moved
ahead to a newer checkpoint, over rows never walked, which is why it is private to the
user congvu runs as, like the keys.

Out of scope, and said in every incremental report: a row before the checkpoint (read
by the last full verify), the query indexes and the imported chains (a full verify
checks them).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from audit.chain import Checkpoint
from audit.errors import AuditError
from audit.keys import KeyTrust
from audit.store import AuditLog, mapped_errors
from audit.verify import VerifyReport, verify_chain
from mailbase import private_dir, write_private_durably

STATE_FILE = "audit-verified.json"
_FORMAT = "congvu-audit-verified/1"


@dataclass(frozen=True, slots=True)
class VerifiedState:
    """The file remembering, per store, the last checkpoint a verify proved."""

    path: Path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise AuditError(f"{self.path}: cannot read the last verified checkpoints "
                             f"({exc}); remove it, and the next verify walks the whole "
                             "chain") from exc
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise AuditError(f"{self.path}: not a file of verified checkpoints (format "
                             f"{data.get('format') if isinstance(data, dict) else None!r})")
        stores = data.get("stores", {})
        return stores if isinstance(stores, dict) else {}

    def last(self, store: str) -> Checkpoint | None:
        """The checkpoint last verified in ``store``, if one is remembered; whether its
        key is trusted now is verify's to decide, as for every checkpoint it reads.

        :raises AuditError: the file is unreadable, or what it holds for ``store`` is
            not a validly signed checkpoint (the file was edited).
        """
        entry = self._read().get(store)
        if entry is None:
            return None
        cp = Checkpoint.from_json(json.dumps(entry.get("checkpoint")),
                                  source=f"{self.path} ({store})")
        if not cp.is_valid():
            raise AuditError(f"{self.path}: the checkpoint remembered for {store} has a bad "
                             "signature: the file was edited; remove it and run a full "
                             "verify")
        return cp

    def remember(self, store: str, checkpoint: Checkpoint, *, now: datetime) -> None:
        """Keep ``checkpoint`` as the last one verified in ``store`` (the file replaced
        whole, 0600).

        :raises OSError: it cannot be written.
        """
        stores: dict[str, Any] = {}
        with contextlib.suppress(AuditError):
            stores = self._read()
        stores[store] = {"checkpoint": json.loads(checkpoint.to_json()),
                         "verified_at": now.astimezone(UTC).isoformat(timespec="seconds")}
        private_dir(self.path.parent, tighten=False)
        text = json.dumps({"format": _FORMAT, "stores": stores}, indent=2, sort_keys=True)
        write_private_durably(self.path, (text + "\n").encode("utf-8"))


def store_id(log: AuditLog) -> str:
    """How the state file names a store: its URL, or its file's absolute path."""
    where = log.path
    return where if isinstance(where, str) else str(Path(where).resolve())


def verify_since(log: AuditLog, since: Checkpoint, trust: KeyTrust) -> VerifyReport:
    """Verify the live chain from ``since`` on, in one read snapshot (other servers may
    be appending).

    :raises AuditError: the store cannot be read.
    """
    conn = log.db.conn
    with mapped_errors(log.path, "verify the chain", log.errors):
        conn.execute("BEGIN")
        try:
            return verify_chain(conn, trust=trust, since=since, indexes=())
        finally:
            conn.rollback()
