"""The report definition (audit/README.md): who sent what, from the trusted path only,
each message once, every format from the same counts."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import (
    Action,
    AdminEvent,
    AdminKind,
    Attachment,
    AuditRecord,
    AuthResult,
    Completion,
    Direction,
    Fate,
    Role,
)
from audit.report import Counts, Report
from audit.reportfmt import COLUMNS, CSV_COLUMNS, ROW_COLUMNS, render
from audit.store import AuditLog
from mailbase import parse_period, zone
from support.audit import T0, make_record, sha

PERIOD = "2026-11"
NAMES = {"stc": "Sở Tài chính", "ubnd": "UBND tỉnh", "sotc": "Sở Thông tin",
         "xa1": "UBND xã Một"}


def box(unit: str) -> str:
    return f"vanthu@{unit}.example.gov.vn"


def outbound(unit: str = "stc", *to: str, minutes: int = 0, **overrides: Any) -> AuditRecord:
    """Mail unit ``unit`` sent on the trusted path to the units ``to`` (default ubnd)."""
    to = to or ("ubnd",)
    values: dict[str, Any] = {
        "received_at": T0 + timedelta(minutes=minutes), "sender_unit": unit,
        "envelope_sender": box(unit), "header_from": box(unit),
        "envelope_recipients": [box(u) for u in to],
        "recipient_unit_of": {box(u): u for u in to}, "recipient_units": list(to),
        "attachments": [],
    }
    return make_record(**{**values, **overrides})


def inbound(claimed: str | None, *to: str, minutes: int = 0, action: Action = Action.ACCEPT,
            auth: tuple[AuthResult, ...] = (), **overrides: Any) -> AuditRecord:
    """Mail from outside whose From claims unit ``claimed`` (stored as its sender unit,
    as milter writes it), to the units ``to``."""
    values: dict[str, Any] = {
        "received_at": T0 + timedelta(minutes=minutes), "listener": "mx",
        "role": Role.INBOUND, "direction": Direction.INBOUND, "client_address": "203.0.113.9",
        "envelope_sender": "someone@example.org",
        "header_from": box(claimed) if claimed else "someone@example.org",
        "sender_unit": claimed, "envelope_recipients": [box(u) for u in to],
        "recipient_unit_of": {box(u): u for u in to}, "recipient_units": list(to),
        "attachments": [], "action": action, "authentication": list(auth),
    }
    return make_record(**{**values, **overrides})


def dmarc(result: str, disposition: str | None = None) -> AuthResult:
    return AuthResult(method="dmarc", result=result, domain="stc.example.gov.vn",
                      disposition=disposition)


def attachment(name: str, detected: str, document: str | None = None,
               signatures: list[dict[str, Any]] | None = None, path: str = "2") -> Attachment:
    return Attachment(path=path, filename=name, declared_type="application/pdf",
                      detected_type=detected, size=100, sha256=sha(name), document=document,
                      signatures=signatures)


def signature(verdict: str, *, is_timestamp: bool = False) -> dict[str, Any]:
    return {"verdict": verdict, "signer": "Nguyễn Văn A", "is_timestamp": is_timestamp}


PDF, ZIP = "application/pdf", "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument"
DOCUMENTS = [
    attachment("valid.pdf", PDF, "valid", [signature("valid")]),
    attachment("invalid.pdf", PDF, "invalid", [signature("invalid")]),
    attachment("unsigned.pdf", PDF, "unsigned", []),
    # a program that calls itself a PDF is not a document
    attachment("invoice.pdf", "application/x-dosexec", path="5"),
    attachment("bundle.zip", ZIP, path="6"),
    # archive members: an OOXML whose verdict is invalid but with one valid signature,
    # an ODF file signer/ did not judge, and a timestamp-only signature (not valid)
    attachment("a.docx", DOCX, "invalid", [signature("invalid"), signature("valid")],
               path="6/a.docx"),
    attachment("b.odt", ODT, path="6/b.odt"),
    attachment("c.pdf", PDF, "unverifiable", [signature("valid", is_timestamp=True)],
               path="6/c.pdf"),
    attachment("photo.jpg", "image/jpeg", path="7"),
]


def fill(log: AuditLog) -> None:
    """One of each case; the comments say what each counts as."""

    def record(rec: AuditRecord, outcome: Fate | None, reply: str = "250 ok") -> int:
        rid = log.record(rec)
        if outcome is not None:
            log.complete(Completion(record_id=rid, outcome=outcome, reply=reply,
                                    at=rec.received_at + timedelta(seconds=1)))
        return rid

    # stc sent to ubnd: relayed, with documents -> stc sent, ubnd received
    record(outbound("stc", attachments=DOCUMENTS), Fate.RELAYED)
    # stc sent to ubnd and sotc (two units) -> received once by each, once in the total
    record(outbound("stc", "ubnd", "sotc", minutes=1), Fate.STRIPPED)
    # stc's message refused (From of another unit) -> sent_refused; ubnd refused too
    record(outbound("stc", minutes=2, action=Action.REJECT, authentication=[
        AuthResult(method="sender", result="fail", reason="From is not stc's")]),
        Fate.REJECTED, "550 5.7.1")
    # stc's message still held -> sent_held
    record(outbound("stc", minutes=3, action=Action.QUARANTINE), Fate.QUARANTINED,
           "quarantined as Q-held")
    # stc's message held, then released -> sent (and received by ubnd)
    record(outbound("stc", minutes=4, action=Action.QUARANTINE), Fate.QUARANTINED,
           "quarantined as Q-released")
    log.admin(AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin",
                         target="Q-released", unit_id="stc", at=T0 + timedelta(days=40)))
    # stc's message held, then deleted -> refused
    record(outbound("stc", minutes=5, action=Action.QUARANTINE), Fate.QUARANTINED,
           "quarantined as Q-deleted")
    log.admin(AdminEvent(kind=AdminKind.QUARANTINE_DELETE, actor="system (retention)",
                         target="Q-deleted", unit_id="stc", at=T0 + timedelta(days=1)))
    # tempfailed, and in flight: counted nowhere
    record(outbound("stc", minutes=6), Fate.TEMPFAILED, "451")
    record(outbound("stc", minutes=7), None)
    # a forgery of stc from outside, to ubnd, refused -> stc forgery_attempts, not sent;
    # not refused mail to ubnd (ubnd's spoof_refused)
    record(inbound("stc", "ubnd", minutes=8, action=Action.REJECT, auth=(
        dmarc("fail"), dmarc("fail", "spoof-refused"))), Fate.REJECTED, "550 5.7.1")
    # a forgery held -> stc forgery_attempts
    record(inbound("stc", "sotc", minutes=9, action=Action.QUARANTINE,
                   auth=(dmarc("fail", "spoof-quarantine"),)),
           Fate.QUARANTINED, "quarantined as Q-forged")
    # an ambiguous forged From that names no unit: counted for no unit
    record(inbound(None, "ubnd", minutes=10, action=Action.REJECT,
                   auth=(dmarc("fail", "spoof-refused"),)), Fate.REJECTED, "550 5.7.1")
    # from stc's address through an outside server, relayed: claimed, not sent by stc;
    # received by sotc
    record(inbound("stc", "sotc", minutes=11, auth=(dmarc("pass"),)), Fate.RELAYED)
    # from outside to ubnd, refused by policy -> ubnd received_refused
    record(inbound(None, "ubnd", minutes=12, action=Action.REJECT), Fate.REJECTED, "550")
    # next month: not in the period
    record(outbound("stc", minutes=60 * 24 * 30), Fate.RELAYED)


@pytest.fixture
def store(backend_config: AuditConfig) -> AuditConfig:
    """The period's records, on each backend."""
    with AuditLog.open(backend_config) as log:
        fill(log)
    return backend_config


