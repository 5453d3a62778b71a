"""The report's summary (audit/summary.py): the report reads the same figures from it as
from the records, through renames, predecessors, held messages released or deleted, a
changed completion, retention and a rebuild; `audit verify` finds a wrong figure and
names its day and unit; an older store's report reads the records until it is built."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from click.testing import CliRunner

from audit import summary
from audit.cli import commands
from audit.config import AuditConfig
from audit.keys import KeyTrust
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
    Operation,
    Role,
)
from audit.report import FIELDS, Report
from audit.reportuse import RosterMailbox
from audit.store import AuditLog
from audit.summaryschema import COUNTED, KEYS, SUMMARY_ZONE, is_current, live_head
from mailbase import Period, parse_period, zone
from support.audit import T0, bulk_fill, make_record, sha
from support.threads import run_together

UNITS = ["a", "b", "c", "d", "e"]
START = datetime(2026, 9, 28, 16, 30, tzinfo=UTC)  # near midnight in Ho Chi Minh City
DAYS = 75
RENAMED = {"a": "b"}  # a merged into b, recorded after the first half
ROLLED = {"c": "d"}  # c's mail counted under d (--with-predecessors)
VN = zone("Asia/Ho_Chi_Minh")


def _box(unit: str) -> str:
    return f"vanthu@{unit}.gov.vn"


def _attachments(rng: random.Random) -> list[Attachment]:
    found = []
    for n in range(rng.choice((0, 0, 1, 2))):
        verdict = rng.choice((None, "valid", "invalid", "unsigned"))
        signatures = [] if verdict in (None, "unsigned") else [{
            "verdict": verdict, "signer": "Nguyễn Văn A", "is_timestamp": False,
            "root_family": rng.choice(("gov", "public", None)),
            "signer_role": rng.choice(("organisation", "person")), "signer_unit": "b"}]
        found.append(Attachment(path=str(n + 2), filename=f"cv{n}.pdf",
                                declared_type="application/pdf",
                                detected_type=rng.choice(("application/pdf", "image/png")),
                                size=100, sha256=sha(f"{n}{verdict}"), document=verdict,
                                signatures=signatures, complete=rng.random() < 0.3))
    return found


def _record(rng: random.Random, at: datetime, units: list[str]) -> AuditRecord:
    to = rng.sample(units, rng.choice((1, 1, 2, 3)))
    recipients = [_box(u) for u in to] + (["ai@example.org"] if rng.random() < 0.2 else [])
    values: dict[str, Any] = {
        "received_at": at, "envelope_recipients": recipients,
        "recipient_unit_of": {_box(u): u for u in to}, "recipient_units": to,
        "attachments": _attachments(rng),
        "action": rng.choice((Action.ACCEPT, Action.ACCEPT, Action.REJECT, Action.QUARANTINE)),
    }
    if rng.random() < 0.6:
        unit = rng.choice(units)
        sender = rng.choice((f"staff{rng.randrange(3)}@{unit}.gov.vn", _box(unit), ""))
        signed = [AuthResult(method="dkim", operation=Operation.SIGN, result="pass",
                             domain=f"{unit}.gov.vn", selector="s"),
                  AuthResult(method="smime", operation=Operation.SIGN, result="pass",
                             signer=_box(unit))]
        values.update(sender_unit=unit, envelope_sender=sender, header_from=_box(unit),
                      authentication=[a for a in signed if rng.random() < 0.7])
    else:
        claimed = rng.choice([*units, None])
        result = rng.choice(("pass", "fail", "fail"))
        disposition = rng.choice((None, "spoof-refused", "spoof-quarantine")) \
            if result == "fail" else None
        values.update(
            listener="mx", role=Role.INBOUND, direction=Direction.INBOUND,
            client_address="203.0.113.9", envelope_sender="someone@example.org",
            header_from=_box(claimed) if claimed else "someone@example.org",
            sender_unit=claimed, authentication=[AuthResult(
                method="dmarc", result=result, domain="b.gov.vn", disposition=disposition)])
    return make_record(**values)


def fill(log: AuditLog, seed: int = 11, count: int = 260, *, decide_held: bool = True,
         in_order: bool = False) -> None:
    """Mail among the units over two and a half months, written as the filter writes
    it: a record, then (mostly) its completion; held messages released or deleted
    later; a rename halfway; a record completed twice."""
    rng = random.Random(seed)
    held: list[str] = []
    units = ["a", "b", "c", "d"]
    times = [START + timedelta(minutes=rng.randrange(DAYS * 24 * 60)) for _ in range(count)]
    for n, at in enumerate(sorted(times) if in_order else times):
        if n == count // 2:
            log.admin(AdminEvent(kind=AdminKind.UNITS_RENAMED, actor="test", target="p.csv",
                                 details=dict(RENAMED)))
            units = ["b", "c", "d", "e"]
        rid = log.record(_record(rng, at, units))
        fate = rng.choice((Fate.RELAYED, Fate.RELAYED, Fate.STRIPPED, Fate.REJECTED,
                           Fate.QUARANTINED, Fate.TEMPFAILED, None))
        if fate is None:
            continue
        reply = "250 ok"
        if fate is Fate.QUARANTINED:
            reply = f"quarantined as Q{n}"
            held.append(f"Q{n}")
        done = at + timedelta(seconds=2)
        log.complete(Completion(record_id=rid, outcome=fate, reply=reply, at=done))
        if n % 37 == 5:  # said again, otherwise (the delivered one taken back out)
            log.complete(Completion(record_id=rid, outcome=Fate.REJECTED, reply="550",
                                    at=done + timedelta(seconds=1)))
        if decide_held and held and rng.random() < 0.25:
            kind = rng.choice((AdminKind.QUARANTINE_RELEASE, AdminKind.QUARANTINE_DELETE))
            log.admin(AdminEvent(kind=kind, actor="admin", target=held.pop(0), at=done))


def _reports(log: AuditLog) -> dict[str, Report]:
    roster = [RosterMailbox(address=f"staff{k}@{u}.gov.vn", unit_id=u,
                            created=date(2026, 10, 20) if k else None)
              for u in UNITS for k in range(3)]
    quarter, month = parse_period("2026-Q4", VN), parse_period("2026-11", VN)
    utc_month = parse_period("2026-11", zone("UTC"))  # days of another zone: partly
    parents = {"a": "b", "b": None, "c": "b", "d": None, "e": "d"}
    return {
        "quarter": log.report(quarter),
        "month, two units": log.report(month, ["b", "d"], listed=UNITS),
        "quarter, tree, predecessors": log.report(quarter, ["b", "d", "e"], parents=parents,
                                                  rolled=ROLLED),
        "quarter, roster": log.report(quarter, roster=roster, tz=VN, regular_min=2),
        "month in UTC, roster": log.report(utc_month, roster=roster, tz=zone("UTC")),
        "month in UTC": log.report(utc_month, ["c"]),
        "a few days": log.report(Period("days", datetime(2026, 11, 3, 20, tzinfo=UTC),
                                        datetime(2026, 11, 9, 1, tzinfo=UTC))),
    }


def _summarised(config: AuditConfig) -> bool:
    with AuditLog.open_readonly(config) as log:
        conn = log.db.conn
        return is_current(conn, live_head(conn))


def _stale(config: AuditConfig) -> None:
    with AuditLog.open(config) as log, log._immediate("forget the summary"):
        summary.mark_stale(log.db.conn)


def _verify(config: AuditConfig) -> Any:
    with AuditLog.open(config) as log:
        return log.verify(trust=KeyTrust.own(log.signer.public_key) if log.signer else None)


def test_the_summary_holds_the_reports_columns() -> None:
    assert COUNTED == FIELDS  # a new column needs a migration adding it


def test_the_report_reads_the_same_figures_from_the_summary(backend_config: AuditConfig
                                                             ) -> None:
    with AuditLog.open(backend_config) as log:
        fill(log)
    assert _summarised(backend_config)
    with AuditLog.open_readonly(backend_config) as log:
        from_summary = _reports(log)
    assert from_summary["quarter"].total.sent > 20
    assert from_summary["quarter"].total.received > 50
    _stale(backend_config)
    assert not _summarised(backend_config)
    with AuditLog.open_readonly(backend_config) as log:
        from_records = _reports(log)
    for name, report in from_records.items():
        assert from_summary[name] == report, name
    # rebuilt from the chain: the same figures again, and verify says it matches
    with AuditLog.open(backend_config) as log:
        rebuilt = log.rebuild_summary()
    assert rebuilt.months == 4  # September (its last days) to December
    assert _summarised(backend_config)
    with AuditLog.open_readonly(backend_config) as log:
        assert _reports(log) == from_records
    checked = _verify(backend_config)
    assert checked.is_intact, checked.describe()
    assert "the report summary matches the records" in checked.notes


def test_verify_names_the_day_and_unit_of_a_wrong_figure(audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        fill(log, count=60)
        conn = log.db.conn
        day, unit = conn.execute("SELECT day, unit FROM summary_sent WHERE sent > 0 "
                                 "ORDER BY day, unit LIMIT 1").fetchone()
        conn.execute("UPDATE summary_sent SET sent = sent + 1 WHERE day = ? AND unit = ?",
                     (day, unit))
        conn.commit()
    found = _verify(audit_config)
    assert not found.is_intact
    assert found.problem.startswith("the report summary does not match the records: "
                                    f"day {day}, unit {unit}, mailbox ")
    assert "sent is " in found.problem and "congvu audit summary rebuild" in found.problem
    [group] = commands(lambda _path: audit_config)
    result = CliRunner().invoke(group, ["summary", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "report summary rebuilt: 4 month(s) counted" in result.output
    assert _verify(audit_config).is_intact


def test_retention_counts_the_days_it_removed_again(audit_config: AuditConfig) -> None:
    with AuditLog.open(audit_config) as log:
        fill(log, seed=5, count=120, decide_held=False, in_order=True)
        assert log.prune(datetime(2026, 10, 20, 3, tzinfo=UTC)) > 0
    assert _summarised(audit_config)
    with AuditLog.open_readonly(audit_config) as log:
        kept = _reports(log)
    _stale(audit_config)
    with AuditLog.open_readonly(audit_config) as log:
        assert _reports(log) == kept


def test_retention_of_what_decided_a_held_message_leaves_it_to_a_rebuild(
        audit_config: AuditConfig) -> None:
    """A removed release or deletion changes how the message it decided is read,
    whatever its day: the report reads the records until the summary is rebuilt."""
    with AuditLog.open(audit_config) as log:
        fill(log, seed=5, count=120, in_order=True)
        log.prune(datetime(2026, 11, 20, 3, tzinfo=UTC))
    assert not _summarised(audit_config)


def test_an_older_store_reads_the_records_until_rebuilt(audit_config: AuditConfig) -> None:
    """A store whose rows came another way (a bulk load here; an older release, an
    imported chain) no longer matches the summary's state: the report reads the records,
    verify says so, and a rebuild makes it current."""
    bulk_fill(audit_config.path, 3000, units=6, months=2, keys_dir=audit_config.keys_dir,
              has_completions=True)
    with AuditLog.open(audit_config):
        pass  # migrated
    assert not _summarised(audit_config)
    period = parse_period("2026-01", VN)
    with AuditLog.open_readonly(audit_config) as log:
        before = log.report(period)
    assert before.total.sent > 1000
    with AuditLog.open(audit_config) as log:
        assert "the report summary is not in use" in " ".join(
            log.verify(trust=KeyTrust.own(log.signer.public_key) if log.signer else None
                       ).notes)
        log.rebuild_summary()
    assert _summarised(audit_config)
    with AuditLog.open_readonly(audit_config) as log:
        assert log.report(period) == before


def _figures(config: AuditConfig) -> dict[str, set[tuple[Any, ...]]]:
    """Each summary table's rows as the store holds them, but those counting nothing."""
    with AuditLog.open_readonly(config) as log:
        conn = log.db.conn
        return {table: {tuple(row) for row in conn.execute(f"SELECT * FROM {table}")
                        if any(v for v in row[len(keys):] if isinstance(v, int))}
                for table, keys in KEYS.items()}


