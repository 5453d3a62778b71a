"""docs/merging-provinces.md, run as written on three generated provinces.

Each old province (Bình Thuận, Lâm Đồng, Đắk Nông) has a data directory of its own
with a real SQLite directory store, its units and its roster imported through `congvu
directory import` and `mailboxes import`; the new province's server has an empty
one. Every `sh` block of the page is run, command by command, through congvu's own
entry (`congvu.cli.main`, click's CliRunner) with `$CONGVU_VAR` naming the data
directory of the server its first line names, paths under /var/lib/congvu/ moved into
that directory, and one working folder shared by all the servers (the page's "copy
the files" step). The page's two CSV tables are applied to merged.csv as its step 3
says, its `toml` block is the new server's congvu.toml from then on, the records `dkim
keygen` prints are served by a DNS server on loopback that `dkim check` is pointed
at, and step 6's two copies are made as it says: a changed command, table or step
changes what is checked here. The new server's store as step 6 left it is kept, and
the real filter, started on it, must answer a message sent as an old unit's address
with the reply the page's `text` block shows.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from audit import AuditLog, Completion, Fate
from congvu.cli import main
from congvu.config import parse_config
from directory import DirectoryIndex
from support.audit import T0, make_record
from support.dns import DnsServer
from support.docblocks import blocks
from support.rawsmtp import Raw

PLAYBOOK = Path(__file__).resolve().parents[2] / "docs" / "merging-provinces.md"
WWW = "/var/lib/congvu/"
#: the new server's directory store as step 6 left it (before the undo)
ENDED_STORE = "ended-directory.sqlite3"

#: server name on the page -> (prefix of its generated ids' own units, province name,
#: mail domain, city whose wards it has); None: the new province's empty server
PROVINCES = {
    "Bình Thuận": ("phan-thiet", "Bình Thuận", "binhthuan.gov.vn", "Phan Thiết"),
    "Lâm Đồng": ("da-lat", "Lâm Đồng", "lamdong.gov.vn", "Đà Lạt"),
    "Đắk Nông": ("gia-nghia", "Đắk Nông", "daknong.gov.vn", "Gia Nghĩa"),
}
NEW = "new Lâm Đồng"


def old_province(city_id: str, name: str, domain: str, city: str) -> str:
    """A small province as its administrators would have exported it: the people's
    committee, its own Sở Tài chính with a sub-office, and three wards."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "name", "parent", "address", "aliases", "dkim_domain", "senders"])
    writer.writerows([
        ["ubnd-tinh", f"Ủy ban nhân dân tỉnh {name}", "", f"ubnd@{domain}",
         f"vanthu@{domain}", domain, f"vanthu.{city_id}"],
        ["so-tai-chinh", "Sở Tài chính", "ubnd-tinh", f"stc@{domain}", "", domain,
         f"vt.stc.{city_id}"],
        ["phong-ngan-sach", "Phòng Ngân sách", "so-tai-chinh", f"ngansach.stc@{domain}", "",
         domain, ""],
    ])
    writer.writerows([f"phuong-{i}-{city_id}", f"Phường {i}, {city}", "ubnd-tinh",
                      f"phuong{i}.{city_id}@{domain}", "", domain, ""] for i in (1, 2, 3))
    return out.getvalue()


def old_roster(city_id: str, domain: str) -> str:
    """Its officials' own mailboxes: one in Sở Tài chính, one in a ward."""
    return ("address,full_name,unit,position\r\n"
            f"nguyen.van.an.{city_id}@{domain},Nguyễn Văn An,so-tai-chinh,Chuyên viên\r\n"
            f"tran.thi.binh.{city_id}@{domain},Trần Thị Bình,phuong-1-{city_id},\r\n")


@dataclass(frozen=True, slots=True)
class Ran:
    """One command of the page: where it ran, and what it did."""

    server: str
    argv: list[str]
    result: Result
    #: after a publish: the postfix/virtual it wrote
    virtual: str = ""


