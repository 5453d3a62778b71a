"""docs/policies.md stays true: every rule, action and setting of the code has its
section with a worked example, each rule's stated default is the built-in one, no
section names something the code does not have, and every configuration example in
it is valid configuration."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from policies import DEFAULT_ACTIONS, REGISTRY, Action, PoliciesConfig
from policies.config import DEFAULT_INBOUND_ACTIONS, LimitsConfig, Override, QuarantineConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
TEXT = DOC.read_text(encoding="utf-8")


def _chapter(title: str) -> str:
    start = TEXT.index(f"\n## {title}\n")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start:end if end > 0 else None]


def _sections(chapter: str) -> dict[str, str]:
    """``### `name``` heading -> its text, in order."""
    parts = re.split(r"^### `([^`]+)`\n", _chapter(chapter), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_rule_has_its_section_in_the_registrys_order() -> None:
    assert list(_sections("Rules")) == list(REGISTRY)


@pytest.mark.parametrize("rule", list(REGISTRY))
def test_each_rule_states_its_built_in_default_and_has_an_example(rule: str) -> None:
    section = _sections("Rules")[rule]
    stated = re.search(r"^Default: \*\*(\w+)\*\*(?:; inbound: \*\*(\w+)\*\*)?", section,
                       flags=re.MULTILINE)
    assert stated, f"{rule}: no 'Default: **action**' line"
    assert stated.group(1) == DEFAULT_ACTIONS[rule].value
    inbound = DEFAULT_INBOUND_ACTIONS.get(rule)
    assert stated.group(2) == (inbound.value if inbound else None)
    assert "Example" in section, rule
    row = re.search(rf"^\| \[`{re.escape(rule)}`\]\(#{re.escape(rule)}\) \|.*\| (.+) \|$",
                    _chapter("Rules"), flags=re.MULTILINE)
    assert row and row.group(1).startswith(DEFAULT_ACTIONS[rule].value), rule


def test_every_action_has_its_section_with_an_example() -> None:
    sections = _sections("Actions")
    assert list(sections) == [a.value for a in Action]
    assert all("Example" in text for text in sections.values())


def test_every_per_unit_setting_has_its_section_with_an_example() -> None:
    sections = _sections("Per-unit settings")
    assert set(sections) == set(Override.model_fields)
    assert all("Example" in text for text in sections.values()), sections.keys()


def test_every_province_wide_setting_is_described() -> None:
    chapter = _chapter("Province-wide settings")
    only_top = set(PoliciesConfig.model_fields) - set(Override.model_fields) - {"overrides"}
    assert only_top == {"tag_header", "limits", "quarantine"}
    for name in ("tag_header", "[policies.limits]", "[policies.quarantine]",
                 *LimitsConfig.model_fields, *QuarantineConfig.model_fields):
        assert f"`{name}`" in chapter, name


def _examples() -> list[str]:
    return re.findall(r"^```toml\n(.*?)^```$", TEXT, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("example", _examples())
def test_every_configuration_example_is_valid(example: str) -> None:
    data = tomllib.loads(example)
    assert set(data) == {"policies"}, example
    PoliciesConfig.model_validate(data["policies"])


def test_there_are_examples_and_a_wrong_one_would_fail() -> None:
    assert len(_examples()) >= 25
    with pytest.raises(ValidationError, match=r"docs/policies\.md describes each"):
        PoliciesConfig.model_validate({"overrides": [{"unit": "x", "actions": {"macros": "tag"}}]})
