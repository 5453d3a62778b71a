"""One rule for which configuration every command reads: --config, else $CONGVU_CONFIG
(none: the embedded defaults), else /etc/congvu/congvu.toml when it exists, else the
embedded defaults; a file that cannot be read is an error, never a fallback."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from congvu import configsource
from congvu.cli import main
from congvu.configsource import ConfigSource, find_config


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /etc/congvu/congvu.toml (the tests never touch /etc)."""
    path = tmp_path / "etc" / "congvu.toml"
    path.parent.mkdir()
    path.write_text('[service]\nhostname = "from-etc.example"\n', encoding="utf-8")
    monkeypatch.setattr(configsource, "SYSTEM_CONFIG", path)
    monkeypatch.delenv("CONGVU_CONFIG")
    return path


def _write(path: Path, hostname: str) -> Path:
    path.write_text(f'[service]\nhostname = "{hostname}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize(("explicit", "env", "has_system", "expected"), [
    ("f.toml", "e.toml", True, ConfigSource(Path("f.toml"), "--config")),
    (None, "e.toml", True, ConfigSource(Path("e.toml"), "$CONGVU_CONFIG")),
    (None, "none", True, ConfigSource(None, "$CONGVU_CONFIG=none")),
    (None, " NONE ", True, ConfigSource(None, "$CONGVU_CONFIG=none")),
    (None, "", True, ConfigSource(Path("SYSTEM"), "the system file")),
    (None, None, False, None),
])
def test_the_order_of_the_sources(tmp_path: Path, explicit: str | None, env: str | None,
                                  has_system: bool, expected: ConfigSource | None) -> None:
    system = tmp_path / "congvu.toml"
    if has_system:
        system.write_text("", encoding="utf-8")
    environ = {} if env is None else {"CONGVU_CONFIG": env}
    found = find_config(Path(explicit) if explicit else None, environ=environ, system=system)
    if expected is None:
        assert (found.path, found.how) == (None, f"no --config, no $CONGVU_CONFIG, no {system}")
    elif expected.path == Path("SYSTEM"):
        assert found == ConfigSource(system, "the system file")
    else:
        assert found == expected


def _show(*args: str) -> tuple[dict, list[str]]:
    result = CliRunner().invoke(main, ["config", "show", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr.splitlines()


def test_the_system_file_is_read_when_nothing_else_is_named(system: Path) -> None:
    shown, stderr = _show()
    assert shown["service"]["hostname"] == "from-etc.example"
    assert shown["source"] == f"{system} (the system file)"
    assert stderr.count(f"congvu: configuration: {system} (the system file)") == 1


def test_congvu_config_none_ignores_the_system_file(system: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # what make test, make run and this suite set: a server's /etc file changes nothing
    monkeypatch.setenv("CONGVU_CONFIG", "none")
    shown, _ = _show()
    assert shown["service"]["hostname"] == "localhost"
    assert shown["source"] == "the embedded defaults ($CONGVU_CONFIG=none)"


def test_the_variable_and_the_option_name_other_files(system: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGVU_CONFIG", str(_write(tmp_path / "env.toml", "from-env.example")))
    assert _show()[0]["service"]["hostname"] == "from-env.example"
    option = _write(tmp_path / "opt.toml", "from-option.example")
    shown, _ = _show("--config", str(option))
    assert (shown["service"]["hostname"], shown["source"]) == (
        "from-option.example", f"{option} (--config)")
    assert _show("--defaults")[0]["source"] == "the embedded defaults (--defaults)"


def test_a_system_file_that_cannot_be_read_is_an_error_not_a_fallback(
        system: Path) -> None:
    system.unlink()
    system.mkdir()  # exists, cannot be read as a file (even by root)
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 2
    assert str(system) in result.output
    assert f"cannot be read by user {getpass.getuser()} (chosen by the system file)" \
        in result.output
    assert '"hostname"' not in result.stdout  # no silent defaults


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGVU_CONFIG", str(tmp_path / "missing.toml"))
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 2
    assert "missing.toml" in result.output and "cannot read the file" in result.output


def test_config_check_without_a_file_checks_the_file_every_command_reads(
        system: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{system}: configuration is valid\n"
    system.write_text("[service]\nno_such_key = 1\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["config", "check"])
    assert result.exit_code == 2
    assert "service.no_such_key" in result.output


def test_each_command_names_its_source_once(tmp_path: Path) -> None:
    option = _write(tmp_path / "once.toml", "once.example")
    result = CliRunner().invoke(main, ["audit", "query", "--config", str(option)])
    lines = [line for line in result.stderr.splitlines()
             if line.startswith("congvu: configuration: ")]
    assert lines == [f"congvu: configuration: {option} (--config)"]