def congvu(argv: list[str], var: Path, config: Path | None = None) -> Result:
    """One command on the server whose data directory is ``var`` (its congvu.toml, if any)."""
    return CliRunner().invoke(main, argv, catch_exceptions=False, env={
        "CONGVU_CONFIG": str(config) if config else "none", "CONGVU_VAR": str(var)})


def serve_record(dns: DnsServer, printed: str) -> None:
    """Publish the TXT record `dkim keygen` printed in zone-file form."""
    name = printed.split(None, 1)[0].rstrip(".")
    dns.add_txt(name, "".join(re.findall(r'"([^"]*)"', printed.split(" IN TXT ", 1)[1])))


def table(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, lineterminator="\r\n", restval="")
        writer.writeheader()
        writer.writerows(rows)


def add_new_units(merged: Path, new_units: list[dict[str, str]],
                  edits: list[dict[str, str]]) -> None:
    """Step 3, as a spreadsheet would do it: append the rows, fill in the cells."""
    columns, rows = read_rows(merged)
    by_id = {row["id"]: row for row in rows}
    for edit in edits:
        for column in ("parent", "successor"):
            if edit[column]:
                by_id[edit["id"]][column] = edit[column]
    write_rows(merged, columns, rows + new_units)


def move_officials(units: Path, before: Path, ended: Path) -> None:
    """Step 6's roster copy: each official of a unit with a successor moved to it."""
    _columns, unit_rows = read_rows(units)
    successor = {row["id"]: row["successor"] for row in unit_rows if row["successor"]}
    columns, rows = read_rows(before)
    for row in rows:
        row["unit"] = successor.get(row["unit"], row["unit"])
    write_rows(ended, columns, rows)


