"""The auditors' queries: filters, units, text search without diacritics, pages."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from audit.config import AuditConfig
from audit.errors import AuditError, QueryError
from audit.query import Filters
from audit.records import (
    Action,
    Attachment,
    AuthResult,
    Completion,
    Direction,
    Fate,
    Operation,
    Role,
)
from audit.store import AuditLog
from support.audit import T0, make_record, sha


@pytest.fixture
def filled(backend_db: AuditLog) -> AuditLog:
    """On each backend, three messages: stc->ubnd (relayed), ubnd->stc,sgd
    (quarantined), inbound to sgd."""
    first = backend_db.record(make_record())
    backend_db.complete(Completion(record_id=first, outcome=Fate.RELAYED, reply="250 2.0.0 Ok"))
    second = backend_db.record(make_record(
        received_at=T0 + timedelta(days=1), sender_unit="ubnd",
        envelope_sender="Vanthu@UBND.example.gov.vn",
        envelope_recipients=["a@stc.example.gov.vn", "b@sgd.example.gov.vn"],
        recipient_units=["stc", "sgd"], subject="Giấy mời họp Đảng ủy",
        message_id="<moi-hop@ubnd>", queue_id="QQ2", action=Action.QUARANTINE,
        attachments=[Attachment(path="2", filename="Giấy mời.docx", size=10,
                                sha256=sha("moi"))],
        authentication=[AuthResult(method="dkim", operation=Operation.SIGN, result="fail")],
    ))
    backend_db.complete(Completion(record_id=second, outcome=Fate.QUARANTINED))
    backend_db.record(make_record(
        received_at=T0 + timedelta(days=40), role=Role.INBOUND, direction=Direction.INBOUND,
        sender_unit=None, envelope_sender="x@gmail.com", recipient_units=["sgd"],
        subject="Báo cáo", attachments=[], authentication=[
            AuthResult(method="dkim", result="none")],
    ))
    return backend_db


def _ids(log: AuditLog, **filters: object) -> list[int]:
    return [r.id for r in log.query(Filters(**filters)).items]  # type: ignore[arg-type]


def test_unit_sees_its_sent_and_received(filled: AuditLog) -> None:
    assert _ids(filled, units=("stc",)) == [3, 1]
    assert _ids(filled, units=("sgd",)) == [5, 3]
    assert _ids(filled, units=("ubnd",)) == [3, 1]
    assert _ids(filled, units=("nobody",)) == []
    assert _ids(filled, units=("stc", "sgd")) == [5, 3, 1]  # each once


def test_period_direction_and_unit(filled: AuditLog) -> None:
    since, until = T0 - timedelta(hours=1), T0 + timedelta(days=30)
    assert _ids(filled, since=since, until=until) == [3, 1]
    assert _ids(filled, units=("sgd",), since=since, until=until) == [3]
    assert _ids(filled, direction=Direction.INBOUND) == [5]


def test_outbound_mail_of_a_unit_is_mail_it_sent(filled: AuditLog) -> None:
    # ubnd sent record 3 to stc: it is stc's mail, but not stc's outbound mail
    assert _ids(filled, units=("stc",), direction=Direction.OUTBOUND) == [1]
    assert _ids(filled, units=("ubnd",), direction=Direction.OUTBOUND) == [3]
    assert _ids(filled, units=("sgd",), direction=Direction.OUTBOUND) == []
    assert _ids(filled, units=("sgd",), direction=Direction.INBOUND) == [5]
    assert filled.count(Filters(units=("stc",), direction=Direction.OUTBOUND)) == 1


def test_sender_and_recipient_units(filled: AuditLog) -> None:
    assert _ids(filled, sender_units=("stc",)) == [1]
    assert _ids(filled, sender_units=("ubnd",)) == [3]
    assert _ids(filled, sender_units=("stc", "ubnd")) == [3, 1]
    assert _ids(filled, recipient_units=("stc",)) == [3]
    assert _ids(filled, recipient_units=("sgd",)) == [5, 3]
    assert _ids(filled, sender_units=("ubnd",), recipient_units=("sgd",)) == [3]
    assert _ids(filled, sender_units=("stc",), recipient_units=("sgd",)) == []
    assert _ids(filled, units=("ubnd",), recipient_units=("stc",)) == [3]
    since = T0 + timedelta(days=30)
    assert _ids(filled, recipient_units=("sgd",), since=since) == [5]


def test_a_claimed_unit_is_no_sender(filled: AuditLog) -> None:
    forged = filled.record(make_record(
        received_at=T0 + timedelta(days=2), role=Role.INBOUND, direction=Direction.INBOUND,
        sender_unit="stc", envelope_sender="x@gmail.com", recipient_units=["sgd"]))
    assert forged in _ids(filled, units=("stc",))  # stc's auditor sees forgeries of stc
    assert _ids(filled, sender_units=("stc",)) == [1]


def test_a_unit_and_a_period_are_read_from_the_memberships_index(
        audit_config: AuditConfig) -> None:
    # the total and the page's order come from the unit memberships index alone: only
    # the page's records are fetched from events, by position (fetching each of the
    # unit's records in the period to test its kind and time again grew with the log)
    with AuditLog.open(audit_config) as log:
        log.write([make_record(received_at=T0 + timedelta(minutes=n)) for n in range(5)])
        conn, statements = log.db.conn, []
        conn.set_trace_callback(statements.append)
        try:
            period = Filters(units=("stc",), since=T0, until=T0 + timedelta(days=1),
                             page_size=2)
            assert log.count(period) == 5
            assert [r.id for r in log.query(period).items] == [5, 4]
        finally:
            conn.set_trace_callback(None)
        plans = [[row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
                 for sql in statements if "memberships" in sql]
    assert len(plans) == 3  # the count, and the query's total and page
    for plan in plans:
        assert any(step.startswith("SEARCH m USING COVERING INDEX memberships_unit_at")
                   for step in plan)
    assert [[step for step in plan if step.startswith(("SEARCH e ", "SCAN e"))]
            for plan in plans] == [[], [], ["SEARCH e USING INTEGER PRIMARY KEY (rowid=?)"]]


@pytest.mark.parametrize(("filters", "message"), [
    (Filters(sender_units=(" ",)), "invalid filter sender_unit"),
    (Filters(recipient_units=("",)), "invalid filter recipient_unit"),
])
def test_empty_unit_ids_are_refused(filled: AuditLog, filters: Filters, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        filled.query(filters)


def test_text_search_ignores_diacritics(filled: AuditLog) -> None:
    assert _ids(filled, text="cong van") == [1]
    assert _ids(filled, text="CÔNG VĂN") == [1]
    assert _ids(filled, text="dang uy") == [3]  # Đảng ủy
    assert _ids(filled, text="giay moi") == [3]  # subject and filename
    assert _ids(filled, text="gmail") == [5]  # addresses too
    assert _ids(filled, text="cong van hop") == []


def test_exact_filters(filled: AuditLog) -> None:
    assert _ids(filled, sender="vanthu@ubnd.example.gov.vn") == []  # stored as written
    assert _ids(filled, sender="Vanthu@UBND.example.gov.vn") == [3]
    assert _ids(filled, recipient="B@sgd.example.gov.vn") == [3]
    assert _ids(filled, message_id="moi-hop@ubnd") == [3]
    assert _ids(filled, message_id="<moi-hop@ubnd>") == [3]
    assert _ids(filled, queue_id="QQ2") == [3]
    assert _ids(filled, sha256=sha("moi").upper()) == [3]
    assert _ids(filled, filename="giay moi.docx") == [3]
    assert _ids(filled, action=Action.QUARANTINE) == [3]
    assert _ids(filled, dkim="pass") == [1]
    assert _ids(filled, dkim="fail") == [3]
    assert _ids(filled, smime="pass") == [1]
    assert _ids(filled, outcome="incomplete") == [5]
    assert _ids(filled, outcome="quarantined") == [3]


def test_summary_shows_outcome_or_its_absence(filled: AuditLog) -> None:
    by_id = {r.id: r for r in filled.query(Filters()).items}
    assert (by_id[1].outcome, by_id[3].outcome, by_id[5].outcome) == \
        ("relayed", "quarantined", None)
    assert (by_id[3].recipients, by_id[3].attachments) == (2, 1)


def test_pages(backend_db: AuditLog) -> None:
    backend_db.write([make_record(received_at=T0 + timedelta(minutes=i)) for i in range(25)])
    page = backend_db.query(Filters(page=3, page_size=10))
    assert (page.total, len(page.items), page.has_more) == (25, 5, False)
    assert [r.id for r in page.items] == [5, 4, 3, 2, 1]
    assert backend_db.query(Filters(page=2, page_size=10)).has_more


def test_a_unit_and_a_period_alone_find_the_records_as_they_read(backend_db: AuditLog) -> None:
    # answered from the unit memberships index alone (audit/query.py): newest first by
    # the time received, not by id; the period's start in and its end out; mail a unit
    # sent itself once; completions and admin events not counted
    since, until = T0, T0 + timedelta(days=1)
    noon, evening = T0 + timedelta(hours=12), T0 + timedelta(hours=18)
    a, itself, c, _end, _before, to_sgd, late = backend_db.write([
        make_record(received_at=noon),
        make_record(received_at=since, recipient_units=["stc"]),
        make_record(received_at=noon, sender_unit="ubnd", recipient_units=["stc"]),
        make_record(received_at=until),
        make_record(received_at=since - timedelta(seconds=1)),
        make_record(received_at=T0 + timedelta(hours=6), sender_unit="ubnd",
                    recipient_units=["sgd"]),
        make_record(received_at=evening, sender_unit="ubnd", recipient_units=["sgd", "stc"]),
    ])
    backend_db.complete(Completion(record_id=a, outcome=Fate.RELAYED, reply="250 2.0.0 Ok"))
    period = {"since": since, "until": until}
    assert _ids(backend_db, units=("stc",), **period) == [late, c, a, itself]
    assert backend_db.count(Filters(units=("stc",), **period)) == 4
    pages = [backend_db.query(Filters(units=("stc",), page=n, page_size=2, **period))
             for n in (1, 2, 3)]
    assert [([r.id for r in p.items], p.total, p.has_more) for p in pages] == [
        ([late, c], 4, True), ([a, itself], 4, False), ([], 4, False)]
    assert _ids(backend_db, recipient_units=("stc",), **period) == [late, c, itself]
    assert _ids(backend_db, units=("stc", "sgd"), **period) == [late, c, a, to_sgd, itself]
    assert backend_db.count(Filters(units=("stc", "sgd"), **period)) == 5
    assert _ids(backend_db, units=("sgd",), since=noon) == [late]
    assert _ids(backend_db, units=("nobody",), **period) == []


@pytest.mark.parametrize(("filters", "message"), [
    (Filters(sha256="xyz"), "invalid filter sha256='xyz': must be 64 hexadecimal digits"),
    (Filters(text="  --- "), "invalid filter text='  --- ': has no words to search for"),
    (Filters(since=T0, until=T0), "must be after since"),
    (Filters(since=datetime(2026, 1, 1)), "needs its offset"),
    (Filters(dkim="great"), "must be one of"),
    (Filters(page=0), "numbered from 1"),
    (Filters(outcome="lost"), "must be one of incomplete, quarantined"),
    (Filters(page_size=5000), "must be 1 to 1000"),
    (Filters(units=("",)), "cannot be empty"),
])
def test_bad_filters_get_clear_messages(filled: AuditLog, filters: Filters,
                                        message: str) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        filled.query(filters)


def test_fts_syntax_in_text_is_harmless(filled: AuditLog) -> None:
    assert _ids(filled, text='"cong" (van*') == [1]


def test_show_and_trace(filled: AuditLog) -> None:
    record = filled.show(3)
    assert record["subject"] == "Giấy mời họp Đảng ủy"
    assert record["envelope_recipients"] == ["a@stc.example.gov.vn", "b@sgd.example.gov.vn"]
    assert record["completions"][0]["outcome"] == "quarantined"
    with pytest.raises(AuditError, match="no audit record 99"):
        filled.show(99)
    [entry] = filled.trace(sha("cv123"))
    assert (entry.record_id, entry.outcome, entry.reply) == (1, "relayed", "250 2.0.0 Ok")
    assert entry.recipient_units == ["ubnd"]
    assert filled.trace(sha("nothing")) == []


def test_read_only_queries(filled: AuditLog, backend_config: AuditConfig) -> None:
    filled.close()
    with AuditLog.open_readonly(backend_config) as log:
        assert log.count(Filters(units=("stc",))) == 2
        assert len(list(log.records(Filters()))) == 3
