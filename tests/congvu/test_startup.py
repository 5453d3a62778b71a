"""What a ``congvu`` command imports before it does its work: its own package, not all.

``--help`` and reading the configuration import none of the libraries the work needs
(DKIM, cryptography, PostgreSQL, SMTP, the web framework, the SQLite helpers, PDF); the
root's table of sub-commands (congvu/cli.py ``SUBCOMMANDS``) lists them without
importing them, and says of each what its own help says.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from test_cli_docs import COMMANDS

from congvu.cli import SUBCOMMANDS, main
from milter.stages import STAGES

ROOT = Path(__file__).resolve().parents[2]
#: Libraries only some commands' work needs: importing one on the way to any command
#: made every command pay for it (about two seconds of CPU per command, before).
HEAVY = ("aiosmtpd", "argon2", "asn1crypto", "cryptography", "dkim", "dns", "fastapi",
         "imapclient", "jinja2", "nacl", "openpyxl", "psycopg", "pyhanko", "pypdf",
         "sqlite_utils", "starlette", "uvicorn")
PACKAGES = ["congvu", "milter", "policies", "directory", "signer", "signer.documents",
            "signer.smime", "audit", "archive", "mailbase", "web"]

# run in a fresh interpreter: prints the JSON of the command's output and what it imported
_RUN = """
import json, sys
from click.testing import CliRunner
from congvu.cli import main
result = CliRunner().invoke(main, sys.argv[1:], prog_name="congvu")
print(json.dumps({"exit_code": result.exit_code, "output": result.stdout,
                  "modules": sorted(sys.modules)}))
"""


def _run(*args: str) -> tuple[int, str, set[str]]:
    done = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True,
                          text=True, check=True, cwd=ROOT)
    found = json.loads(done.stdout)
    return found["exit_code"], found["output"], set(found["modules"])


def _heavy(modules: set[str]) -> list[str]:
    return sorted({name.split(".")[0] for name in modules} & set(HEAVY))


def test_help_lists_every_command_and_imports_none_of_them() -> None:
    code, output, modules = _run("--help")
    assert code == 0
    listed = output.split("Commands:\n")[1].splitlines()
    assert [line.split()[0] for line in listed] == sorted(SUBCOMMANDS)
    assert _heavy(modules) == []
    assert "pydantic" not in modules  # --help reads no configuration
    assert not {"milter.cli", "audit.cli", "signer.cli", "web.cli"} & modules


@pytest.mark.slow
def test_reading_the_configuration_imports_only_its_models() -> None:
    code, output, modules = _run("config", "show", "--config",
                                 str(ROOT / "deploy" / "congvu.toml"))
    assert code == 0, output
    assert json.loads(output)["source"].startswith(str(ROOT))
    assert _heavy(modules) == []
    # the [probe] table's model is read, not the probe: it alone talks SMTP and TLS
    assert not {"milter.probe", "smtplib", "ssl"} & modules


@pytest.mark.slow
def test_a_command_imports_its_own_package_not_the_others() -> None:
    code, _, modules = _run("directory", "--help")
    assert code == 0
    assert "directory.cli" in modules
    assert not {"audit.cli", "signer.cli", "web.cli", "archive.cli", "milter.cli"} & modules


#: The modules each operating command's work needs, imported only when that one runs
#: (milter.probe is not among them: it holds the [probe] table's model, configuration).
_OPERATING_WORK = {"milter.backup", "milter.doctor", "milter.quarantine", "policies.engine",
                   "policies.held", "policies.pgquarantine"}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["doctor", "probe", "backup", "restore", "quarantine"])
def test_an_operating_command_s_help_imports_none_of_their_work(command: str) -> None:
    # the deployment guide runs dozens of these: each used to import about 900 modules
    code, output, modules = _run(command, "--help")
    assert code == 0, output
    assert _heavy(modules) == []
    assert _OPERATING_WORK & modules == set()


@pytest.mark.slow
@pytest.mark.parametrize(("group", "others"), [
    ("dkim", ("smime", "document", "document_trust", "auth")),
    ("smime", ("dkim", "document", "document_trust", "auth")),
    ("auth", ("dkim", "smime", "document", "document_trust")),
])
def test_a_signer_group_is_built_without_the_others(group: str,
                                                    others: tuple[str, ...]) -> None:
    code, output, modules = _run(group, "--help")
    assert code == 0, output
    assert f"signer.cli.{group}" in modules
    assert {f"signer.cli.{name}" for name in others} & modules == set()
    assert not {"pyhanko", "pypdf"} & modules
    # of the documents' package, only what the configuration and the wiring name
    assert _under("signer.documents", modules) <= {"config", "result", "roles"}
    # each group's commands import their work when they run: CMS, keys, signing,
    # verifying, DNS, the shared rotation state
    assert _under("signer.smime", modules) <= {"config"}
    assert not {"signer.dkim", "signer.dkim_verify", "signer.dkim_rotation", "signer.dns",
                "signer.keys", "signer.rotation_store", "signer.authcheck", "signer.trust",
                "asn1crypto", "dkim", "dns", "nacl", "psycopg"} & modules


def _under(package: str, modules: set[str]) -> set[str]:
    return {name.removeprefix(package + ".") for name in modules
            if name.startswith(package + ".")}


def _eager_help() -> str:
    """``congvu --help`` as a group holding every command, all imported, prints it."""
    ctx = click.Context(main)
    eager = click.Group(main.name, help=main.help, params=main.params,
                        context_settings=main.context_settings)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None, name
        eager.add_command(command, name)
    return CliRunner().invoke(eager, ["--help"], prog_name="congvu").output


def test_the_table_says_what_each_command_s_own_help_says() -> None:
    code, lazy_help, _ = _run("--help")
    assert code == 0
    assert lazy_help == _eager_help()
    ctx = click.Context(main)
    for name, entry in SUBCOMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
        # the first sentence of its help, the line --help shows whatever its width
        assert entry.summary == command.get_short_help_str(1000), name


def test_every_command_of_the_tree_answers_its_help() -> None:
    runner = CliRunner()
    paths = [path for path, _ in COMMANDS]  # the tree as each group looks its commands up
    assert len(paths) > len(SUBCOMMANDS)  # the groups' commands are walked too
    for path in paths:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith("Usage: "), path


def test_an_unknown_command_is_a_usage_error_naming_it() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_s_exported_names_are_not_its_modules(package: str) -> None:
    # a submodule's import sets the package attribute of its name, which would hide a
    # lazily exported name of the same spelling
    module = importlib.import_module(package)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert submodules & set(module.__all__) == set()
    assert set(module.__all__) <= set(dir(module))


def test_each_stage_row_names_its_class_and_the_class_s_kind() -> None:
    for row in STAGES:
        assert row.stage.kind is row.kind, row.name
        assert row.module == row.stage.__module__.replace(".", "/") + ".py"