def end_transition(before: Path, ended: Path) -> None:
    """Step 6's directory copy: every old unit with a successor made inactive."""
    columns, rows = read_rows(before)
    for row in rows:
        if row["successor"]:
            row["active"] = "no"
    write_rows(ended, columns, rows)


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the module: the page is run once, and both tests read it."""
    return tmp_path_factory.mktemp("playbook")


@pytest.fixture(scope="module")
def playbook(page_dir: Path) -> Iterator[list[Ran]]:
    """Every command of the page, run in order on the generated provinces."""
    work = page_dir / "work"
    work.mkdir()
    with pytest.MonkeyPatch.context() as patch, DnsServer() as dns:
        patch.chdir(work)
        yield run_page(page_dir, work, dns)


def run_page(base: Path, work: Path, dns: DnsServer) -> list[Ran]:
    servers = {name: base / name.replace(" ", "-") for name in [*PROVINCES, NEW]}
    for name, province in PROVINCES.items():
        source = base / f"{province[0]}-setup.csv"
        source.write_text(old_province(*province), encoding="utf-8")
        assert congvu(["directory", "import", str(source)], servers[name]).exit_code == 0
        roster = base / f"{province[0]}-roster-setup.csv"
        roster.write_text(old_roster(province[0], province[2]), encoding="utf-8")
        result = congvu(["directory", "mailboxes", "import", str(roster)], servers[name])
        assert result.exit_code == 0, result.output
        old_log(servers[name], province[0])
    ran: list[Ran] = []
    csv_tables = [table(body) for language, body in blocks(PLAYBOOK.read_text("utf-8"))
                  if language == "csv"]
    new_units, edits = csv_tables
    configs: dict[str, Path] = {}
    for language, body in blocks(PLAYBOOK.read_text("utf-8")):
        if language == "toml":
            configs[NEW] = work / "congvu.toml"
            configs[NEW].write_text(body, encoding="utf-8")
        if language != "sh":
            continue
        lines = body.replace("\\\n", " ").splitlines()
        server = re.fullmatch(r"# on the (.+) server", lines[0])
        assert server, f"an sh block without its server: {lines[0]!r}"
        var = servers[server.group(1)]
        for line in lines[1:]:
            argv = shlex.split(line)
            assert argv[0] == "congvu", f"the page runs only congvu commands: {line!r}"
            argv = [str(var / arg.removeprefix(WWW)) if arg.startswith(WWW) else arg
                    for arg in argv[1:]]
            if argv[:2] == ["directory", "import"] and argv[2] == "merged.csv":
                add_new_units(work / "merged.csv", new_units, edits)
            if argv[:2] == ["directory", "import"] and argv[2] == "ended.csv":
                end_transition(work / "before-end.csv", work / "ended.csv")
            if argv[:3] == ["directory", "mailboxes", "import"] and argv[3] == "roster-ended.csv":
                move_officials(work / "before-end.csv", work / "roster-before-end.csv",
                               work / "roster-ended.csv")
            if argv[:2] == ["dkim", "check"]:
                argv += ["--dns", f"127.0.0.1:{dns.port}"]
            result = congvu(argv, var, configs.get(server.group(1)))
            assert result.exit_code == 0, (line, result.output)
            if argv[:2] == ["directory", "import"] and argv[2] == "ended.csv":
                keep_store(var / "directory.sqlite3", base / ENDED_STORE)
            if argv[:2] == ["dkim", "keygen"]:
                serve_record(dns, result.stdout)
            virtual = ""
            if argv[:2] == ["directory", "publish"]:
                virtual = (Path(argv[3]) / "postfix" / "virtual").read_text("utf-8")
            ran.append(Ran(server.group(1), argv, result, virtual))
    return ran


def old_log(var: Path, city_id: str) -> None:
    """The old server's audit log: its Sở Tài chính wrote to the committee, and a ward
    (whose id no other province used) to a citizen, under the province's old ids."""
    with AuditLog.open(parse_config({"service": {"data_dir": str(var)}}).audit) as log:
        for at, (unit, to) in enumerate((("so-tai-chinh", ["ubnd-tinh"]),
                                         (f"phuong-1-{city_id}", []))):
            rid = log.record(make_record(received_at=T0 + timedelta(hours=at),
                                         sender_unit=unit, recipient_units=to))
            log.complete(Completion(record_id=rid, outcome=Fate.RELAYED, reply="250 2.0.0 Ok",
                                    at=T0 + timedelta(hours=at, seconds=1)))


def keep_store(store: Path, copy: Path) -> None:
    """A consistent copy of a SQLite store (its WAL included)."""
    source, target = sqlite3.connect(store), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def send_as(port: int, address: str) -> bytes:
    """One message From and envelope-sent by ``address``; the filter's reply to it."""
    raw = Raw(port)
    raw.command(b"EHLO postfix")
    assert raw.command(f"MAIL FROM:<{address}>".encode()).startswith(b"250")
    assert raw.command(b"RCPT TO:<a@example.org>").startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(f"From: {address}\r\nTo: a@example.org\r\nSubject: sau hop nhat\r\n"
             "Message-ID: <m@example.org>\r\n\r\nbody\r\n.\r\n".encode())
    return raw.reply()


