"""`congvu directory mailboxes import|list|export`, run through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from directory import DirectoryConfig, commands

D = "laocai.gov.vn"
UNITS = (
    "id,name,parent,address\n"
    f"ubnd-tinh,UBND tỉnh,,ubnd@{D}\n"
    f"so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@{D}\n"
    f"so-noi-vu,Sở Nội vụ,ubnd-tinh,snv@{D}\n"
)
ROSTER = (
    "address,full_name,unit,position\n"
    f"nguyen.van.a@{D},Nguyễn Văn A,so-tai-chinh,Giám đốc\n"
    f"le.van.c@{D},Lê Văn C,so-noi-vu,\n"
)


@pytest.fixture
def cli(tmp_path: Path) -> click.Group:
    """The `directory` group on a store in tmp_path, with three units imported."""

    def load(path: Path | None) -> DirectoryConfig:
        return DirectoryConfig(path=tmp_path / "var" / "directory.sqlite3")

    (group,) = commands(load)
    assert isinstance(group, click.Group)
    (tmp_path / "units.csv").write_text(UNITS, encoding="utf-8")
    assert run(group, "import", str(tmp_path / "units.csv"))[0] == 0
    return group


def run(cli: click.Group, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.output


def test_import_from_stdin_then_list_and_export(cli: click.Group, tmp_path: Path) -> None:
    code, output = run(cli, "mailboxes", "import", "-", "--actor", "an", "--lang", "en",
                       stdin=ROSTER)
    assert (code, output) == (0, "<csv>: 2 created, 0 updated, 0 unchanged, 0 made inactive, "
                                 "0 row(s) skipped\n")
    code, output = run(cli, "mailboxes", "list", "--lang", "en")
    assert (code, output.splitlines()) == (0, [
        f"le.van.c@{D}  Lê Văn C  (so-noi-vu)",
        f"nguyen.van.a@{D}  Nguyễn Văn A  (so-tai-chinh)  position=Giám đốc",
    ])
    code, output = run(cli, "mailboxes", "list", "--format", "json", "--unit", "so-noi-vu")
    assert [m["address"] for m in json.loads(output)] == [f"le.van.c@{D}"]
    assert run(cli, "mailboxes", "list", "--unit", "so-khong-co")[0] == 1
    export = tmp_path / "roster.csv"
    assert run(cli, "mailboxes", "export", "--output", str(export))[0] == 0
    assert run(cli, "mailboxes", "list", "--format", "csv")[1] == export.read_text("utf-8")
    # the export is the whole roster: importing it changes nothing
    code, output = run(cli, "mailboxes", "import", str(export))
    assert (code, output.splitlines()[0]) == (0, f"{export}: tạo mới 0, cập nhật 0, không đổi 2, "
                                                 "chuyển sang ngừng hoạt động 0, bỏ qua 0 dòng")
    code, output = run(cli, "mailboxes", "export", "--format", "json")
    assert json.loads(output)[1]["position"] == "Giám đốc"
    code, output = run(cli, "mailboxes", "history", f"LE.VAN.C@{D}", "--format", "json")
    [change] = [json.loads(line) for line in output.splitlines()]
    assert (change["address"], change["actor"], change["action"], change["changes"]) == (
        f"le.van.c@{D}", "an", "created",
        {"address": [None, f"le.van.c@{D}"], "full_name": [None, "Lê Văn C"],
         "unit": [None, "so-noi-vu"], "active": [None, True]})
    code, output = run(cli, "mailboxes", "history", "--lang", "en")
    assert code == 0 and output.count("created") == 2 and "unit: (none) -> so-tai-chinh" in output
    code, output = run(cli, "mailboxes", "history")
    assert output.count("  an  tạo mới ") == 2 and "đơn vị: (không có) -> so-tai-chinh" in output
    assert "đang hoạt động: (không có) -> có" in output


def test_a_bad_roster_exits_1_listing_every_problem(cli: click.Group, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(ROSTER + f"stc@{D},Sở,so-tai-chinh,\nx@{D},X,nope,\n", encoding="utf-8")
    code, output = run(cli, "mailboxes", "import", str(bad))
    assert (code, output.splitlines()) == (1, [
        f"Error: {bad}: không nhập gì, có 2 lỗi (sửa các lỗi này, hoặc nhập các dòng đúng "
        "với --partial):",
        "  dòng 4, cột 'address': stc@laocai.gov.vn là địa chỉ chính thức của đơn vị "
        "'so-tai-chinh'; địa chỉ của đơn vị không thể đồng thời là hộp thư của cán bộ",
        "  dòng 5, cột 'unit': không có đơn vị nào có mã 'nope'"])
    code, output = run(cli, "mailboxes", "import", str(bad), "--lang", "en")
    assert (code, output.splitlines()) == (1, [
        f"Error: {bad}: nothing imported, 2 problem(s) found (fix them, or import the good "
        "rows with --partial):",
        "  line 4, column 'address': stc@laocai.gov.vn is an official address of the unit "
        "'so-tai-chinh'; a unit's address cannot also be an official's mailbox",
        "  line 5, column 'unit': no unit has the id 'nope'"])
    assert run(cli, "mailboxes", "list")[1] == ""
    code, output = run(cli, "mailboxes", "import", str(bad), "--partial")
    assert code == 1 and output.startswith(f"{bad}: tạo mới 2")


def test_usage_problems_exit_2_and_an_unknown_unit_exits_1(cli: click.Group,
                                                           tmp_path: Path) -> None:
    listing = tmp_path / "users.txt"
    listing.write_text(f"nguyen.van.a@{D}\n", encoding="utf-8")
    code, output = run(cli, "mailboxes", "import", "--format", "doveadm", str(listing))
    assert code == 2 and "--format doveadm needs --unit or --map" in output
    assert run(cli, "mailboxes", "import", str(tmp_path / "missing.csv"))[0] == 2
    code, output = run(cli, "mailboxes", "import", "--format", "doveadm", "--unit",
                       "so-khong-co", str(listing))
    assert (code, output) == (
        1, "Error: không có đơn vị nào có mã hoặc địa chỉ 'so-khong-co'\n")
    code, output = run(cli, "mailboxes", "import", "--format", "doveadm", "--unit",
                       "so-khong-co", str(listing), "--lang", "en")
    assert (code, output) == (1, "Error: no unit has the id or address 'so-khong-co'\n")
    code, output = run(cli, "mailboxes", "import", "--format", "doveadm", "--unit",
                       "so-tai-chinh", str(listing))
    assert code == 0 and "tạo mới 1" in output


def test_an_empty_file_exits_1(cli: click.Group, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, output = run(cli, "mailboxes", "import", str(empty))
    assert code == 1 and output.endswith("\n  dòng 1: tệp trống\n")
    code, output = run(cli, "mailboxes", "import", str(empty), "--lang", "en")
    assert code == 1 and output.endswith("\n  line 1: the file is empty\n")