def _is_what_a_rebuild_counts(config: AuditConfig, kept: dict[str, set[tuple[Any, ...]]]
                              ) -> None:
    """verify finds the summary the appends ``kept`` matches the records, and a rebuild
    counts the same rows."""
    checked = _verify(config)
    assert checked.is_intact, checked.describe()
    assert "the report summary matches the records" in checked.notes
    with AuditLog.open(config) as log:
        log.rebuild_summary()
    assert _figures(config) == kept


def _completion(rng: random.Random, rid: int, n: int) -> Completion:
    fate = rng.choice((Fate.RELAYED, Fate.RELAYED, Fate.STRIPPED, Fate.REJECTED,
                       Fate.QUARANTINED, Fate.TEMPFAILED))
    reply = f"quarantined as Q{rid}" if fate is Fate.QUARANTINED else f"250 ok {n}"
    return Completion(record_id=rid, outcome=fate, reply=reply,
                      at=START + timedelta(days=10, seconds=n))


def test_two_writers_interleaving_records_and_completions_keep_the_summary(
        backend_config: AuditConfig) -> None:
    """Two servers' writers, each batch records of its own and completions of the
    other's records (some completed by both at once, a delivered one taken back out, a
    record counted before its completion), held messages released or deleted by either
    one, a rename between: the summary kept by their appends is what a rebuild counts."""
    AuditLog.open(backend_config).close()
    rounds, writers = 14, 2
    made: dict[tuple[int, int], list[int]] = {}  # (writer, round) -> its records' ids
    held: list[str] = []
    gate = threading.Barrier(writers)
    completed_by_server = [0] * writers

    def batch(n: int, r: int, rng: random.Random) -> list[Any]:
        at = START + timedelta(days=r * 5, hours=n * 7)
        items: list[Any] = [] if r % 3 == 2 else [
            _record(rng, at + timedelta(minutes=k), ["a", "b", "c", "d"]) for k in range(2)]
        theirs = made.get((1 - n, r - 1), [])
        items += [_completion(rng, rid, r) for rid in theirs]
        if theirs:  # completed by both servers at once
            items.append(_completion(rng, theirs[0], r + 100))
        if (n, r) == (0, 7):
            items.append(AdminEvent(kind=AdminKind.UNITS_RENAMED, actor="test",
                                    target="p.csv", details=dict(RENAMED)))
        if held and r % 2 == n:
            kind = rng.choice((AdminKind.QUARANTINE_RELEASE, AdminKind.QUARANTINE_DELETE))
            items.append(AdminEvent(kind=kind, actor="admin", target=held[0]))
        return items

    def write(n: int) -> None:
        rng = random.Random(n)
        with AuditLog.open(backend_config) as log:
            for r in range(rounds):
                gate.wait()  # the other's records of the round before are written
                items = batch(n, r, rng)
                linked = getattr(log, "linked_in_server", 0)
                ids = log.write(items)
                if any(isinstance(i, Completion) for i in items):
                    completed_by_server[n] += getattr(log, "linked_in_server", 0) - linked
                made[(n, r)] = [seq for seq, i in zip(ids, items, strict=True)
                                if isinstance(i, AuditRecord)]
                held.extend(f"Q{i.record_id}" for i in items if isinstance(i, Completion)
                            and i.outcome is Fate.QUARANTINED)
                gate.wait()  # both wrote the round
                if n == 0 and held and r % 4 == 3:
                    held.pop(0)

    assert run_together(write, writers, barrier=gate) == []
    with AuditLog.open(backend_config) as log:  # a completion in its record's batch
        head, _ = log.head()
        log.write([_record(random.Random(5), START + timedelta(days=3), ["b", "c"]),
                   Completion(record_id=head + 1, outcome=Fate.RELAYED, reply="250")])
    if backend_config.url is not None:
        assert sum(completed_by_server) > 0  # the database server counted them
    assert _summarised(backend_config)
    kept = _figures(backend_config)
    assert sum(len(rows) for rows in kept.values()) > 50
    _is_what_a_rebuild_counts(backend_config, kept)