def test_the_playbook_merges_three_provinces_into_the_new_lam_dong(
    playbook: list[Ran], page_dir: Path,
) -> None:
    exports = [(r.server, r.argv[-1]) for r in playbook if r.argv[:2] == ["directory", "export"]]
    assert exports[:3] == [("Bình Thuận", "binhthuan.csv"), ("Lâm Đồng", "lamdong.csv"),
                           ("Đắk Nông", "daknong.csv")]
    (merge,) = [r for r in playbook if r.argv[:2] == ["directory", "merge"]]
    # 3 x 6 units: the committee, Sở Tài chính and its office prefixed in each province
    assert merge.result.stdout == ("merged.csv: 18 đơn vị từ 3 tệp, 9 mã được thêm tiền tố; "
                                   "bảng đổi mã trong ids.csv\n"
                                   "roster.csv: 6 hộp thư từ 3 danh sách\n")
    _columns, ids = read_rows(page_dir / "work" / "ids.csv")
    assert {"file": "daknong.csv", "old_id": "phong-ngan-sach",
            "new_id": "dn-phong-ngan-sach"} in ids
    assert {"file": "lamdong.csv", "old_id": "phuong-1-da-lat",
            "new_id": "phuong-1-da-lat"} in ids

    imports = [r for r in playbook if r.argv[:2] == ["directory", "import"]]
    assert [r.argv[2] for r in imports] == ["merged.csv", "ended.csv", "before-end.csv"]
    assert imports[0].result.stdout.startswith(
        "merged.csv: tạo mới 20, cập nhật 0, không đổi 0, chuyển sang ngừng hoạt động 0")
    assert imports[1].result.stdout.startswith("ended.csv: tạo mới 0, cập nhật 6")
    assert imports[2].result.stdout.startswith("before-end.csv: tạo mới 0, cập nhật 6")

    rosters = [(r.argv[3], r.result.stdout) for r in playbook
               if r.argv[:3] == ["directory", "mailboxes", "import"]]
    summary = ("{}: tạo mới {}, cập nhật {}, không đổi 0, chuyển sang ngừng hoạt động 0, "
               "bỏ qua 0 dòng\n")
    # the three officials of the Sở Tài chính move to the new one and back; those of
    # the wards, which carry on, stay
    assert rosters == [
        ("roster.csv", summary.format("roster.csv", 6, 0)),
        ("roster-ended.csv", summary.format("roster-ended.csv", 0, 3).replace(
            "không đổi 0", "không đổi 3")),
        ("roster-before-end.csv", summary.format("roster-before-end.csv", 0, 3).replace(
            "không đổi 0", "không đổi 3")),
    ]

    shows = [r.result.stdout for r in playbook if r.argv[:2] == ["directory", "show"]]
    assert shows[0].splitlines()[0] == "Sở Tài chính (so-tai-chinh-lam-dong)"
    lines = shows[0].splitlines()
    assert lines[lines.index("  đơn vị tiền thân:") + 1:][:3] == [
        "    Sở Tài chính (bt-so-tai-chinh) <stc@binhthuan.gov.vn>",
        "    Sở Tài chính (dn-so-tai-chinh) <stc@daknong.gov.vn>",
        "    Sở Tài chính (ld-so-tai-chinh) <stc@lamdong.gov.vn>"]
    assert "    Ủy ban nhân dân tỉnh Lâm Đồng (ubnd-lam-dong) <ubnd.tinh@lamdong.gov.vn>" in (
        shows[0].splitlines())
    during, after = shows[1].splitlines(), shows[2].splitlines()
    assert during[0] == "Sở Tài chính (bt-so-tai-chinh)"
    assert "  đơn vị kế thừa:          so-tai-chinh-lam-dong" in during
    assert after[0] == ("Sở Tài chính (bt-so-tai-chinh)  [đã hợp nhất vào Sở Tài chính "
                        "(so-tai-chinh-lam-dong) <taichinh@lamdong.gov.vn>]")

    checked = [(r.argv[3], r.result.exit_code) for r in playbook if r.argv[:2] == ["dkim", "check"]]
    assert checked == [("lamdong.gov.vn", 0), ("binhthuan.gov.vn", 0), ("daknong.gov.vn", 0)]

    published = [r.virtual for r in playbook if r.argv[:2] == ["directory", "publish"]]
    assert len(published) == 3
    forwards = {"stc@binhthuan.gov.vn\ttaichinh@lamdong.gov.vn",
                "stc@lamdong.gov.vn\ttaichinh@lamdong.gov.vn",
                "stc@daknong.gov.vn\ttaichinh@lamdong.gov.vn",
                "vanthu@daknong.gov.vn\tubnd.tinh@lamdong.gov.vn"}
    during_transition, ended, undone = (set(text.splitlines()) for text in published)
    assert not forwards & during_transition
    assert "vanthu@daknong.gov.vn\tubnd@daknong.gov.vn" in during_transition
    assert forwards <= ended
    assert not forwards & undone


