"""`congvu directory merge`: several provinces' exports joined into one import file.

Real CSV files in tmp_path, the `directory` commands through click's CliRunner, and
the merged file imported into a real SQLite store and exported again.
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from directory import DirectoryConfig, commands

HEADER = "id,name,parent,address,aliases,senders,active,successor\n"


@pytest.fixture
def cli(tmp_path: Path) -> click.Group:
    """The `directory` group with a store in tmp_path."""

    def load(_path: Path | None) -> DirectoryConfig:
        return DirectoryConfig(path=tmp_path / "var" / "directory.sqlite3")

    (group,) = commands(load)
    assert isinstance(group, click.Group)
    return group


def run(cli: click.Group, *args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def write(path: Path, text: str, *, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def problems(result: Result) -> list[str]:
    """The listed problems of a refused merge (stderr, one per indented line)."""
    return [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]


@pytest.fixture
def three(tmp_path: Path) -> list[Path]:
    """Three provinces; so-tai-chinh and ubnd-tinh are in all, so-y-te in two."""
    return [
        write(tmp_path / "binhthuan.csv", HEADER +
              "ubnd-tinh,UBND tỉnh Bình Thuận,,ubnd@binhthuan.gov.vn,,vt.ubnd.bt,,\n"
              "so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@binhthuan.gov.vn,,,,\n"
              "so-y-te,Sở Y tế,ubnd-tinh,syt@binhthuan.gov.vn,,,,\n"
              "xa-cu,Xã Cũ,ubnd-tinh,xacu@binhthuan.gov.vn,,,no,xa-moi\n"
              "xa-moi,Xã Mới,ubnd-tinh,xamoi@binhthuan.gov.vn,,,,\n"),
        write(tmp_path / "lamdong.csv", HEADER +
              "ubnd-tinh,UBND tỉnh Lâm Đồng,,ubnd@lamdong.gov.vn,,,,\n"
              "so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@lamdong.gov.vn,tc@lâmđồng.gov.vn,,,\n"
              "so-y-te,Sở Y tế,ubnd-tinh,syt@lamdong.gov.vn,,,,\n"
              "ban-dan-toc,Ban Dân tộc,ubnd-tinh,bdt@lamdong.gov.vn,,,,\n"),
        write(tmp_path / "daknong.csv", HEADER +
              "ubnd-tinh,UBND tỉnh Đắk Nông,,ubnd@daknong.gov.vn,,,,\n"
              "so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@daknong.gov.vn,,,,\n"
              "xa-moi-dn,Xã Mới,so-tai-chinh,xamoi@daknong.gov.vn,,,,\n"),
    ]


def test_shared_ids_get_their_files_prefix_everywhere_and_references_follow(
    cli: click.Group, three: list[Path], tmp_path: Path,
) -> None:
    out, mapping = tmp_path / "merged.csv", tmp_path / "map.csv"
    result = run(cli, "merge", *three, "--prefix", "bt", "--prefix", "ld", "--prefix", "dn",
                 "--out", out, "--map", mapping, "--lang", "en")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{out}: 12 units from 3 files, 8 prefixed; ids in {mapping}\n"
    merged = {row["id"]: row for row in rows(out)}
    assert list(merged) == [
        "bt-ubnd-tinh", "bt-so-tai-chinh", "bt-so-y-te", "xa-cu", "xa-moi",
        "ld-ubnd-tinh", "ld-so-tai-chinh", "ld-so-y-te", "ban-dan-toc",
        "dn-ubnd-tinh", "dn-so-tai-chinh", "xa-moi-dn",
    ]
    assert merged["bt-so-tai-chinh"]["parent"] == "bt-ubnd-tinh"
    assert merged["xa-moi-dn"]["parent"] == "dn-so-tai-chinh"  # a unique id keeps its own
    assert merged["ban-dan-toc"]["parent"] == "ld-ubnd-tinh"
    assert (merged["xa-cu"]["successor"], merged["xa-cu"]["active"]) == ("xa-moi", "no")
    # the IDN alias in the form the import stores, Vietnamese names untouched
    assert merged["ld-so-tai-chinh"]["aliases"] == "tc@" + "lâmđồng.gov.vn".encode("idna").decode()
    assert merged["dn-ubnd-tinh"]["name"] == "UBND tỉnh Đắk Nông"
    assert rows(mapping)[:3] == [
        {"file": str(three[0]), "old_id": "ubnd-tinh", "new_id": "bt-ubnd-tinh"},
        {"file": str(three[0]), "old_id": "so-tai-chinh", "new_id": "bt-so-tai-chinh"},
        {"file": str(three[0]), "old_id": "so-y-te", "new_id": "bt-so-y-te"},
    ]
    assert len(rows(mapping)) == 12
    assert {(r["old_id"], r["new_id"]) for r in rows(mapping) if r["file"] == str(three[1])} >= {
        ("ban-dan-toc", "ban-dan-toc"), ("so-y-te", "ld-so-y-te")}

    imported = run(cli, "import", out)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.startswith(f"{out}: tạo mới 12, cập nhật 0")
    exported = tmp_path / "exported.csv"
    assert run(cli, "export", "--output", exported).exit_code == 0
    assert exported.read_bytes() == out.read_bytes()
    shown = run(cli, "show", "TC@Lâmđồng.gov.vn")
    assert shown.stdout.startswith("Sở Tài chính (ld-so-tai-chinh)\n")


def test_every_problem_of_the_data_is_listed_at_once_and_nothing_written(
    cli: click.Group, tmp_path: Path,
) -> None:
    a = write(tmp_path / "a.csv", HEADER +
              "ubnd-tinh,UBND A,,ubnd@a.gov.vn,,,,\n"
              "so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@a.gov.vn,tc@bìnhthuận.gov.vn,,,\n"
              "b-so-tai-chinh,Sở khác,ubnd-tinh,khac@a.gov.vn,,,,\n"
              "mo-coi,Mồ côi,khong-co,mocoi@a.gov.vn,,,,\n")
    b = write(tmp_path / "b.csv", HEADER +
              "ubnd-tinh,UBND B,,ubnd@b.gov.vn,,,,\n"
              "so-tai-chinh,Sở Tài chính,ubnd-tinh,STC@A.GOV.VN,,,,\n"
              "so-y-te,Sở Y tế,ubnd-tinh,syt@b.gov.vn,TC@xn--bnhthun-zya2769d.gov.vn,,,\n")
    # a spreadsheet saved in Windows-1258: the Vietnamese line is not UTF-8
    c = write(tmp_path / "c.csv", "id,name,parent,address\n"
              "ubnd-c,Uy ban C,,ubnd@c.gov.vn\nso-c,S\u1edf C,ubnd-c,so@c.gov.vn\n",
              encoding="utf-8")
    c.write_bytes(c.read_bytes().replace("Sở".encode(), b"S\xd5"))
    out, mapping = tmp_path / "merged.csv", tmp_path / "map.csv"
    args = [a, b, c, "--prefix", "a", "--prefix", "b", "--prefix", "c", "--out", out,
            "--map", mapping]
    result = run(cli, "merge", *args)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: không gộp gì, có 5 lỗi:\n")
    assert problems(result)[0] == (
        f"{a}, dòng 5, cột 'parent': đơn vị cấp trên 'khong-co' không có trong tệp")
    assert problems(result)[1] == (
        f"{b}, dòng 3, cột 'id': mã 'b-so-tai-chinh' (thêm tiền tố từ 'so-tai-chinh') cũng là "
        f"mã của đơn vị ở {a} dòng 4: hãy chọn --prefix khác hoặc đổi mã một đơn vị")
    result = run(cli, "merge", *args, "--lang", "en")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.startswith("Error: nothing merged, 5 problem(s) found:\n")
    assert problems(result) == [
        f"{a}, line 5, column 'parent': the parent 'khong-co' is not a unit of this file",
        f"{b}, line 3, column 'id': the id 'b-so-tai-chinh' (prefixed from 'so-tai-chinh') is "
        f"also the id of the unit on {a} line 4: choose another --prefix or rename one unit",
        f"{b}, line 3, column 'address': STC@a.gov.vn is also an address of 'so-tai-chinh' in "
        f"{a} (line 3); an address belongs to one unit",
        f"{b}, line 4, column 'aliases': TC@xn--bnhthun-zya2769d.gov.vn is also an address of "
        f"'so-tai-chinh' in {a} (line 3); an address belongs to one unit",
        f"{c}, line 3: not UTF-8 (byte 0xd5 at position 7); save the file as 'CSV UTF-8'",
    ]
    assert not out.exists() and not mapping.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "c.csv"]


def test_a_bad_command_line_is_listed_whole_with_the_data_and_exits_2(
    cli: click.Group, three: list[Path], tmp_path: Path,
) -> None:
    bt, ld, dn = three
    copy = write(tmp_path / "copy-of-lamdong.csv", ld.read_text(encoding="utf-8"))
    broken = write(tmp_path / "broken.csv", HEADER + "x,X,nope,x@x.gov.vn,,,,\n")
    again = tmp_path / "binhthuan-link.csv"
    again.symlink_to(bt)
    result = run(cli, "merge", bt, ld, dn, again, copy, broken,
                 "--prefix", "bình", "--prefix", "ld-", "--prefix", "ld", "--prefix", "Dn",
                 "--prefix", "x",
                 "--out", ld, "--lang", "en")
    assert result.exit_code == 2
    assert problems(result) == [
        "6 file(s) but 5 --prefix: give one --prefix per file, in the same order",
        "--prefix 'bình': an id uses only a-z, 0-9, '-', '_' and '.', and starts with a "
        "letter or digit",
        "--prefix 'ld-': a prefix ends with a letter or digit ('-' is added)",
        "--prefix 'Dn': an id uses only a-z, 0-9, '-', '_' and '.', and starts with a "
        "letter or digit",
        f"{ld}: an input file: write the output elsewhere",
        f"{again}: given twice (also as {bt})",
        f"{copy}: the same content as {ld}: the same export given twice?",
        f"{broken}, line 2, column 'parent': the parent 'nope' is not a unit of this file",
    ]
    assert ld.read_bytes().startswith(HEADER.encode())


def test_one_file_named_for_two_outputs_exits_2(
    cli: click.Group, three: list[Path], tmp_path: Path,
) -> None:
    out = tmp_path / "merged.csv"
    result = run(cli, "merge", *three, "--prefix", "bt", "--prefix", "ld", "--prefix", "dn",
                 "--out", out, "--map", tmp_path / "." / "merged.csv", "--lang", "en")
    assert result.exit_code == 2
    assert problems(result) == [f"{out}: named for two outputs: give each its own file"]
    assert not out.exists()


def test_a_repeated_prefix_and_an_id_too_long_once_prefixed(
    cli: click.Group, tmp_path: Path,
) -> None:
    long_id = "x" * 63
    a = write(tmp_path / "a.csv", HEADER + f"{long_id},X,,x@a.gov.vn,,,,\n")
    b = write(tmp_path / "b.csv", HEADER + f"{long_id},X,,x@b.gov.vn,,,,\n")
    result = run(cli, "merge", a, b, "--prefix", "p", "--prefix", "p", "--out",
                 tmp_path / "m.csv", "--lang", "en")
    assert result.exit_code == 2
    assert problems(result) == [
        "--prefix 'p' is given for file 1 and file 2: each file needs its own",
        f"{a}, line 2, column 'id': prefixed, 'p-{long_id}': the id is longer than 64 "
        "characters",
    ]
    result = run(cli, "merge", a, b, "--prefix", "p", "--prefix", "q", "--out",
                 tmp_path / "m.csv")
    assert result.exit_code == 1
    assert [line.split(": ", 1)[1] for line in problems(result)] == [
        f"khi thêm tiền tố, 'p-{long_id}': mã dài quá 64 ký tự",
        f"khi thêm tiền tố, 'q-{long_id}': mã dài quá 64 ký tự",
    ]


def test_spreadsheet_files_bom_semicolons_decomposed_names_merge_to_nfc(
    cli: click.Group, tmp_path: Path,
) -> None:
    nfd = unicodedata.normalize("NFD", "Sở Tài chính Đắk Nông")
    a = write(tmp_path / "a.csv", "\ufeffid;name;parent;address\r\n"
              f"so-tai-chinh;{nfd};;stc@daknong.gov.vn\r\n")
    b = write(tmp_path / "b.csv", "id\tname\tparent\taddress\nso-tai-chinh\tSở Tài chính\t\t"
              "stc@lamdong.gov.vn\n")
    out = tmp_path / "m.csv"
    result = run(cli, "merge", a, b, "--prefix", "dn", "--prefix", "ld", "--out", out, "--bom")
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfid,name,parent,address,")
    merged = rows(out)
    assert [(r["id"], r["name"]) for r in merged] == [
        ("dn-so-tai-chinh", "Sở Tài chính Đắk Nông"), ("ld-so-tai-chinh", "Sở Tài chính")]
    assert unicodedata.is_normalized("NFC", merged[0]["name"])
    assert run(cli, "import", out).exit_code == 0


def test_a_login_in_two_provinces_is_a_warning_and_the_merge_goes_on(
    cli: click.Group, tmp_path: Path,
) -> None:
    a = write(tmp_path / "a.csv", HEADER + "so-a,A,,a@a.gov.vn,,vanthu;vt.a,,\n")
    b = write(tmp_path / "b.csv", HEADER + "so-b,B,,b@b.gov.vn,,vanthu,,\n")
    out = tmp_path / "m.csv"
    result = run(cli, "merge", a, b, "--prefix", "a", "--prefix", "b", "--out", out,
                 "--lang", "en")
    assert result.exit_code == 0
    assert result.stdout == f"{out}: 2 units from 2 files, 0 prefixed\n"
    assert result.stderr == (
        f"warning: the login 'vanthu' sends for 'so-a' ({a}) and for 'so-b' ({b}): on one "
        "server it is one account; rename one of them if they are two people\n")
    assert [r["senders"] for r in rows(out)] == ["vanthu;vt.a", "vanthu"]


def test_an_output_that_cannot_be_written_exits_2_and_leaves_nothing(
    cli: click.Group, three: list[Path], tmp_path: Path,
) -> None:
    out = tmp_path / "merged.csv"
    result = run(cli, "merge", *three, "--prefix", "bt", "--prefix", "ld", "--prefix", "dn",
                 "--out", out, "--map", tmp_path / "missing" / "map.csv")
    assert result.exit_code == 2
    assert f"{tmp_path / 'missing' / 'map.csv'}: cannot write: No such file or directory" in (
        result.stderr)
    assert not out.exists()
    assert not list(tmp_path.glob(".*partial"))


ROSTER = "address,full_name,unit,position,active,created,last_login\n"


def test_rosters_come_along_with_their_units_renamed(
    cli: click.Group, three: list[Path], tmp_path: Path,
) -> None:
    bt, ld, dn = three
    rosters = [
        write(tmp_path / "bt-roster.csv", ROSTER +
              "nguyen.van.an@binhthuan.gov.vn,Nguyễn Văn An,so-tai-chinh,Chuyên viên,,,\n"
              "tran.thi.binh@bìnhthuận.gov.vn,Trần Thị Bình,xa-moi,,,2024-03-01,\n"),
        write(tmp_path / "ld-roster.csv", ROSTER +
              "le.van.cuong@lamdong.gov.vn,Lê Văn Cường,ban-dan-toc,,,,2025-06-30T08:15:00\n"
              "pham.dung@lamdong.gov.vn,Phạm Dũng,so-y-te,,no,,\n"),
        write(tmp_path / "dn-roster.csv", ROSTER),  # a province without a roster
    ]
    out, roster_out = tmp_path / "merged.csv", tmp_path / "roster.csv"
    result = run(cli, "merge", bt, ld, dn, "--prefix", "bt", "--prefix", "ld", "--prefix", "dn",
                 "--roster", rosters[0], "--roster", rosters[1], "--roster", rosters[2],
                 "--out", out, "--roster-out", roster_out)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{out}: 12 đơn vị từ 3 tệp, 8 mã được thêm tiền tố",
        f"{roster_out}: 4 hộp thư từ 3 danh sách"]
    assert [(r["address"], r["unit"], r["active"]) for r in rows(roster_out)] == [
        ("le.van.cuong@lamdong.gov.vn", "ban-dan-toc", "yes"),
        ("nguyen.van.an@binhthuan.gov.vn", "bt-so-tai-chinh", "yes"),
        ("pham.dung@lamdong.gov.vn", "ld-so-y-te", "no"),
        ("tran.thi.binh@" + "bìnhthuận.gov.vn".encode("idna").decode(), "xa-moi", "yes"),
    ]
    assert run(cli, "import", out).exit_code == 0
    imported = run(cli, "mailboxes", "import", roster_out)
    assert imported.exit_code == 0, imported.output
    exported = tmp_path / "exported-roster.csv"
    assert run(cli, "mailboxes", "export", "--output", exported).exit_code == 0
    assert exported.read_bytes() == roster_out.read_bytes()


def test_every_problem_of_the_rosters_is_listed_with_the_units(
    cli: click.Group, three: list[Path], tmp_path: Path,
) -> None:
    bt, ld, dn = three
    rosters = [
        write(tmp_path / "bt-roster.csv", ROSTER +
              "a@binhthuan.gov.vn,A,so-khong-co,,,,\n"
              "b@binhthuan.gov.vn,B,xa-cu,,,,\n"
              "stc@lamdong.gov.vn,C,so-y-te,,,,\n"
              "same@lamdong.gov.vn,D,so-y-te,,,,\n"),
        write(tmp_path / "ld-roster.csv", ROSTER + "SAME@LamDong.gov.vn,D,so-y-te,,,,\n"),
        write(tmp_path / "dn-roster.csv", "address,name\n"),
    ]
    out, roster_out = tmp_path / "merged.csv", tmp_path / "roster.csv"
    args = [bt, ld, dn, "--prefix", "bt", "--prefix", "ld", "--prefix", "dn",
            "--out", out, "--roster-out", roster_out, "--lang", "en"]
    result = run(cli, "merge", *args, *(x for r in rosters for x in ("--roster", r)))
    assert result.exit_code == 1
    bt_roster, ld_roster, dn_roster = rosters
    assert problems(result) == [
        f"{bt_roster}, line 2, column 'unit': no unit of {bt} has the id 'so-khong-co'",
        f"{bt_roster}, line 3, column 'unit': the unit 'xa-cu' is inactive; an active mailbox "
        "needs an active unit",
        f"{bt_roster}, line 4, column 'address': stc@lamdong.gov.vn is an official address "
        "of the unit 'ld-so-tai-chinh'; a unit's address cannot also be an official's mailbox",
        f"{ld_roster}, line 2, column 'address': SAME@lamdong.gov.vn is also on the roster "
        f"{bt_roster} (line 5)",
        f"{dn_roster}, line 1: missing column(s): full_name, unit",
        f"{dn_roster}, line 1: unknown column(s): 'name'; the columns are: address, "
        "full_name, unit, position, active, created, last_login",
    ]
    assert not out.exists() and not roster_out.exists()
    result = run(cli, "merge", *args, "--roster", rosters[0])
    assert result.exit_code == 2
    assert problems(result) == [
        "3 file(s) but 1 --roster: give one --roster per file, in the same order (an empty "
        "roster export for a province without one)"]
    result = run(cli, "merge", bt, ld, "--prefix", "bt", "--prefix", "ld", "--out", out,
                 "--roster", rosters[0], "--roster", rosters[1])
    assert result.exit_code == 2
    assert "--roster and --roster-out go together" in result.stderr
