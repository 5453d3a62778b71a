"""The root command's one error mapper: what no command converted becomes exit code 1 or
2 with one message on stderr, never a traceback."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from congvu.cli import EXIT_CODES, exit_code, main
from milter.errors import ConfigError, MilterError
from web.errors import WebError

CAPABILITIES = ["policies", "directory", "signer", "audit"]


def _kind(name: str) -> type[Exception]:
    module, _, kind = name.rpartition(".")
    found = getattr(importlib.import_module(module), kind)
    assert isinstance(found, type) and issubclass(found, Exception), name
    return found


def _root(package: str) -> type[Exception]:
    errors = importlib.import_module(f"{package}.errors")
    [root] = [value for value in vars(errors).values()
              if isinstance(value, type) and issubclass(value, Exception)
              and value.__module__ == errors.__name__ and value.__bases__ == (Exception,)]
    return root


@pytest.mark.parametrize("package", CAPABILITIES)
def test_every_capability_package_root_error_has_an_exit_code(package: str) -> None:
    assert exit_code(_root(package)("x")) in (1, 2)


def test_the_service_the_console_and_the_configuration_have_theirs() -> None:
    assert exit_code(ConfigError("c.toml", ["service.workers: too many"])) == 2
    assert exit_code(MilterError("the next hop refused")) == 1
    assert exit_code(WebError("the users store refused")) == 1


def test_a_subclass_is_mapped_before_its_root() -> None:
    # audit's QueryError (bad filters: usage) is an AuditError (the store: 1)
    import audit

    assert exit_code(audit.QueryError("since", "yesterday", "not a date")) == 2
    assert exit_code(audit.AuditError("the store is locked")) == 1
    kinds = [_kind(name) for name, _ in EXIT_CODES]  # each names an exception class
    for index, kind in enumerate(kinds):
        assert not any(issubclass(kind, earlier) for earlier in kinds[:index]), (
            f"{kind.__name__} comes after one of its bases and is never reached")


def test_an_error_of_no_package_is_not_mapped() -> None:
    # a bug keeps its traceback: the mapper hides only what an administrator can fix
    assert exit_code(ValueError("a bug")) is None
    assert exit_code(KeyError("a bug")) is None


def test_an_unconverted_error_is_one_line_on_stderr(tmp_path: Path) -> None:
    # backup raises BackupError (a MilterError) and converts nothing itself
    out = tmp_path / "out"
    out.mkdir()
    (out / "something").write_text("", encoding="utf-8")
    config = tmp_path / "c.toml"
    config.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["backup", str(out), "--config", str(config)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"congvu: configuration: {config} (--config)",
        f"Error: {out} exists and is not an empty directory; back up into a new one"]
    assert isinstance(result.exception, SystemExit)  # exited, did not crash
