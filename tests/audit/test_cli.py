"""`congvu audit ...` through click's CliRunner on a real store."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from audit.cli import commands
from audit.config import AuditConfig
from audit.records import Completion, Fate
from audit.store import AuditLog
from mailbase import command_line_actor
from support.audit import T0, make_record, sha


@pytest.fixture
def cli(audit_config: AuditConfig) -> click.Group:
    """The audit group, configured to the test store; 'ubnd' has child 'xa1'."""
    with AuditLog.open(audit_config) as log:
        rid = log.record(make_record())  # 2026-11-03 09:30 local
        log.complete(Completion(record_id=rid, outcome=Fate.RELAYED, reply="250 2.0.0 Ok",
                                at=T0 + timedelta(seconds=1)))
        log.record(make_record(received_at=T0 + timedelta(days=30), sender_unit="xa1",
                               envelope_sender="vt@xa1.example.gov.vn", subject="Tờ trình",
                               envelope_recipients=["GiamDoc@stc.example.gov.vn"],
                               recipient_unit_of={"GiamDoc@stc.example.gov.vn": "stc"},
                               recipient_units=[],
                               attachments=[], authentication=[]))
    tree = {"ubnd": ["ubnd", "xa1"]}
    [group] = commands(lambda _path: audit_config,
                       descendants=lambda unit: tree.get(unit, [unit]))
    assert isinstance(group, click.Group)
    return group


def run(cli: click.Group, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_every_command_has_help(cli: click.Group) -> None:
    def walk(group: click.Group) -> list[click.Command]:
        found: list[click.Command] = []
        for command in group.commands.values():
            found.append(command)
            if isinstance(command, click.Group):
                found.extend(walk(command))
        return found

    for command in walk(cli):
        assert (command.help or "").strip(), command.name


def test_query_table_json_csv(cli: click.Group) -> None:
    code, out = run(cli, "query", "--unit", "stc")
    assert code == 0, out
    # in Vietnamese by default: the headings and the stored values in words
    assert "Công văn số 123/STC" in out and "đã chuyển đi" in out and "chưa hoàn tất" in out
    assert out.startswith("Mã bản ghi  Thời điểm")
    assert "2026-11-03 09:30:00" in out  # local time (UTC+7)
    assert "bản ghi 1-2 trong 2 (thời gian theo múi giờ Asia/Ho_Chi_Minh)" in out
    code, out = run(cli, "query", "--unit", "stc", "--lang", "en")
    assert "relayed" in out and "not complete yet" in out and "đã" not in out
    assert "records 1-2 of 2 (times in Asia/Ho_Chi_Minh)" in out
    code, out = run(cli, "query", "--format", "json", "--text", "to trinh")
    data = json.loads(out)
    assert (data["total"], data["records"][0]["subject"]) == (1, "Tờ trình")
    code, out = run(cli, "query", "--format", "csv", "--since", "2026-11-03",
                    "--until", "2026-11-04")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == ["1"]


def test_local_dates_on_the_command_line(cli: click.Group) -> None:
    # 09:30 local is 02:30 UTC: a day starting at local midnight includes it.
    assert '"total": 1' in run(cli, "query", "--format", "json", "--since", "2026-11-03T09:00",
                               "--until", "2026-11-03T10:00")[1]
    assert '"total": 0' in run(cli, "query", "--format", "json", "--since",
                               "2026-11-03T09:00+00:00", "--until", "2026-11-04")[1]


def test_subtree_uses_the_directory(cli: click.Group) -> None:
    assert '"total": 1' in run(cli, "query", "--format", "json", "--unit", "ubnd")[1]
    assert '"total": 2' in run(cli, "query", "--format", "json", "--unit", "ubnd",
                               "--subtree")[1]


def _ids(cli: click.Group, *args: str) -> list[int]:
    code, out = run(cli, "query", "--format", "json", *args)
    assert code == 0, out
    return [record["id"] for record in json.loads(out)["records"]]


def test_sender_and_recipient_unit_options(cli: click.Group) -> None:
    assert _ids(cli, "--sender-unit", "xa1") == [3]
    assert _ids(cli, "--sender-unit", "ubnd") == []
    assert _ids(cli, "--sender-unit", "ubnd", "--subtree") == [3]
    assert _ids(cli, "--recipient-unit", "ubnd") == [1]
    assert _ids(cli, "--recipient-unit", "ubnd", "--sender-unit", "xa1") == []
    # --unit keeps meaning "involved"; with outbound, mail the unit sent
    assert _ids(cli, "--unit", "ubnd") == [1]
    assert _ids(cli, "--unit", "ubnd", "--direction", "outbound") == []
    assert _ids(cli, "--unit", "stc", "--direction", "outbound") == [1]


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "yesterday"], "--since: 'yesterday' is not a date"),
    (["--sha256", "zz"], "invalid filter sha256='zz'"),
    (["--page-size", "0"], "invalid filter page_size=0"),
    (["--since", "2026-12-01", "--until", "2026-11-01"], "must be after since"),
    (["--subtree"], "--subtree needs at least one --unit, --sender-unit or --recipient-unit"),
    (["--sender-unit", " "], "invalid filter sender_unit"),
])
def test_bad_filters_exit_2(cli: click.Group, args: list[str], message: str) -> None:
    code, out = run(cli, "query", *args)
    assert code == 2
    assert message in out


def test_show_and_trace(cli: click.Group) -> None:
    code, out = run(cli, "show", "1")
    assert code == 0
    record = json.loads(out)
    assert record["completions"][0]["reply"] == "250 2.0.0 Ok"
    assert run(cli, "show", "99") == (1, "Error: no audit record 99\n")
    code, out = run(cli, "trace", sha("cv123"))
    assert code == 0
    assert "vanthu@ubnd.example.gov.vn" in out and "đã chuyển đi" in out
    assert json.loads(run(cli, "trace", "--format", "json", sha("cv123"))[1])[0]["record_id"] == 1
    assert run(cli, "trace", "abc")[0] == 2


def test_export_jsonl_and_csv(cli: click.Group, tmp_path: Path) -> None:
    code, out = run(cli, "export", "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in lines] == [1, 3]
    assert lines[0]["attachments"][0]["filename"] == "Công văn 123.pdf"
    target = tmp_path / "out.csv"
    code, out = run(cli, "export", "--format", "csv", "--out", str(target), "--unit", "xa1")
    assert code == 0
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["subject"] for r in rows] == ["Tờ trình"]


def test_verify_checkpoint_export_and_prune(cli: click.Group, audit_config: AuditConfig,
                                            tmp_path: Path) -> None:
    code, out = run(cli, "verify")
    assert (code, out.splitlines()[0]) == (0, "intact: 3 events (seq 1-3), "
                                              "1 signed checkpoints checked")
    cp = tmp_path / "cp.json"
    code, out = run(cli, "checkpoint", "export", "--out", str(cp))
    assert code == 0 and "checkpoint of record 3" in out
    assert run(cli, "verify", "--checkpoint", str(cp))[0] == 0
    code, out = run(cli, "prune", "--before", "2026-11-10")
    assert (code, out) == (0, "removed 2 events older than 2026-11-10\n")
    with AuditLog.open_readonly(audit_config.path) as log:
        [event] = log.admin_events(kind="prune")
    assert event["actor"] == command_line_actor()  # the administrator, not 'cli'
    code, out = run(cli, "verify", "--checkpoint", str(cp))
    assert code == 0, out
    conn = sqlite3.connect(audit_config.path)
    conn.execute("UPDATE events SET subject = 'x' WHERE seq = 3")
    conn.commit()
    conn.close()
    code, out = run(cli, "verify")
    assert (code, out) == (1, "NOT intact: record 3 was changed (its content does not "
                              "match its hash)\nnote: records 1-2 were removed by retention\n")


def test_bad_checkpoint_file(cli: click.Group, tmp_path: Path) -> None:
    bad = tmp_path / "cp.json"
    bad.write_text("{}")
    code, out = run(cli, "verify", "--checkpoint", str(bad))
    assert code == 1 and "is not a congvu audit checkpoint" in out


def test_report_table_csv_html(cli: click.Group, audit_config: AuditConfig,
                               tmp_path: Path) -> None:
    with AuditLog.open(audit_config) as log:  # xa1's message reached stc
        log.complete(Completion(record_id=3, outcome=Fate.RELAYED,
                                at=T0 + timedelta(days=30)))
    code, out = run(cli, "report", "--period", "2026-11")
    assert code == 0, out
    assert "2026-11: từ 01/11/2026 00:00 đến trước 01/12/2026 00:00 (Asia/Ho_Chi_Minh)" in out
    code, out = run(cli, "report", "--period", "2026-Q4", "--format", "csv")
    rows = {(r["unit"], r["mailbox"]): r for r in csv.DictReader(io.StringIO(out))}
    stc = rows[("stc", "")]
    assert (stc["sent"], stc["received"], stc["documents_sent"]) == ("1", "1", "1")
    assert (stc["dkim_signed"], stc["smime_signed"]) == ("100.0%", "100.0%")
    assert "vanthu@ubnd.example.gov.vn (1)" in stc["busiest_correspondents"]
    assert rows[("stc", "vanthu@stc.example.gov.vn")]["sent"] == "1"
    assert (rows[("stc", "giamdoc@stc.example.gov.vn")]["received"],
            rows[("stc", "giamdoc@stc.example.gov.vn")]["sent"]) == ("1", "0")
    assert rows[("xa1", "")]["dkim_signed"] == "0.0%"
    page = tmp_path / "r.html"
    assert run(cli, "report", "--period", "2026", "--format", "html", "--out", str(page))[0] == 0
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 2
    assert "<script src" not in html  # offline: nothing fetched
    assert '<td title="xa1">xa1</td>' in html


def test_report_bad_period(cli: click.Group) -> None:
    code, out = run(cli, "report", "--period", "2026-13")
    assert code == 2 and "month must be 01 to 12" in out


def test_missing_store(tmp_path: Path) -> None:
    config = AuditConfig(path=tmp_path / "none.sqlite3", keys_dir=tmp_path / "k")
    [group] = commands(lambda _p: config)
    assert isinstance(group, click.Group)
    code, out = run(group, "query")
    assert code == 1 and "no such file" in out
    assert run(group, "query", "--unit", "a", "--subtree")[0] in (1, 2)


def test_admin_events_listed(cli: click.Group, audit_config: AuditConfig) -> None:
    from audit.records import AdminEvent, AdminKind

    with AuditLog.open(audit_config) as log:
        log.admin(AdminEvent(kind=AdminKind.USER_GRANT, actor="admin", target="auditor1",
                             unit_id="stc", details={"role": "auditor"}))
        log.admin(AdminEvent(kind=AdminKind.KEY_ROTATION, actor="admin", target="dkim cv2027"))
    code, out = run(cli, "events")
    assert code == 0 and "thay đổi người dùng, quyền xem" in out and "thay khóa" in out
    english = run(cli, "events", "--lang", "en")[1]
    assert "user or grant change" in english and "key rotation" in english
    events = json.loads(run(cli, "events", "--kind", "user-grant", "--format", "json")[1])
    assert [(e["target"], e["details"]) for e in events] == [("auditor1", {"role": "auditor"})]
