"""Test helpers for audit/: records with plausible defaults."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from audit.records import (
    Action,
    Attachment,
    AuditRecord,
    AuthResult,
    Direction,
    Operation,
    Role,
    Violation,
)

T0 = datetime(2026, 11, 3, 2, 30, tzinfo=UTC)


def sha(data: bytes | str) -> str:
    """SHA-256 hex of bytes or text."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def make_record(**overrides: Any) -> AuditRecord:
    """An outbound message from unit 'stc' to 'ubnd' with one signed PDF."""
    received = overrides.pop("received_at", T0)
    values: dict[str, Any] = {
        "received_at": received,
        "decided_at": received + timedelta(milliseconds=40),
        "listener": "submission",
        "role": Role.OUTBOUND,
        "direction": Direction.OUTBOUND,
        "client_address": "10.0.0.5",
        "client_helo": "pc-ketoan",
        "queue_id": "4Xk2Lm0abc",
        "message_id": "<cv-123@stc.example.gov.vn>",
        "envelope_sender": "vanthu@stc.example.gov.vn",
        "envelope_recipients": ["vanthu@ubnd.example.gov.vn"],
        "header_from": "Văn thư Sở Tài chính <vanthu@stc.example.gov.vn>",
        "header_to": "UBND tỉnh <vanthu@ubnd.example.gov.vn>",
        "subject": "Công văn số 123/STC về dự toán ngân sách",
        "header_date": "Tue, 03 Nov 2026 09:30:00 +0700",
        "size": 48213,
        "attachments": [Attachment(
            path="2", filename="Công văn 123.pdf", declared_type="application/pdf",
            detected_type="application/pdf", size=40000, sha256=sha("cv123"),
        )],
        "action": Action.ACCEPT,
        "violations": [],
        "authentication": [
            AuthResult(method="dkim", operation=Operation.SIGN, result="pass",
                       domain="stc.example.gov.vn", selector="cv2026"),
            AuthResult(method="smime", operation=Operation.SIGN, result="pass",
                       signer="vanthu@stc.example.gov.vn"),
        ],
        "processing_ms": 41.5,
        "sender_unit": "stc",
        "recipient_units": ["ubnd"],
    }
    values.update(overrides)
    return AuditRecord(**values)




def bulk_fill(path: Path, count: int, *, units: int = 100, months: int = 12,
              seed: int = 7, keys_dir: Path | None = None,
              has_completions: bool = False) -> None:
    """Fill a new store at ``path`` with ``count`` chained message records, fast.

    With ``has_completions``, each record is followed by its completion (relayed) and
    its attachment is typed as a PDF, so that the report has sent mail and documents
    to count (event ids then differ from record numbers).

    The benchmark setup's bulk path: rows are built directly (no pydantic), hashed
    with the store's own :func:`audit.chain.row_hash`, and inserted with executemany
    in one unsynchronised transaction. Full-text rows are left out (not queried).
    The head is signed with the checkpoint key in ``keys_dir`` (default: ``keys``
    beside the store, as in a data directory), as a writer would have signed it.
    """
    import random
    import sqlite3

    from sqlite_utils import Database

    from audit.chain import GENESIS, CheckpointSigner, Schedule, canonical, row_hash
    from audit.schema import EVENT_COLUMNS, migrate

    rng = random.Random(seed)
    db = Database(sqlite3.connect(path))
    db.enable_wal()
    migrate(db)
    conn = db.conn
    conn.execute("PRAGMA synchronous = OFF")
    columns = list(EVENT_COLUMNS)
    span = months * 30 * 86400
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prev = GENESIS
    events, members, recipients, attachments = [], [], [], []
    conn.execute("BEGIN")
    offsets = sorted(rng.randrange(span) for _ in range(count))
    head = 0
    for n in range(1, count + 1):
        head += 1
        seq = head if has_completions else n
        sender, receiver = rng.randrange(units), rng.randrange(units)
        at = (start + timedelta(seconds=offsets[n - 1])).isoformat(timespec="microseconds")
        digest = f"{rng.getrandbits(256):064x}"
        row = dict.fromkeys(columns)
        row.update({
            "seq": seq, "kind": "message", "at": at, "decided_at": at, "listener": "submission",
            "role": "outbound", "direction": "outbound", "client_address": "10.0.0.5",
            "queue_id": f"Q{seq:09d}", "message_id": f"<{seq}@u{sender}.gov.vn>",
            "envelope_sender": f"staff{seq % 7}@u{sender}.gov.vn",
            "header_from": f"Cán bộ {seq % 7} <staff{seq % 7}@u{sender}.gov.vn>",
            "subject": f"Công văn số {seq}/UB{sender}", "size": 40000 + seq % 1000,
            "action": "accept", "dkim": "pass", "smime": "pass" if seq % 3 else None,
            "processing_ms": 12.5, "sender_unit": f"u{sender}",
            "detail": canonical({
                "envelope_recipients": [f"vanthu@u{receiver}.gov.vn"],
                "attachments": [{"path": "2", "filename": f"CV {seq}.pdf",
                                 "sha256": digest, "size": 40000,
                                 **({"detected_type": "application/pdf"}
                                    if has_completions else {})}],
                "recipient_units": [f"u{receiver}"], "violations": [], "authentication": [],
                "envelope_recipient_units": [f"u{receiver}"],
                "header_to": f"vanthu@u{receiver}.gov.vn",
            }),
            "prev_hash": prev,
        })
        row["hash"] = prev = row_hash(row)
        events.append(tuple(row[c] for c in columns))
        members.append((seq, f"u{sender}", "sent", at))
        members.append((seq, f"u{receiver}", "received", at))
        recipients.append((seq, 0, f"vanthu@u{receiver}.gov.vn", f"u{receiver}"))
        attachments.append((seq, 0, digest, f"CV {seq}.pdf", f"cv {seq}.pdf", 40000))
        if has_completions:
            head += 1
            done = dict.fromkeys(columns)
            done.update({"seq": head, "kind": "completion", "at": at, "record_id": seq,
                         "outcome": "relayed", "reply": "250 2.0.0 Ok", "processing_ms": 3.0,
                         "detail": "{}", "prev_hash": prev})
            done["hash"] = prev = row_hash(done)
            events.append(tuple(done[c] for c in columns))
        if len(events) >= 50_000 or n == count:
            marks = ", ".join("?" * len(columns))
            conn.executemany(f"INSERT INTO events VALUES ({marks})", events)
            conn.executemany("INSERT INTO memberships (record_id, unit_id, role, at) "
                             "VALUES (?, ?, ?, ?)", members)
            conn.executemany("INSERT INTO recipients (record_id, position, address, unit_id) "
                             "VALUES (?, ?, ?, ?)", recipients)
            conn.executemany("INSERT INTO attachments (record_id, position, sha256, filename, "
                             "filename_folded, size) VALUES (?, ?, ?, ?, ?, ?)", attachments)
            events, members, recipients, attachments = [], [], [], []
    signer = CheckpointSigner.load_or_create(keys_dir or path.parent / "keys")
    cp = signer.sign(head, prev, datetime.now(UTC).isoformat(timespec="microseconds"),
                     schedule=Schedule(1000, 60.0), batch_from=head + 1)
    conn.execute("INSERT INTO checkpoints (seq, hash, at, public_key, signature, every_records, "
                 "every_seconds, batch_from) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (cp.seq, cp.hash, cp.at, cp.public_key, cp.signature, cp.every_records,
                  cp.every_seconds, cp.batch_from))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


__all__ = ["T0", "Violation", "bulk_fill", "make_record", "sha"]
