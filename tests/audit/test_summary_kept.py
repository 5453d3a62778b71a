"""The summary's upkeep from the rows a writer kept (audit/reportsql.py's ``columns_of``):
a completion's upkeep counts its record from the rows its writer appended instead of
reading the record back, so those rows must read as the record's stored row does, for
every column the report counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from audit.config import AuditConfig
from audit.pending import Pending
from audit.records import (
    Action,
    Attachment,
    AuditRecord,
    AuthResult,
    Completion,
    Direction,
    Fate,
    Operation,
    Role,
    Violation,
)
from audit.reportsql import Fate as Found
from audit.reportsql import columns_of, stretched, stretched_known
from audit.store import AuditLog
from audit.summaryschema import is_current, live_head
from support.audit import T0, make_record, sha


def _inbound(result: str, disposition: str | None, **overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "listener": "mx", "role": Role.INBOUND, "direction": Direction.INBOUND,
        "envelope_sender": "Someone@Example.ORG", "sender_unit": "stc",
        "authentication": [
            AuthResult(method="dkim", operation=Operation.VERIFY, result="pass",
                       domain="example.org"),
            AuthResult(method="dmarc", result=result, domain="stc.example.gov.vn",
                       disposition=disposition)],
    }
    return make_record(**{**values, **overrides})


def _document(verdict: str, roles: tuple[str, ...]) -> Attachment:
    return Attachment(
        path="2", filename="Quyết định.pdf", declared_type="application/pdf",
        detected_type="application/pdf", size=100, sha256=sha(verdict + "".join(roles)),
        document=verdict, complete=len(roles) > 1,
        signatures=[{"verdict": verdict, "signer": f"S{n}", "serial": str(n),
                     "issuer": "CA", "is_timestamp": False, "root_family": "gov",
                     "signer_role": role, "signer_unit": "stc"}
                    for n, role in enumerate(roles)])


def _violation(rule: str) -> Violation:
    return Violation(rule=rule, reason=f"found by {rule}")


#: one record for each way a column of the report's row can read
RECORDS = [
    make_record(),
    make_record(envelope_sender="VĂN.THƯ@STC.Example.Gov.VN"),  # SQLite folds ASCII only
    make_record(envelope_sender="", authentication=[]),
    make_record(sender_unit=None, recipient_units=[], envelope_recipients=["x@example.org"],
                attachments=[]),
    make_record(envelope_recipients=["A@UBND.example.gov.vn", "b@stc.example.gov.vn",
                                     "c@example.org"],
                recipient_unit_of={"A@UBND.example.gov.vn": "ubnd",
                                   "b@stc.example.gov.vn": "stc"},
                recipient_units=["ubnd", "stc", "ubnd"]),
    make_record(attachments=[_document("valid", ("person", "organisation")),
                             _document("invalid", ("person",))]),
    make_record(action=Action.QUARANTINE, violations=[_violation("classified-marking")]),
    make_record(violations=[_violation("legacy-encoding"), _violation("classified-marking")]),
    make_record(violations=[_violation("forbidden-type")]),
    _inbound("pass", None),
    _inbound("fail", "spoof-refused", action=Action.REJECT),
    _inbound("fail", "spoof-quarantine", action=Action.QUARANTINE),
    _inbound("fail", None, direction=Direction.OUTBOUND),
    _inbound("pass", "spoof-quarantine"),  # a forgery never passes
]


def test_kept_rows_read_as_the_stored_rows(audit_config: AuditConfig) -> None:
    """Each record's row made from its own rows counts as its stored row reads back,
    before and after its completion (a held one, then its release, included)."""
    with AuditLog.open(audit_config) as log:
        ids = log.write(RECORDS)
        kept = {}
        for seq, rec in zip(ids, RECORDS, strict=True):
            rows = Pending.of(rec).rows
            kept[seq] = columns_of({**rows.event, "seq": seq}, rows.memberships,
                                   rows.recipients)
        conn, before = log.db.conn, ids[-1] + 1
        for seq, row in kept.items():
            assert list(stretched_known(conn, {seq: row}, held={}, before=before)) == list(
                stretched(conn, "e.seq = ?", [seq], held={}, before=before)), seq
        log.write([Completion(record_id=seq, outcome=Fate.QUARANTINED if n % 2 else
                              Fate.RELAYED, reply="quarantined as Q1" if n % 2 else "250 ok")
                   for n, seq in enumerate(ids)])
        for held in ({}, {"Q1": Found.DELIVERED}):
            assert list(stretched_known(conn, kept, held=held, before=before)) == list(
                stretched(conn, f"e.seq IN ({', '.join('?' * len(ids))})", ids, held=held,
                          before=before))


def test_completions_counted_from_kept_rows_keep_the_summary(
        audit_config: AuditConfig) -> None:
    """The records written in one batch and completed in later ones (each the way the
    filter's writer does, counted from the rows it kept), some completed twice: the
    summary they keep is what a rebuild counts from the records."""
    with AuditLog.open(audit_config) as log:
        ids = log.write([r.model_copy(update={"received_at": T0 + timedelta(hours=n)})
                         for n, r in enumerate(RECORDS)])
        for n, seq in enumerate(ids):
            log.write([Completion(record_id=seq, outcome=(Fate.RELAYED, Fate.REJECTED,
                                                          Fate.QUARANTINED)[n % 3],
                                  reply=f"quarantined as Q{n}" if n % 3 == 2 else "250 ok")])
        log.write([Completion(record_id=ids[0], outcome=Fate.REJECTED, reply="550")])
        conn = log.db.conn
        assert is_current(conn, live_head(conn))
        counted = _summary(log)
        log.rebuild_summary()
        assert _summary(log) == counted
        assert any(counted.values())


def test_a_completion_reads_its_kept_record_by_position(audit_config: AuditConfig) -> None:
    """The upkeep of a completion whose record was kept finds the record by its
    position: the log's size does not enter its cost (the kind index, whose columns
    cover the statement, would lead SQLite to read every message's entry)."""
    with AuditLog.open(audit_config) as log:
        seqs = log.write([make_record(queue_id=f"Q{n}") for n in range(50)])
        conn = log.db.conn
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        try:
            log.write([Completion(record_id=seq, outcome=Fate.RELAYED, reply="250 ok")
                       for seq in seqs[-2:]])
        finally:
            conn.set_trace_callback(None)
        reads = [[row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")
                  if row[3].startswith(("SEARCH e ", "SCAN e"))]
                 for sql in statements if "FROM events e" in sql]
    assert reads == [["SEARCH e USING INTEGER PRIMARY KEY (rowid=?)"]]


def _summary(log: AuditLog) -> dict[str, list[Any]]:
    tables = ("summary_sent", "summary_received", "summary_boxes", "summary_talk")
    return {t: sorted(tuple(r) for r in log.db.conn.execute(f"SELECT * FROM {t}"))
            for t in tables}
