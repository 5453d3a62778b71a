"""The composed configuration and `congvu config check|show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from congvu.cli import main
from congvu.config import load_config, parse_config
from milter.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_defaults(tmp_path: Path) -> None:
    config = parse_config({}, environ={}, cwd=tmp_path)
    assert config.data_dir == tmp_path / "var"
    assert config.next_hop.maildir == tmp_path / "var" / "maildir"
    [listener] = config.listeners
    assert (listener.address, listener.port, listener.role.value) == ("127.0.0.1", 10025, "auto")


def test_congvu_var_sets_the_data_directory(tmp_path: Path) -> None:
    config = parse_config({}, environ={"CONGVU_VAR": str(tmp_path / "state")}, cwd=Path("/"))
    assert config.data_dir == tmp_path / "state"


def test_relative_paths_in_tuples_of_tables_are_under_the_data_directory(
        tmp_path: Path) -> None:
    config = parse_config({
        "service": {"data_dir": str(tmp_path)},
        "signer": {
            "dkim": {"keys": [{"domain": "binhthuan.gov.vn", "selector": "s1",
                               "key_file": "dkim/s1.pem"}]},
            "smime": {"trust_anchors": ["smime/ca.pem", "/etc/ssl/gov-ca.pem"],
                      "identities": [{"unit": "stc", "cert": "smime/stc.pem",
                                      "key": "smime/stc.key"}]},
        },
    })
    [key] = config.signer.dkim.keys
    assert key.key_file == tmp_path / "dkim" / "s1.pem"
    assert config.signer.smime.trust_anchors == (tmp_path / "smime" / "ca.pem",
                                                 Path("/etc/ssl/gov-ca.pem"))
    [identity] = config.signer.smime.identities
    assert (identity.cert, identity.key) == (tmp_path / "smime" / "stc.pem",
                                             tmp_path / "smime" / "stc.key")


def test_every_error_is_listed_with_its_key_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({
            "service": {"workers": 0, "hostnmae": "x"},
            "listeners": [{"name": "a", "role": "sideways", "port": 70000}],
            "limits": {"max_recipients": "many"},
            "no_such_table": {},
        })
    problems = "\n".join(caught.value.problems)
    for expected in (
        "service.workers:",
        "service.hostnmae: unknown key",
        "listeners.0.role:",
        "listeners.0.port:",
        "limits.max_recipients:",
        "no_such_table: unknown key",
    ):
        assert expected in problems
    assert len(caught.value.problems) == 6


def test_duplicate_listeners_are_refused() -> None:
    with pytest.raises(ConfigError, match="listener names must be unique"):
        parse_config({"listeners": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]})


def test_unreadable_and_non_toml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[service\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_config_check_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.toml"
    good.write_text(f'[service]\ndata_dir = "{tmp_path}/var"\n', encoding="utf-8")
    result = runner.invoke(main, ["config", "check", str(good)])
    assert (result.exit_code, "configuration is valid" in result.output) == (0, True)
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\nmax_recipients = 0\nbogus = 1\n", encoding="utf-8")
    result = runner.invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 2
    assert "limits.max_recipients" in result.output and "limits.bogus: unknown key" in result.output


def test_config_check_reports_an_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text(f'[service]\ndata_dir = "{blocker}/var"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert result.exit_code == 2
    assert "service.data_dir" in result.output and "not a directory" in result.output


def test_config_show_prints_every_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGVU_VAR", str(tmp_path / "v"))
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["source"] == "the embedded defaults ($CONGVU_CONFIG=none)"
    assert shown["service"]["data_dir"] == str(tmp_path / "v")
    assert shown["limits"]["max_message_size"] == 52_428_800
    assert set(shown) >= {"service", "listeners", "next_hop", "limits", "policies", "signer",
                          "directory", "audit"}


def test_example_file_in_deploy_is_valid_and_complete() -> None:
    example = ROOT / "deploy" / "congvu.toml"
    config = load_config(example)
    text = example.read_text(encoding="utf-8")
    for table in ("[service]", "[[listeners]]", "[next_hop]", "[limits]", "[pipeline]"):
        assert table in text
    # Every key of the service's own tables appears, commented or set.
    for section in ("service", "next_hop", "limits"):
        for key in type(getattr(config, section)).model_fields:
            assert f"{key} =" in text, f"deploy/congvu.toml does not mention {section}.{key}"


def test_pipeline_stages_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown stage"):
        parse_config({"pipeline": {"stages": ["units", "antivirus"]}})
    with pytest.raises(ConfigError, match="listed twice"):
        parse_config({"pipeline": {"stages": ["policy", "policy"]}})


@pytest.mark.slow
def test_config_check_and_serve_refuse_a_key_file_others_can_read(tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n")
    key.chmod(0o644)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[service]\ndata_dir = "{tmp_path}/var"\n'
        f'[[signer.dkim.keys]]\ndomain = "binhthuan.gov.vn"\nselector = "s1"\n'
        f'key_file = "{key}"\nalgorithm = "rsa-sha256"\n', encoding="utf-8")
    check = CliRunner().invoke(main, ["config", "check", str(config)])
    assert check.exit_code == 2
    assert "signer.dkim:" in check.output and str(key) in check.output
    assert not (tmp_path / "var").exists()  # config check changes nothing
    import subprocess
    import sys

    serve = subprocess.run([sys.executable, "-m", "congvu", "serve", "--config", str(config)],
                           capture_output=True, text=True, timeout=60)
    assert serve.returncode == 2
    assert "signer.dkim:" in serve.stderr and str(key) in serve.stderr


def test_a_broken_store_is_a_startup_error(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / "audit.sqlite3").write_bytes(b"this is not SQLite" * 100)
    config = tmp_path / "c.toml"
    config.write_text(f'[service]\ndata_dir = "{var}"\n', encoding="utf-8")
    check = CliRunner().invoke(main, ["config", "check", str(config)])
    assert check.exit_code == 2
    assert "audit.path:" in check.output
