"""Directory imports from the command line are admin events of the audit chain, with
the administrator who ran them (through the root `congvu` command, on real stores)."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from audit import AuditLog
from congvu.cli import main

UNITS = ("id,name,parent,address\n"
         "ubnd,UBND tỉnh,,vanthu@ubnd.example.gov.vn\n"
         "stc,Sở Tài chính,ubnd,vanthu@stc.example.gov.vn\n"
         "sxd,Sở Xây dựng,ubnd,vanthu@sxd.example.gov.vn\n")
ROSTER = ("unit,address,full_name\n"
          "stc,nguyen.van.a@stc.example.gov.vn,Nguyễn Văn A\n"
          "ubnd,tran.b@ubnd.example.gov.vn,Trần B\n")


def _congvu(var: Path, *args: str, sudo: str | None = "nguyenvana") -> Any:
    env = {"CONGVU_VAR": str(var), "CONGVU_CONFIG": "none", "SUDO_USER": sudo}
    return CliRunner().invoke(main, list(args), env=env)


def _events(var: Path) -> list[dict[str, Any]]:
    with AuditLog.open_readonly(var / "audit.sqlite3") as log:
        return list(reversed(log.admin_events(kind="directory-change")))


def test_a_unit_import_is_one_event_per_changed_unit(tmp_path: Path) -> None:
    var, units = tmp_path / "var", tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    result = _congvu(var, "directory", "import", str(units))
    assert result.exit_code == 0, result.output
    events = _events(var)
    assert [(e["actor"], e["target"], e["unit_id"], e["details"]["action"]) for e in events] == [
        ("nguyenvana", "ubnd", "ubnd", "created"), ("nguyenvana", "stc", "stc", "created"),
        ("nguyenvana", "sxd", "sxd", "created")]
    assert events[0]["details"]["command"] == "directory import"
    assert events[0]["details"]["via"] == "cli"
    assert events[0]["details"]["source"] == str(units)
    # the same file again changes nothing, and writes nothing
    assert _congvu(var, "directory", "import", str(units)).exit_code == 0
    assert len(_events(var)) == 3
    # without sudo: the user running the command; --actor is kept beside it
    changed = UNITS.replace("Sở Tài chính,", "Sở Tài chính tỉnh,").splitlines()[:3]
    units.write_text("\n".join(changed) + "\n", encoding="utf-8")
    result = _congvu(var, "directory", "import", "--actor", "Văn thư", str(units), sudo=None)
    assert result.exit_code == 0, result.output
    me = pwd.getpwuid(os.getuid()).pw_name
    assert [(e["actor"], e["target"], e["details"]["action"], e["details"]["recorded_as"])
            for e in _events(var)[3:]] == [(me, "stc", "updated", "Văn thư"),
                                           (me, "sxd", "deactivated", "Văn thư")]


def test_a_roster_import_is_one_event(tmp_path: Path) -> None:
    var, units, roster = tmp_path / "var", tmp_path / "units.csv", tmp_path / "roster.csv"
    units.write_text(UNITS, encoding="utf-8")
    roster.write_text(ROSTER, encoding="utf-8")
    assert _congvu(var, "directory", "import", str(units)).exit_code == 0
    result = _congvu(var, "directory", "mailboxes", "import", "--unit", "ubnd", str(roster))
    assert result.exit_code == 0, result.output
    event = _events(var)[-1]
    assert (event["actor"], event["target"], event["unit_id"]) == (
        "nguyenvana", str(roster), "ubnd")
    assert event["details"] == {
        "via": "cli", "command": "directory mailboxes import", "source": str(roster),
        "roster": True, "created": 2, "updated": 0, "deactivated": 0, "skipped": 0}


def test_an_import_the_audit_log_cannot_take_says_so(tmp_path: Path) -> None:
    var, units = tmp_path / "var", tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    (var / "audit.sqlite3").mkdir(parents=True)  # no store can be opened there
    result = _congvu(var, "directory", "import", str(units))
    assert result.exit_code == 1
    assert "tạo mới 3" in result.stdout
    assert (f"{units}: imported, but the change could not be written to the audit log"
            in result.stderr)