def test_summary_days_are_local_days() -> None:
    assert summary.day_of("2026-10-31T16:59:59.000000+00:00") == "2026-10-31"
    assert summary.day_of("2026-10-31T17:00:00.000000+00:00") == "2026-11-01"
    assert SUMMARY_ZONE.key == "Asia/Ho_Chi_Minh"


def test_a_decision_naming_no_held_message_changes_no_figure(backend_config: AuditConfig
                                                             ) -> None:
    """A release or deletion names a held message by the quarantine id its completion
    gave (``quarantined as <id>``): one with an empty target names none, and a held
    message whose completion gave no id (no reply, another reply, an empty id) is named
    by none, so it stays held. An id is read as the SQL reads it (spaces cut, nothing
    else): a release of Q9 does not name ``Q9`` followed by a tab. The summary kept by
    the appends is then what a rebuild counts, on both backends (on PostgreSQL the
    database server adds what the decisions change)."""
    with AuditLog.open(backend_config) as log:
        ids = [log.record(make_record(received_at=T0 + timedelta(minutes=n)))
               for n in range(6)]
        replies = [None, "held by policy", "quarantined as ", "quarantined as Q9\t",
                   "quarantined as  Q1 ", "quarantined as Q2"]
        for rid, reply in zip(ids, replies, strict=True):
            log.complete(Completion(record_id=rid, outcome=Fate.QUARANTINED, reply=reply))
        linked = getattr(log, "linked_in_server", 0)
        log.admin(AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin", target=""))
        log.write([AdminEvent(kind=AdminKind.QUARANTINE_DELETE, actor="admin", target=""),
                   AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin", target="Q9"),
                   AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin", target="Q1")])
        log.admin(AdminEvent(kind=AdminKind.QUARANTINE_DELETE, actor="admin", target="Q2"))
        if backend_config.url is not None:
            assert getattr(log, "linked_in_server", 0) - linked == 3
        total = log.report(parse_period("2026-11", VN)).total
    assert (total.sent, total.sent_refused, total.sent_held) == (1, 1, 4)
    _is_what_a_rebuild_counts(backend_config, _figures(backend_config))
    _stale(backend_config)
    with AuditLog.open_readonly(backend_config) as log:  # read from the records
        assert log.report(parse_period("2026-11", VN)).total == total
