"""`congvu policy check` and `congvu quarantine list|show|delete`, through click."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from policies import (
    Action,
    Decision,
    Finding,
    PoliciesConfig,
    Quarantine,
    Violation,
    commands,
)


def _root(tmp_path: Path, chain: dict[str, Sequence[str]] | None = None) -> click.Group:
    def load(path: Path | None) -> PoliciesConfig:
        data = tomllib.loads(path.read_text())["policies"] if path else {}
        data.setdefault("quarantine", {"path": str(tmp_path / "q")})
        return PoliciesConfig.model_validate(data)

    def unit_chain(unit: str) -> Sequence[str]:
        if chain is None or unit not in chain:
            raise LookupError("not in the directory")
        return chain[unit]

    root = click.Group("congvu")
    for command in commands(load, unit_chain=unit_chain):
        root.add_command(command)
    return root


def _lines(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines()]


def test_every_command_has_help(tmp_path: Path) -> None:
    root = _root(tmp_path)
    for group in root.commands.values():
        assert group.help
        assert isinstance(group, click.Group)
        for command in group.commands.values():
            assert command.help, command.name


def test_check_exit_codes_and_json(corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    clean = str(corpus / "clean-vn-rfc2047.eml")
    ok = runner.invoke(_root(tmp_path), ["policy", "check", clean])
    assert ok.exit_code == 0, ok.output
    assert _lines(ok.output) == [{"file": clean, "action": "accept", "violations": []}]
    bad = runner.invoke(_root(tmp_path), ["policy", "check", clean,
                                          str(corpus / "exe-in-zip.eml")])
    assert bad.exit_code == 1
    records = _lines(bad.output)
    assert records[1]["action"] == "reject"
    violation = records[1]["violations"][0]  # type: ignore[index]
    assert set(violation) == {"rule", "reason", "filename", "content_type", "detected_type",
                              "part", "member", "code", "params"}
    assert violation["member"] == "docs/a.exe"
    # the English reason stays, its code and parameters beside it
    assert violation["code"] == "name.blocked-extension"
    assert violation["params"] == {"name": "'docs/a.exe'", "ext": "exe"}
    assert violation["reason"] == "the name 'docs/a.exe' ends in .exe"
    tagged = runner.invoke(_root(tmp_path), ["policy", "check",
                                             str(corpus / "smime-encrypted.eml")])
    assert tagged.exit_code == 1


def test_check_usage_errors(corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    clean = str(corpus / "clean-text-only.eml")
    assert runner.invoke(_root(tmp_path), ["policy", "check", "missing.eml"]).exit_code == 2
    assert runner.invoke(_root(tmp_path), ["policy", "check", "--direction", "sideways",
                                           clean]).exit_code == 2
    unknown = runner.invoke(_root(tmp_path), ["policy", "check", "--unit", "x", clean])
    assert unknown.exit_code == 2 and "unknown unit" in unknown.output


def test_check_with_unit_and_direction(corpus: Path, tmp_path: Path) -> None:
    config = tmp_path / "congvu.toml"
    config.write_text(
        '[policies]\n[[policies.overrides]]\nunit = "so-tc"\ndirection = "outbound"\n'
        'actions = { pdf-embedded-file = "reject" }\n')
    root = _root(tmp_path, {"phong-kt": ["phong-kt", "so-tc"]})
    msg = str(corpus / "pdf-embedded-file.eml")
    runner = CliRunner()
    args = ["policy", "check", "--config", str(config), "--unit", "phong-kt"]
    outbound = runner.invoke(root, [*args, "--direction", "outbound", msg])
    inbound = runner.invoke(root, [*args, "--direction", "inbound", msg])
    assert _lines(outbound.output)[0]["action"] == "reject"
    assert _lines(inbound.output)[0]["action"] == "tag"


def test_quarantine_list_show_delete(tmp_path: Path) -> None:
    with Quarantine(tmp_path / "q") as store:
        qid = store.put(b"Subject: x\r\n\r\nhi\r\n", envelope_from="a@b.gov.vn",
                        recipients=["c@d.gov.vn"], direction="inbound", unit_id=None,
                        decision=Decision(Action.QUARANTINE))
        why = Violation(rule="encrypted-archive", reason="cannot inspect", filename="a.zip")
        second = store.put(
            b"From: =?utf-8?q?V=C4=83n_th=C6=B0?= <vt@e.gov.vn>\r\n"
            b"Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n\r\nhi\r\n",
            envelope_from="vt@e.gov.vn", recipients=["c@d.gov.vn"], direction="inbound",
            unit_id=None,
            decision=Decision(Action.QUARANTINE, (Finding(why, Action.QUARANTINE, None),)))
    runner = CliRunner()
    root = _root(tmp_path)
    listed = runner.invoke(root, ["quarantine", "list", "--lang", "en"])
    assert listed.exit_code == 0 and qid in listed.output and "a@b.gov.vn" in listed.output
    lines = listed.stdout.splitlines()
    assert lines[1:3] == ["    subject: x", "    from:    (none)"]
    assert lines[4:] == ["    subject: Công văn", "    from:    Văn thư <vt@e.gov.vn>",
                         "    held by: encrypted-archive: cannot inspect (a.zip)"]
    as_json = _lines(runner.invoke(root, ["quarantine", "list", "--format", "json"]).output)
    assert [(d["id"], d["subject"], d["header_from"]) for d in as_json] == [
        (qid, "x", None), (second, "Công văn", "Văn thư <vt@e.gov.vn>")]
    shown = json.loads(runner.invoke(root, ["quarantine", "show", second]).output)
    assert (shown["subject"], shown["violations"][0]["rule"],
            shown["violations"][0]["reason"]) == ("Công văn", "encrypted-archive",
                                                  "cannot inspect")
    raw = runner.invoke(root, ["quarantine", "show", "--raw", qid])
    assert raw.stdout_bytes == b"Subject: x\r\n\r\nhi\r\n"
    assert runner.invoke(root, ["quarantine", "delete", qid]).exit_code == 0
    missing = runner.invoke(root, ["quarantine", "show", qid])
    assert missing.exit_code == 1 and "no quarantined message" in missing.output


def test_quarantine_list_is_in_vietnamese_by_default(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from policies.reasons import ENCRYPTED_MEMBER

    held_at = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)  # 8 December, 00:30 in Hà Nội
    coded = Violation.of("encrypted-archive", ENCRYPTED_MEMBER(), filename="b.zip")
    stored = Violation(rule="encrypted-archive", reason="cannot inspect", filename="a.zip")
    with Quarantine(tmp_path / "q") as store:
        qid = store.put(
            b"Subject: =?utf-8?q?C=C3=B4ng_v=C4=83n?=\r\n\r\nhi\r\n", envelope_from="",
            recipients=["c@d.gov.vn"], direction="outbound", unit_id=None, now=held_at,
            decision=Decision(Action.QUARANTINE, tuple(
                Finding(v, Action.QUARANTINE, None) for v in (coded, stored))))
    runner = CliRunner()
    listed = runner.invoke(_root(tmp_path), ["quarantine", "list"])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [
        f"{qid}  08/12/2026 00:30  thư đi    <>  c@d.gov.vn  encrypted-archive",
        "    tiêu đề:    Công văn",
        "    người gửi:  (không có)",
        # the reason's code in Vietnamese; one stored without a code, as it was stored
        "    giữ lại vì: encrypted-archive: tệp trong tệp nén bị mã hóa (b.zip)",
        "    giữ lại vì: encrypted-archive: cannot inspect (nguyên văn tiếng Anh như đã ghi)"
        " (a.zip)"]
    english = runner.invoke(_root(tmp_path), ["quarantine", "list", "--lang", "en"]).stdout
    assert english.splitlines()[0] == (
        f"{qid}  2026-12-07 17:30Z  outbound  <>  c@d.gov.vn  encrypted-archive")
    assert english.splitlines()[3] == (
        "    held by: encrypted-archive: the archive member is encrypted (b.zip)")
    # JSON is the same whatever the language
    as_json = runner.invoke(_root(tmp_path), ["quarantine", "list", "--format", "json"])
    assert as_json.stdout == runner.invoke(
        _root(tmp_path), ["quarantine", "list", "--format", "json", "--lang", "en"]).stdout
    assert [v["reason"] for v in json.loads(as_json.stdout)["violations"]] == [
        "the archive member is encrypted", "cannot inspect"]


@pytest.mark.parametrize("bad", ['actions = { "no-rule" = "reject" }', 'tag_header = "a b"'])
def test_bad_configuration_is_rejected_at_load(tmp_path: Path, bad: str) -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError):
        PoliciesConfig.model_validate(tomllib.loads(f"[policies]\n{bad}\n")["policies"])