def report_of(config: AuditConfig, units: tuple[str, ...] = ()) -> Report:
    with AuditLog.open_readonly(config) as log:
        return log.report(parse_period(PERIOD, zone("Asia/Ho_Chi_Minh")), units)


def by_unit(report: Report) -> dict[str, Counts]:
    return {u.unit_id: u.counts for u in report.units}


def test_what_each_unit_sent_received_and_had_forged(store: AuditConfig) -> None:
    units = by_unit(report_of(store))
    assert set(units) == {"stc", "ubnd", "sotc"}
    stc, ubnd, sotc = units["stc"], units["ubnd"], units["sotc"]
    assert (stc.sent, stc.sent_refused, stc.sent_held, stc.forgery_attempts) == (3, 2, 1, 2)
    assert (stc.received, stc.received_refused) == (0, 0)
    # relayed x2 and released; refused: stc's refused message, the one deleted from
    # quarantine, and the policy refusal (forgeries are not: they are its spoof_refused)
    assert (ubnd.received, ubnd.received_refused, ubnd.spoof_refused) == (3, 3, 2)
    assert (ubnd.dmarc_checked, ubnd.dmarc_pass, ubnd.forgery_attempts) == (2, 0, 0)
    # stc's message to two units and the claimed one from stc's address
    assert (sotc.received, sotc.received_refused, sotc.sent) == (2, 0, 0)
    assert (sotc.dmarc_checked, sotc.dmarc_pass) == (2, 1)
    assert (stc.dkim_signed, stc.smime_signed, stc.dkim_share) == (3, 3, 1.0)


