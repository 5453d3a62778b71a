"""`congvu directory import|publish|show|export`, run through click's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from directory import DirectoryConfig, commands
from support.province import province_csv

README = Path(__file__).resolve().parents[2] / "directory" / "README.md"


@pytest.fixture
def cli(tmp_path: Path) -> click.Group:
    """The `directory` group with a loader pointing at a store in tmp_path."""
    seen: list[Path | None] = []

    def load(path: Path | None) -> DirectoryConfig:
        seen.append(path)
        return DirectoryConfig(path=tmp_path / "var" / "directory.sqlite3", title="Danh bạ thử")

    (group,) = commands(load)
    assert isinstance(group, click.Group)
    group.seen = seen  # type: ignore[attr-defined]
    return group


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "units.csv"
    path.write_text(province_csv(300, bom=True), encoding="utf-8")
    return path


def run(cli: click.Group, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_import_then_show_by_address_with_parents(cli: click.Group, csv_file: Path) -> None:
    code, output = run(cli, "import", str(csv_file), "--config", "congvu.toml")
    assert (code, output) == (0, f"{csv_file}: tạo mới 300, cập nhật 0, không đổi 0, chuyển "
                                 "sang ngừng hoạt động 0, bỏ qua 0 dòng\n")
    assert cli.seen == [Path("congvu.toml")]  # type: ignore[attr-defined]
    code, output = run(cli, "show", "VP+hop@Bac-Ha.LaoCai.gov.vn", "--lang", "en")
    assert code == 0
    assert output.splitlines() == [
        "Văn phòng HĐND và UBND Bắc Hà (bac-ha-vp)",
        "  kind:         district-office",
        "  address:      vp@bac-ha.laocai.gov.vn",
        "  DKIM domain:  bac-ha.laocai.gov.vn",
        "  parents:",
        "    UBND Huyện Bắc Hà (bac-ha) <ubnd@bac-ha.laocai.gov.vn>",
        "    Ủy ban nhân dân tỉnh Lào Cai (ubnd-tinh) <ubnd@laocai.gov.vn>",
    ]
    # Vietnamese by default: the words change, the unit's data do not
    code, output = run(cli, "show", "bac-ha-vp")
    assert code == 0
    assert output.splitlines() == [
        "Văn phòng HĐND và UBND Bắc Hà (bac-ha-vp)",
        "  loại đơn vị:             district-office",
        "  địa chỉ thư:             vp@bac-ha.laocai.gov.vn",
        "  tên miền DKIM:           bac-ha.laocai.gov.vn",
        "  đơn vị cấp trên:",
        "    UBND Huyện Bắc Hà (bac-ha) <ubnd@bac-ha.laocai.gov.vn>",
        "    Ủy ban nhân dân tỉnh Lào Cai (ubnd-tinh) <ubnd@laocai.gov.vn>",
    ]
    code, output = run(cli, "show", "bac-ha-vp", "--format", "json")
    assert json.loads(output)["ancestors"] == ["bac-ha", "ubnd-tinh"]


def test_a_rejected_import_lists_every_row_and_exits_1(cli: click.Group, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("id,name,parent,address\nt,T,,t@laocai.gov.vn\nx,X,nope,x@laocai.gov.vn\n"
                    "y,Y,t,bad\n")
    # the address's own complaint is email-validator's, in its English
    invalid = "An email address must have an @-sign."
    code, output = run(cli, "import", str(path))
    assert (code, output.splitlines()) == (1, [
        f"Error: {path}: không nhập gì, có 2 lỗi (sửa các lỗi này, hoặc nhập các dòng đúng "
        "với --partial):",
        "  dòng 3, cột 'parent': đơn vị cấp trên 'nope' không có trong tệp",
        f"  dòng 4, cột 'address': 'bad' không phải địa chỉ thư hợp lệ: {invalid}"])
    code, output = run(cli, "import", str(path), "--lang", "en")
    assert (code, output.splitlines()) == (1, [
        f"Error: {path}: nothing imported, 2 problem(s) found (fix them, or import the good "
        "rows with --partial):",
        "  line 3, column 'parent': the parent 'nope' is not a unit of this file",
        f"  line 4, column 'address': 'bad' is not a valid address: {invalid}"])
    code, output = run(cli, "import", str(path), "--partial", "--lang", "en")
    assert code == 1
    assert "1 created" in output and "2 row(s) skipped" in output.splitlines()[0]
    assert f"skipped line 4, column 'address': 'bad' is not a valid address: {invalid}" in output
    assert output.endswith("Error: 2 row(s) were skipped\n")
    code, output = run(cli, "import", str(path), "--partial")
    assert code == 1 and output.endswith("Error: đã bỏ qua 2 dòng\n")
    assert ("bỏ qua dòng 4, cột 'address': 'bad' không phải địa chỉ thư hợp lệ: "
            f"{invalid}") in output


def test_show_of_an_unknown_unit_exits_1(cli: click.Group, csv_file: Path) -> None:
    run(cli, "import", str(csv_file))
    assert run(cli, "show", "nobody@laocai.gov.vn", "--lang", "en") == (
        1, "Error: no unit has the id or address 'nobody@laocai.gov.vn'\n")
    assert run(cli, "show", "nobody@laocai.gov.vn") == (
        1, "Error: không có đơn vị nào có mã hoặc địa chỉ 'nobody@laocai.gov.vn'\n")


def test_commands_before_any_import_exit_2_with_advice(cli: click.Group, tmp_path: Path) -> None:
    store = tmp_path / "var" / "directory.sqlite3"
    for args in (["show", "x"], ["export"], ["publish", "--out", str(tmp_path / "o")]):
        assert run(cli, *args) == (
            2, f"Error: {store}: chưa có kho danh bạ; hãy nhập một tệp CSV trước\n")
        assert run(cli, *args, "--lang", "en") == (
            2, f"Error: {store}: no such directory store; import a CSV file first\n")


def test_publish_writes_the_files(cli: click.Group, csv_file: Path, tmp_path: Path) -> None:
    run(cli, "import", str(csv_file))
    code, output = run(cli, "publish", "--out", str(tmp_path / "www"))
    # 9 fixed names and a card for each of the 299 active units
    assert (code, output) == (0, f"{tmp_path / 'www'}: đã ghi {9 + 299} tệp\n")
    code, output = run(cli, "publish", "--out", str(tmp_path / "www"), "--lang", "en")
    assert (code, output) == (0, f"{tmp_path / 'www'}: {9 + 299} files written\n")
    assert "<title>Danh bạ thử</title>" in (tmp_path / "www/index.html").read_text("utf-8")


def test_publish_into_a_file_exits_2(cli: click.Group, csv_file: Path, tmp_path: Path) -> None:
    run(cli, "import", str(csv_file))
    (tmp_path / "taken").write_text("a file, not a folder")
    code, output = run(cli, "publish", "--out", str(tmp_path / "taken" / "www"))
    assert code == 2
    assert output.startswith(f"Error: {tmp_path / 'taken' / 'www'}: cannot write:")


def test_import_of_a_missing_file_is_a_usage_error(cli: click.Group, tmp_path: Path) -> None:
    code, output = run(cli, "import", str(tmp_path / "missing.csv"))
    assert code == 2
    assert "does not exist" in output


def test_export_csv_and_json(cli: click.Group, csv_file: Path, tmp_path: Path) -> None:
    run(cli, "import", str(csv_file))
    code, output = run(cli, "export", "--format", "csv")
    assert code == 0
    assert output.startswith("id,name,parent,address,")
    assert "vt.so-tai-chinh;ld.so-tai-chinh" in output
    run(cli, "export", "--format", "json", "--output", str(tmp_path / "d.json"))
    data = json.loads((tmp_path / "d.json").read_text("utf-8"))
    assert data["units"][1]["senders"] == ["vt.van-phong-ubnd", "ld.van-phong-ubnd"]
    run(cli, "export", "--bom", "--output", str(tmp_path / "d.csv"))
    assert (tmp_path / "d.csv").read_bytes().startswith(b"\xef\xbb\xbfid,")
    assert run(cli, "import", str(tmp_path / "d.csv"), "--lang", "en")[1].endswith(
        "0 created, 0 updated, 300 unchanged, 0 made inactive, 0 row(s) skipped\n")


def test_history_of_one_unit_and_of_all(cli: click.Group, tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("id,name,parent,address\nt,UBND,,t@laocai.gov.vn\n", encoding="utf-8")
    run(cli, "import", str(path), "--actor", "nguyen.van.a")
    path.write_text("id,name,parent,address,aliases\nt,UBND tỉnh,,t@laocai.gov.vn,"
                    "a@laocai.gov.vn;b@laocai.gov.vn\n", encoding="utf-8")
    run(cli, "import", str(path), "--actor", "tran.b")
    code, output = run(cli, "history", "a@laocai.gov.vn", "--lang", "en")
    assert code == 0
    lines = output.splitlines()
    assert lines[0].endswith("  nguyen.van.a  created t")
    assert lines[-3].endswith("  tran.b  updated t")
    assert lines[-2:] == ["    name: UBND -> UBND tỉnh",
                          "    aliases: (none) -> a@laocai.gov.vn; b@laocai.gov.vn"]
    # in Vietnamese by default, the time dd/mm/yyyy in the province's zone
    code, output = run(cli, "history", "t")
    lines = output.splitlines()
    assert re.fullmatch(r"\d\d/\d\d/20\d\d \d\d:\d\d:\d\d  nguyen\.van\.a  tạo mới t", lines[0])
    assert lines[1:5] == ["    mã: (không có) -> t", "    tên: (không có) -> UBND",
                          "    địa chỉ thư: (không có) -> t@laocai.gov.vn",
                          "    đang hoạt động: (không có) -> có"]
    assert lines[-3].endswith("  tran.b  cập nhật t")
    assert lines[-2:] == ["    tên: UBND -> UBND tỉnh",
                          "    địa chỉ phụ: (không có) -> a@laocai.gov.vn; b@laocai.gov.vn"]
    code, output = run(cli, "history", "--format", "json")
    entries = [json.loads(line) for line in output.splitlines()]
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("nguyen.van.a", "created"), ("tran.b", "updated")]
    assert entries[1]["changes"]["name"] == ["UBND", "UBND tỉnh"]
    assert run(cli, "history", "nope")[0] == 1


def test_every_command_has_help_and_is_documented(cli: click.Group) -> None:
    readme = README.read_text("utf-8")
    for name, command in cli.commands.items():
        assert (command.help or "").strip(), name
        assert f"congvu directory {name}" in readme, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
                assert param.opts[0] in readme, f"{name} {param.opts}"
