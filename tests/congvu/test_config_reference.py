"""The configuration reference (docs/configuration.md) and `congvu config show --defaults`."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from congvu.cli import main
from congvu.reference import keys, reference, tables

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "configuration.md"
EXAMPLE = ROOT / "deploy" / "congvu.toml"


def test_the_committed_reference_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == reference(), (
        "docs/configuration.md is out of date: run `make docs` and commit it")


def test_every_option_has_a_description_and_a_default() -> None:
    missing = [f"{table.path}.{option.key}" for table in tables() for option in table.options
               if not option.description or not option.default]
    assert missing == []


def _example_keys(table: Mapping[str, Any], prefix: str, options: set[str]) -> Iterator[str]:
    """Each key the example sets, as a dotted path; a table-valued option is one key."""
    for name, value in table.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        if path in options:
            continue
        if isinstance(value, dict):
            yield from _example_keys(value, path, options)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                yield from _example_keys(item, path, options)


def test_every_key_of_the_example_is_in_the_reference() -> None:
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    documented = keys()
    options = {f"{t.path}.{o.key}" for t in tables() for o in t.options}
    found = set(_example_keys(example, "", options))
    assert found, "the example configuration sets nothing"
    assert sorted(found - documented) == []


_HEADER = re.compile(r"^\s*#?\s*\[\[?([A-Za-z0-9_.-]+)\]\]?\s*$")
_COMMENTED_KEY = re.compile(r"^\s*#\s*([A-Za-z0-9_-]+)\s*=")


def test_every_commented_out_key_of_the_example_is_in_the_reference() -> None:
    # "# workers = 2" under [service] shows an option to uncomment: it must exist too.
    table, found = "", set()
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if header := _HEADER.match(line):
            table = header.group(1)
        elif key := _COMMENTED_KEY.match(line):
            found.add(f"{table}.{key.group(1)}" if table else key.group(1))
    assert found
    assert sorted(found - keys()) == []


def test_the_reference_walks_nested_and_array_tables() -> None:
    headings = [table.heading for table in tables()]
    for expected in ("[service]", "[[listeners]]", "[[pipeline.add_headers]]",
                     "[[policies.overrides]]", "[policies.quarantine]", "[signer.dkim]",
                     "[[signer.dkim.keys]]", "[[signer.smime.identities]]", "[signer.auth]",
                     "[audit]", "[probe]"):
        assert expected in headings


def test_the_reference_command_writes_the_same_text(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    result = CliRunner().invoke(main, ["config", "reference", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == reference()


@pytest.mark.parametrize("extra", [[], ["--config", str(EXAMPLE)]])
def test_show_defaults_prints_the_built_in_policy(extra: list[str], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONGVU_VAR", str(tmp_path))
    result = CliRunner().invoke(main, ["config", "show", "--defaults", *extra])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    policies = shown["policies"]
    assert policies["actions"]["blocked-extension"] == "reject"
    assert policies["max_attachments"] == 50
    assert "exe" in policies["blocked_extensions"]
    assert policies["reject_text_en"].startswith("Message rejected")
    # --defaults ignores the file: the example's listeners are not the embedded one.
    assert [listener["name"] for listener in shown["listeners"]] == ["filter"]