def test_documents_of_sent_mail(store: AuditConfig) -> None:
    stc = by_unit(report_of(store))["stc"]
    # valid, invalid, unsigned, a.docx, b.odt, c.pdf; not the program, the zip, the photo
    assert stc.documents_sent == 6
    # valid, invalid, a.docx; not c.pdf (a document timestamp is not a signature)
    assert stc.documents_signed == 3
    # valid.pdf, and a.docx for its one valid signature (not c.pdf's timestamp)
    assert stc.documents_valid == 2


def test_the_total_counts_each_message_once(store: AuditConfig) -> None:
    report = report_of(store)
    total = report.total
    assert (total.sent, total.sent_refused, total.sent_held, total.forgery_attempts) == (
        3, 2, 1, 2)
    # the message to ubnd and sotc is one message: 3 + 2 - 1
    assert total.received == 4
    assert total.received_refused == 3
    assert total.spoof_refused == 2  # the two refused forgeries, both to ubnd
    assert total.documents_sent == 6
    per_unit = sum(u.counts.received for u in report.units)
    assert per_unit == total.received + 1


def test_named_units_appear_with_zeros_in_the_given_order(store: AuditConfig) -> None:
    report = report_of(store, ("xa1", "sotc"))
    assert [u.unit_id for u in report.units] == ["xa1", "sotc"]
    assert report.units[0].counts == Counts() and report.units[0].mailboxes == []
    # the total covers the named units only
    assert (report.total.received, report.total.sent) == (2, 0)
    with AuditLog.open_readonly(store) as log:
        empty = log.report(parse_period("2026-10", zone("Asia/Ho_Chi_Minh")), ["stc"])
    assert [(u.unit_id, u.counts) for u in empty.units] == [("stc", Counts())]


def test_mailboxes_are_the_units_own_addresses(store: AuditConfig) -> None:
    report = report_of(store)
    boxes = {(u.unit_id, b.address): b.counts for u in report.units for b in u.mailboxes}
    # no outside address appears as a unit's mailbox, forged or not
    assert all(address.endswith(".example.gov.vn") for _, address in boxes)
    assert boxes[("stc", box("stc"))].sent == 3
    assert boxes[("ubnd", box("ubnd"))].received == 3
    assert ("stc", "someone@example.org") not in boxes


def test_a_message_sent_as_another_unit(audit_config: AuditConfig) -> None:
    # the secretariat (van-phong) sent as ubnd: ubnd's sent mail, its envelope kept
    rec = outbound("ubnd", "stc", envelope_sender=box("van-phong"),
                   submitted_by_unit="van-phong")
    with AuditLog.open(audit_config) as log:
        rid = log.record(rec)
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED, at=T0))
        shown = log.show(rid)
        assert log.verify().is_intact
    assert shown["submitted_by_unit"] == "van-phong" and shown["sender_unit"] == "ubnd"
    units = by_unit(report_of(audit_config))
    assert units["ubnd"].sent == 1 and "van-phong" not in units


# The hashes the previous release gave these two records (its audit/ code, unchanged
# records): a record without the new field must keep its hash.
PREVIOUS_HASHES = [
    "a7ed7b3137ab31e66a336e50af62fde5a6696db9a4541d74540de27b5375f021",
    "5d10dc411b483adcdbb68e057b03a330f70af5c9548d55fc6566bb9a6f3fef04",
]


