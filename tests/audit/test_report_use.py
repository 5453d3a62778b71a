"""Use per official (audit/README.md): activated, used regularly, the rates, the list of
officials not using their mailbox, and where the chain stood, in every format."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import (
    AdminEvent,
    AdminKind,
    AuditRecord,
    Completion,
    Direction,
    Fate,
    Role,
)
from audit.report import Report
from audit.reportuse import RosterMailbox
from audit.store import AuditLog
from mailbase import PeriodError, parse_period, zone
from support.audit import make_record

TZ = zone("Asia/Ho_Chi_Minh")
D = "example.gov.vn"


def at(day: str, hour: int = 9) -> datetime:
    """A local time of a day of 2026."""
    return datetime.fromisoformat(f"2026-{day}T{hour:02d}:00").replace(tzinfo=TZ)


def official(name: str, unit: str = "stc", **kw: Any) -> RosterMailbox:
    return RosterMailbox(address=f"{name}@{unit}.{D}", unit_id=unit, full_name=name.upper(),
                         **kw)


ROSTER = [
    official("a", created=date(2025, 6, 1)),  # four a month: regular
    official("b"),  # two in November: activated, not regular
    official("c", created=date(2026, 9, 1)),  # sent only in October (released from hold)
    official("d", "ubnd", last_login=at("11-20").astimezone(UTC)),  # logged in, never sent
    official("e", "ubnd", last_login=at("12-02").astimezone(UTC)),  # logged in after the end
    official("f", "ubnd", created=date(2026, 11, 20)),  # a predecessor sent before the 20th
    official("g", is_active=False),  # inactive: not counted
    official("h", created=date(2026, 12, 5)),  # made after the period
    official("r"),  # one of four refused: three sent
]


def sent(sender: str, when: datetime, *, direction: Direction = Direction.OUTBOUND,
         **kw: Any) -> AuditRecord:
    unit = sender.split("@")[1].split(".")[0]
    return make_record(received_at=when, envelope_sender=sender, header_from=sender,
                       sender_unit=unit, direction=direction,
                       role=Role.OUTBOUND if direction is Direction.OUTBOUND else Role.INBOUND,
                       envelope_recipients=[f"x@ubnd.{D}"],
                       recipient_unit_of={f"x@ubnd.{D}": "ubnd"}, recipient_units=["ubnd"],
                       attachments=[], **kw)


def box(name: str, unit: str = "stc") -> str:
    return f"{name}@{unit}.{D}"


def fill(config: AuditConfig) -> None:
    mail: list[tuple[AuditRecord, Fate, str | None]] = []
    for month in ("10", "11", "12"):
        mail += [(sent(box("a"), at(f"{month}-{d:02d}")), Fate.RELAYED, None)
                 for d in (3, 4, 5, 6)]
    mail += [(sent(box("b"), at("11-03")), Fate.RELAYED, None),
             # its client wrote the address in capitals: the same mailbox
             (sent(box("B").upper(), at("11-28")), Fate.STRIPPED, None),
             (sent(box("c"), at("10-15")), Fate.QUARANTINED, "quarantined as q-1"),
             (sent(box("c"), at("10-20")), Fate.REJECTED, None),  # refused: not its last
             (sent(box("f", "ubnd"), at("11-10")), Fate.RELAYED, None),
             *[(sent(box("f", "ubnd"), at(f"11-{d}")), Fate.RELAYED, None)
               for d in (21, 22, 23, 24)],
             *[(sent(box("r"), at(f"11-0{d}")), Fate.RELAYED, None) for d in (4, 5, 6)],
             (sent(box("r"), at("11-07")), Fate.REJECTED, None),
             # mail claiming d's address from outside is not d's use
             (sent(box("d", "ubnd"), at("11-08"), direction=Direction.INBOUND),
              Fate.RELAYED, None),
             # a message still in flight is not counted either
             (sent(box("b"), at("11-29")), Fate.TEMPFAILED, None)]
    mail.sort(key=lambda m: m[0].received_at)
    with AuditLog.open(config) as log:  # two transactions: records, then their fates
        ids = log.write([record for record, _, _ in mail])
        log.write([Completion(record_id=rid, outcome=fate, reply=reply)
                   for rid, (_, fate, reply) in zip(ids, mail, strict=True)])
        log.admin(AdminEvent(kind=AdminKind.QUARANTINE_RELEASE, actor="admin", target="q-1"))


@pytest.fixture
def store(audit_config: AuditConfig) -> AuditConfig:
    fill(audit_config)
    return audit_config


def report(config: AuditConfig, period: str = "2026-11", **kw: Any) -> Report:
    with AuditLog.open_readonly(config.path) as log:
        return log.report(parse_period(period, TZ), roster=ROSTER, tz=TZ, **kw)


def by_address(result: Report) -> dict[str, tuple[bool, bool, int, datetime | None]]:
    return {o.mailbox.address.split("@")[0]: (o.is_activated, o.is_regular, o.sent,
                                              o.last_sent) for o in result.officials}


def test_activated_and_regular_per_official(store: AuditConfig) -> None:
    found = by_address(report(store))
    assert found == {
        "a": (True, True, 4, at("11-06").astimezone(UTC)),
        "b": (True, False, 2, at("11-28").astimezone(UTC)),
        "c": (True, False, 0, at("10-15").astimezone(UTC)),
        "d": (True, False, 0, None),
        "e": (False, False, 0, None),
        "f": (True, True, 4, at("11-24").astimezone(UTC)),
        "r": (True, False, 3, at("11-06").astimezone(UTC)),
    }


def test_per_unit_and_total_with_the_rates(store: AuditConfig) -> None:
    result = report(store)
    units = {u.unit_id: u.use for u in result.units}
    assert units["stc"] is not None and units["ubnd"] is not None
    assert (units["stc"].mailboxes, units["stc"].activated, units["stc"].regular) == (4, 4, 1)
    assert (units["ubnd"].mailboxes, units["ubnd"].activated, units["ubnd"].regular) == (3, 2, 1)
    assert result.use is not None
    assert (result.use.mailboxes, result.use.activated, result.use.regular) == (7, 6, 2)
    assert result.use.activation_rate == 6 / 7 and result.use.regular_rate == 2 / 7
    assert [o.mailbox.address for o in result.not_using] == [
        box("b"), box("c"), box("r"), box("d", "ubnd"), box("e", "ubnd")]


def test_regular_use_is_every_month_of_the_period(store: AuditConfig) -> None:
    # a: four in each of October, November and December; f in November only (it was
    # made on the 20th: October does not count, December does)
    assert by_address(report(store, "2026-Q4"))["a"][:2] == (True, True)
    assert by_address(report(store, "2026-Q4"))["f"][:2] == (True, False)  # none in Dec.
    assert by_address(report(store, "2026-Q4", regular_min=5))["a"][:2] == (True, False)
    # before c's mailbox was made nothing counts, and before it sent it was not activated
    assert by_address(report(store, "2026-09"))["c"] == (False, False, 0, None)


def test_no_roster_leaves_the_use_columns_empty(store: AuditConfig) -> None:
    with AuditLog.open_readonly(store.path) as log:
        result = log.report(parse_period("2026-11", TZ))
    assert result.use is None and all(u.use is None for u in result.units)
    assert result.officials == []


def test_the_year_to_date_ends_with_the_last_complete_month() -> None:
    period = parse_period("2026-YTD", TZ, today=date(2026, 5, 3))
    assert (period.start, period.end) == (at("01-01", 0).astimezone(UTC),
                                          at("05-01", 0).astimezone(UTC))
    assert parse_period("2025-YTD", TZ, today=date(2026, 5, 3)).end == (
        at("01-01", 0).astimezone(UTC))
    with pytest.raises(PeriodError, match="no month of 2026 is complete yet"):
        parse_period("2026-YTD", TZ, today=date(2026, 1, 31))


def cli(config: AuditConfig) -> click.Group:
    [group] = commands(lambda _path: config, roster=lambda: ROSTER,
                       unit_names=lambda: {"stc": "Sở Tài chính", "ubnd": "UBND tỉnh"})
    assert isinstance(group, click.Group)
    return group


def run(config: AuditConfig, *args: str) -> str:
    result = CliRunner().invoke(cli(config), ["report", "--period", "2026-11", *args])
    assert result.exit_code == 0, result.output
    return result.output


def head(config: AuditConfig) -> tuple[int, str]:
    conn = sqlite3.connect(config.path)
    try:
        seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC").fetchone()
    finally:
        conn.close()
    return seq, digest


def test_csv_rows_of_units_officials_and_total(store: AuditConfig) -> None:
    rows = {(r["unit"], r["mailbox"]): r
            for r in csv.DictReader(io.StringIO(run(store, "--format", "csv")))}
    stc = rows[("stc", "")]
    assert (stc["mailboxes"], stc["activated"], stc["regular"], stc["activation_rate"],
            stc["regular_rate"]) == ("4", "4", "1", "100.0%", "25.0%")
    c = rows[("stc", box("c"))]  # no mail in the period: a row of zeros all the same
    assert (c["sent"], c["mailboxes"], c["activated"], c["regular"], c["official"],
            c["last_sent"]) == ("0", "1", "1", "0", "C", "2026-10-15T02:00:00+00:00")
    e = rows[("ubnd", box("e", "ubnd"))]
    assert (e["activated"], e["last_sent"], e["activation_rate"]) == ("0", "", "")
    other = rows[("ubnd", "x@ubnd.example.gov.vn")]  # a recipient, not on the roster
    assert other["received"] != "0"
    assert (other["mailboxes"], other["official"], other["last_sent"]) == ("", "", "")
    total = rows[("", "")]
    assert (total["mailboxes"], total["activated"], total["regular"]) == ("7", "6", "2")
    seq, digest = head(store)
    assert {(r["chain_seq"], r["chain_hash"]) for r in rows.values()} == {(str(seq), digest)}


def test_json_lists_the_officials_and_units_not_using(store: AuditConfig) -> None:
    data = json.loads(run(store, "--format", "json"))
    assert data["chain"] == dict(zip(("seq", "hash"), head(store), strict=True))
    assert data["regular_use_min_messages"] == 4
    assert data["not_using"][0] == {
        "unit": "stc", "mailbox": box("b"), "official": "B", "activated": True, "sent": 2,
        "last_sent": "2026-11-28T02:00:00+00:00"}
    assert [r["mailbox"] for r in data["not_using"]][-1] == box("e", "ubnd")
    assert data["units_not_using"] == []
    rows = {(r["unit"], r["mailbox"]): r for r in data["rows"]}
    assert rows[("", "")]["regular_rate"] == 28.6


def test_table_and_html_name_the_officials_not_using_theirs(store: AuditConfig,
                                                          tmp_path: Path) -> None:
    seq, digest = head(store)
    table = run(store)
    assert f"đến sự kiện số {seq}, mã băm {digest}" in table.splitlines()[1]
    assert "Tỷ lệ sử dụng thường xuyên" in table.splitlines()[2]
    assert "Cán bộ chưa sử dụng thường xuyên (dưới 4 thư gửi mỗi tháng): 5" in table
    idle = table.split("Đơn vị chưa có cán bộ sử dụng thường xuyên: không có")[1]
    assert re.search(r"\nUBND tỉnh +e@ubnd\S+ +E +chưa +0 +chưa gửi\n", idle)
    assert re.search(r"\nSở Tài chính +c@stc\S+ +C +có +0 +15/10/2026 09:00\n", idle)
    page = tmp_path / "r.html"
    run(store, "--format", "html", "--out", str(page))
    html = page.read_text(encoding="utf-8")
    assert "<th>Tỷ lệ kích hoạt</th>" in html and f"mã băm {digest}" in html
    assert "<td>E</td><td>chưa</td><td>0</td><td>chưa gửi</td>" in html


def test_a_later_report_of_the_same_period_moves_the_chain_only(store: AuditConfig) -> None:
    before = report(store)
    with AuditLog.open(store) as log:
        log.admin(AdminEvent(kind=AdminKind.USER_GRANT, actor="admin", target="someone",
                             at=at("12-10")))
    after = report(store)
    assert before.head is not None and after.head is not None
    assert after.head.seq > before.head.seq and after.head.hash != before.head.hash
    assert (after.total, after.use, after.officials) == (before.total, before.use,
                                                        before.officials)


def test_an_official_who_sent_earlier_is_found_before_the_period(store: AuditConfig) -> None:
    # December: a sent in it; b, r and c only before it (the log before the period)
    found = by_address(report(store, "2026-12"))
    assert found["a"][0] and found["b"] == (True, False, 0, at("11-28").astimezone(UTC))
    assert found["c"][3] == at("10-15").astimezone(UTC)
    assert found["e"] == (True, False, 0, None)  # its login is before December's end


def test_a_day_of_the_period_is_a_day_of_its_zone() -> None:
    from audit.reportuse import Calendar

    calendar = Calendar(parse_period("2026-Q4", TZ), TZ)
    assert len(calendar.days) == 92 and calendar.months == [0, 31, 61]
    # 23:30 local on 31 October is 16:30 UTC: still October
    assert calendar.day((at("10-31", 23) + timedelta(minutes=30)).astimezone(UTC).isoformat(
        timespec="microseconds")) == 30