def test_after_the_undo_the_store_is_the_export_taken_before(
    playbook: list[Ran], page_dir: Path,
) -> None:
    new = page_dir / "new-Lâm-Đồng"
    exported, roster = page_dir / "after-undo.csv", page_dir / "roster-after-undo.csv"
    assert congvu(["directory", "export", "--output", str(exported)], new).exit_code == 0
    assert exported.read_bytes() == (page_dir / "work" / "before-end.csv").read_bytes()
    assert congvu(["directory", "mailboxes", "export", "--output", str(roster)],
                  new).exit_code == 0
    assert roster.read_bytes() == (page_dir / "work" / "roster-before-end.csv").read_bytes()
    _columns, officials = read_rows(roster)
    assert {(row["address"], row["unit"]) for row in officials} >= {
        ("nguyen.van.an.phan-thiet@binhthuan.gov.vn", "bt-so-tai-chinh"),
        ("tran.thi.binh.da-lat@lamdong.gov.vn", "phuong-1-da-lat")}
    _columns, moved = read_rows(page_dir / "work" / "roster-ended.csv")
    assert {row["unit"] for row in moved} == {
        "so-tai-chinh-lam-dong", "phuong-1-phan-thiet", "phuong-1-da-lat", "phuong-1-gia-nghia"}
    _columns, rows = read_rows(exported)
    ward = next(row for row in rows if row["id"] == "phuong-1-da-lat")
    assert (ward["parent"], ward["active"]) == ("ubnd-lam-dong", "yes")
    index = DirectoryIndex.open(page_dir / "new-Lâm-Đồng" / "directory.sqlite3")
    try:
        assert all(index.is_own_domain(domain) for domain in
                   ("lamdong.gov.vn", "binhthuan.gov.vn", "daknong.gov.vn"))
    finally:
        index.close()
    assert {row["id"] for row in rows if row["successor"]} == {
        f"{prefix}-{unit}" for prefix in ("bt", "ld", "dn")
        for unit in ("ubnd-tinh", "so-tai-chinh")}


def test_after_step_6_the_filter_refuses_an_old_address_as_the_page_shows(
    playbook: list[Ran], page_dir: Path, filter_server: Callable[..., Any], next_hop: Any,
) -> None:
    (shown,) = [body.strip() for language, body in blocks(PLAYBOOK.read_text("utf-8"))
                if language == "text"]
    running = filter_server(directory={"path": str(page_dir / ENDED_STORE)})
    assert send_as(running.port, "stc@binhthuan.gov.vn").decode() == shown
    next_hop.assert_empty()
    # the successor, and an official's own mailbox on an old domain, send as before
    for address in ("taichinh@lamdong.gov.vn", "nguyen.van.an.phan-thiet@binhthuan.gov.vn"):
        reply = send_as(running.port, address)
        assert reply.startswith(b"250"), (address, reply)
        assert next_hop.get().mail_from == address


