"""The crafted corpus: each message gets the decision make_corpus.py expects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policies import Action, Policy, decide

from .conftest import corpus_module

CASES = sorted(corpus_module.CASES)


@pytest.mark.parametrize("case", CASES)
def test_default_policy_decides_as_expected(case: str, corpus: Path,
                                            default_policy: Policy) -> None:
    expected = json.loads((corpus / "expected.json").read_text())[case]
    decision = decide((corpus / f"{case}.eml").read_bytes(), default_policy)
    rules = {v.rule for v in decision.violations}
    assert decision.action == Action(expected["action"]), decision.violations
    assert set(expected["rules"]) <= rules, decision.violations
    if decision.action is Action.ACCEPT:
        assert decision.violations == ()
    for violation in decision.violations:
        assert violation.reason


def test_every_evasion_and_clean_case_is_in_the_corpus() -> None:
    clean = [c for c in CASES if c.startswith(("clean-", "signed-"))]
    assert {"clean-vn-rfc2231", "clean-vn-rfc2047", "signed-docx", "signed-xlsx",
            "signed-pdf"} <= set(clean)
    assert len(CASES) - len(clean) > 60


def test_archive_members_carry_their_path(corpus: Path, default_policy: Policy) -> None:
    decision = decide((corpus / "exe-in-nested-zip.eml").read_bytes(), default_policy)
    members = {v.member for v in decision.violations if v.rule == "blocked-type"}
    assert members == {"level2.zip/level1.zip/level0.zip/x.pdf"}
    assert all(v.part == "2" for v in decision.violations)