def test_records_as_the_previous_release_wrote_them(audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        log.record(make_record())
        # the previous release stored a forgery's claimed unit as its sender unit
        rid = log.record(make_record(
            direction=Direction.INBOUND, role=Role.INBOUND, listener="mx",
            envelope_sender="x@example.org", action=Action.REJECT,
            authentication=[AuthResult(method="dmarc", result="fail",
                                       domain="stc.example.gov.vn",
                                       disposition="spoof-refused")]))
        log.complete(Completion(record_id=rid, outcome=Fate.REJECTED, at=T0))
        hashes = [h for (h,) in log.db.conn.execute(
            "SELECT hash FROM events WHERE kind = 'message' ORDER BY seq")]
        roles = log.db.conn.execute(
            "SELECT role FROM memberships WHERE record_id = ? AND unit_id = 'stc'",
            (rid,)).fetchall()
        assert log.verify().is_intact
    assert hashes == PREVIOUS_HASHES
    assert roles == [("sent",)]  # the index still says 'sent': the report reads past it
    stc = by_unit(report_of(audit_config))["stc"]
    assert (stc.sent, stc.sent_refused, stc.forgery_attempts) == (0, 0, 1)


def cli(config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: config, descendants=lambda unit: [unit],
                       unit_names=lambda: NAMES)
    assert isinstance(group, click.Group)
    return group


def run(config: AuditConfig, *args: str) -> str:
    result = CliRunner().invoke(cli(config), ["report", "--period", PERIOD, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_csv_columns_rows_and_total(store: AuditConfig) -> None:
    out = run(store, "--format", "csv", "--unit", "stc", "--unit", "ubnd", "--unit", "xa1")
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames == CSV_COLUMNS == [
        *COLUMNS[:-1], "mailboxes", "activated", "regular", "activation_rate", "regular_rate",
        "official", "last_sent", "busiest_correspondents", "chain_seq", "chain_hash"]
    assert COLUMNS[:11] == ["unit", "mailbox", "sent", "sent_refused", "sent_held",
                            "received", "received_refused", "forgery_attempts",
                            "documents_sent", "documents_signed", "documents_valid"]
    rows = {(r["unit"], r["mailbox"]): r for r in reader}
    assert (rows[("stc", "")]["sent"], rows[("stc", "")]["forgery_attempts"]) == ("3", "2")
    assert rows[("stc", "")]["dkim_signed"] == "100.0%"
    assert rows[("xa1", "")]["sent"] == "0"  # named: shown with zeros
    assert rows[("stc", box("stc"))]["sent"] == "3"
    total = rows[("", "")]
    assert (total["sent"], total["received"], total["forgery_attempts"]) == ("3", "3", "2")


def test_json_has_the_same_rows_and_utc_times(store: AuditConfig) -> None:
    data = json.loads(run(store, "--format", "json"))
    assert data["period"] == PERIOD
    assert data["start"] == "2026-10-31T17:00:00+00:00"
    assert data["end"] == "2026-11-30T17:00:00+00:00"
    rows = {(r["unit"], r["mailbox"]): r for r in data["rows"]}
    assert list(data["rows"][0]) == ROW_COLUMNS
    assert rows[("ubnd", "")]["received"] == 3 and rows[("", "")]["received"] == 4
    assert rows[("sotc", "")]["dmarc_passed"] == 50.0


def test_table_and_html_read_in_vietnamese_with_unit_names(store: AuditConfig,
                                                           tmp_path: Path) -> None:
    table = run(store)
    header = table.splitlines()[2]  # after the title and the chain's position
    assert header.startswith("Đơn vị") and "Bị giả mạo" in header
    assert "Sở Tài chính" in table and "Tổng cộng" in table
    page = tmp_path / "r.html"
    run(store, "--format", "html", "--out", str(page))
    html = page.read_text(encoding="utf-8")
    assert '<td title="stc">Sở Tài chính</td>' in html
    assert "<th>Văn bản ký số hợp lệ</th>" in html and "Tổng cộng" in html
    assert html.count("<svg") == 3  # volume, signed shares, DMARC
    assert "<script src" not in html


def test_formats_render_the_same_counts(store: AuditConfig) -> None:
    report = report_of(store)
    csv_rows = list(csv.DictReader(io.StringIO(render(report, "csv", "Asia/Ho_Chi_Minh"))))
    json_rows = json.loads(render(report, "json", "Asia/Ho_Chi_Minh"))["rows"]
    assert [(r["unit"], r["mailbox"], r["sent"], r["received"]) for r in csv_rows] == [
        (r["unit"], r["mailbox"], str(r["sent"]), str(r["received"])) for r in json_rows]


def test_query_shows_claimed_not_sent(store: AuditConfig) -> None:
    from audit.query import Filters

    with AuditLog.open_readonly(store) as log:
        items = log.query(Filters(units=("stc",), page_size=100)).items
        forged = log.show(next(i.id for i in items if i.direction == "inbound"))
    inbound_items = [i for i in items if i.direction == "inbound"]
    assert inbound_items and all(
        i.sender_unit is None and i.claimed_unit == "stc" for i in inbound_items)
    assert all(i.sender_unit == "stc" for i in items if i.direction == "outbound")
    assert forged["claimed_unit"] == "stc" and "sender_unit" not in forged
    out = CliRunner().invoke(cli(store), ["query", "--unit", "stc", "--format", "csv",
                                          "--direction", "inbound"]).output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(r["sender_unit"] == "" and r["claimed_unit"] == "stc" for r in rows)


TREE = {"ubnd": None, "stc": "ubnd", "sotc": "stc", "xa1": "stc", "so-khac": "ubnd"}


def test_the_tree_order_with_zeros_and_subtotals_counting_each_message_once(
        store: AuditConfig) -> None:
    with AuditLog.open(store) as log:
        # one message to two units of stc's subtree: received by each, once in its subtotal
        rid = log.record(outbound("ubnd", "stc", "sotc", minutes=20))
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED, at=T0))
    with AuditLog.open_readonly(store) as log:
        report = log.report(parse_period(PERIOD, zone("Asia/Ho_Chi_Minh")),
                            listed=list(TREE), parents=TREE)
    units = {u.unit_id: u for u in report.units}
    # parents before children, siblings in the directory's order, zeros shown
    assert [(u.unit_id, u.depth) for u in report.units] == [
        ("ubnd", 0), ("stc", 1), ("sotc", 2), ("xa1", 2), ("so-khac", 1)]
    assert units["xa1"].counts == Counts() and units["so-khac"].counts == Counts()
    stc, sotc, subtotal = units["stc"].counts, units["sotc"].counts, units["stc"].subtotal
    assert subtotal is not None and (stc.received, sotc.received) == (1, 3)
    # stc's own sending (counted, from the definition, in the first test) and the
    # message to stc and sotc once; forgeries of stc; sotc's DMARC checks
    assert (subtotal.sent, subtotal.received, subtotal.forgery_attempts) == (3, 3, 2)
    assert (subtotal.dmarc_checked, subtotal.dmarc_pass) == (2, 1)
    # ubnd's subtree is the whole report: its total, not repeated as a subtotal
    assert units["ubnd"].subtotal is None and units["sotc"].subtotal is None
    # delivered messages to a unit, each once: stc's relayed, stripped (to two units) and
    # released ones, the claimed one to sotc, and the new one to two units
    assert report.total.received == 5
    json_report = json.loads(render(report, "json", "Asia/Ho_Chi_Minh"))
    assert [s["unit"] for s in json_report["subtotals"]] == ["stc"]
    assert json_report["subtotals"][0]["received"] == 3
    # the machine rows keep their columns: no subtotal among them
    assert [r["unit"] for r in json_report["rows"] if not r["mailbox"]] == [*TREE, ""]
    assert list(json_report["rows"][0]) == ROW_COLUMNS


def test_a_tree_shown_in_part_hangs_on_the_nearest_unit_shown() -> None:
    from audit.reporttree import tree

    # an auditor granted stc and so-khac: stc heads its tree; xa1's parent is not shown
    # but its grandparent is; a loop of parents is shown as roots, not lost
    found = tree(["stc", "xa1", "so-khac", "a", "b"],
                 {"stc": "ubnd", "xa1": "x", "x": "stc", "so-khac": "ubnd", "a": "b",
                  "b": "a"})
    assert [(u, found.depth[u]) for u in found.order] == [
        ("stc", 0), ("xa1", 1), ("so-khac", 0), ("a", 0), ("b", 0)]
    assert found.heads["xa1"] == ("stc",) and found.size == {"stc": 2}