def test_the_old_logs_read_with_the_new_ids_after_step_7(playbook: list[Ran],
                                                           page_dir: Path) -> None:
    renames = [(r.server, r.result.stdout) for r in playbook
               if r.argv[:2] == ["audit", "rename-units"]]
    # each province's committee, Sở Tài chính and its office were prefixed
    assert [(server, text.split(" for ")[0]) for server, text in renames] == [
        ("Bình Thuận", "binhthuan.csv: 3 unit id(s) renamed"),
        ("Lâm Đồng", "lamdong.csv: 3 unit id(s) renamed"),
        ("Đắk Nông", "daknong.csv: 3 unit id(s) renamed")]
    queries = [r.result.stdout for r in playbook if r.argv[:2] == ["audit", "query"]]
    assert all("-- bản ghi 1-1 trong 1 " in text for text in queries), queries  # Vietnamese
    old_bt = page_dir / "Bình-Thuận"
    listed = congvu(["audit", "query", "--unit", "bt-ubnd-tinh", "--format", "json"], old_bt)
    (record,) = json.loads(listed.stdout)["records"]
    shown = json.loads(congvu(["audit", "show", str(record["id"])], old_bt).stdout)
    assert (shown["sender_unit"], shown["recipient_units"]) == ("bt-so-tai-chinh",
                                                                ["bt-ubnd-tinh"])
    assert shown["units_as_written"]["sender_unit"] == "so-tai-chinh"
    ward = congvu(["audit", "query", "--unit", "phuong-1-phan-thiet", "--format", "json"],
                  old_bt)
    assert len(json.loads(ward.stdout)["records"]) == 1
    assert congvu(["audit", "verify"], old_bt).exit_code == 0


def send(port: int, sender: str, recipients: list[str]) -> bytes:
    raw = Raw(port)
    raw.command(b"EHLO postfix")
    assert raw.command(f"MAIL FROM:<{sender}>".encode()).startswith(b"250")
    for recipient in recipients:
        assert raw.command(f"RCPT TO:<{recipient}>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: chuyen tiep\r\n"
             f"Message-ID: <{sender}.{len(recipients)}@example.org>\r\n\r\nbody\r\n.\r\n"
             .encode())
    return raw.reply()


def report_rows(var: Path, config: Path, *args: str) -> dict[str, dict[str, Any]]:
    period = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
    result = congvu(["audit", "report", "--period", period, "--format", "json", *args],
                    var, config)
    assert result.exit_code == 0, result.output
    return {row["unit"]: row for row in json.loads(result.stdout)["rows"]
            if not row["mailbox"]}


def test_during_the_transition_the_report_adds_up_with_and_without_predecessors(
    playbook: list[Ran], page_dir: Path, filter_server: Callable[..., Any], next_hop: Any,
) -> None:
    # after the undo the new server's directory is the transition's: old units active
    store = page_dir / "new-Lâm-Đồng" / "directory.sqlite3"
    running = filter_server(directory={"path": str(store)})
    sent = [("stc@binhthuan.gov.vn", ["taichinh@lamdong.gov.vn"]),
            ("taichinh@lamdong.gov.vn", ["stc@lamdong.gov.vn", "stc@daknong.gov.vn"]),
            ("stc@daknong.gov.vn", ["a@example.org"])]
    for sender, recipients in sent:
        assert send(running.port, sender, recipients).startswith(b"250"), sender
        assert next_hop.get().mail_from == sender
    config = page_dir / "transition.toml"
    config.write_text(f'[audit]\npath = "{running.server.config.audit.path}"\n'
                      f'[directory]\npath = "{store}"\n', encoding="utf-8")
    var = page_dir / "new-Lâm-Đồng"
    apart, rolled = report_rows(var, config), report_rows(var, config, "--with-predecessors")
    old = ("bt-so-tai-chinh", "ld-so-tai-chinh", "dn-so-tai-chinh")
    new = "so-tai-chinh-lam-dong"
    assert [(apart[u]["sent"], apart[u]["received"]) for u in (new, *old)] == [
        (1, 1), (1, 0), (0, 1), (1, 1)]
    assert not set(old) & set(rolled)
    assert rolled[new]["sent"] == sum(apart[u]["sent"] for u in (new, *old)) == 3
    # the message to two old units is received once by the new one
    assert rolled[new]["received"] == 2
    assert rolled[""]["sent"] == apart[""]["sent"] == 3
    assert rolled[""]["received"] == apart[""]["received"] == 2
    result = congvu(["audit", "query", "--unit", new, "--with-predecessors", "--format",
                     "json"], var, config)
    assert len(json.loads(result.stdout)["records"]) == 3
