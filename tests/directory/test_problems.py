"""The problem codes of imports and merges: each one unique, translated, its values kept."""

from __future__ import annotations

import string

from directory import problems
from directory.words import problem_text, translation


def fields(template: str) -> set[str]:
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


def test_every_code_is_unique_and_has_a_vietnamese_text_with_the_same_values() -> None:
    codes = [problem.code for problem in problems.PROBLEMS]
    assert len(codes) == len(set(codes)) and len(codes) > 70
    vi = translation("vi")
    for problem in problems.PROBLEMS:
        said = vi.gettext(problem.template)
        assert said != problem.template or problem.code == "merge.prefix-invalid", problem.code
        assert fields(said) == fields(problem.template), problem.code


def test_a_problem_is_said_in_either_language_with_its_values_as_data() -> None:
    taken = problems.ADDRESS_TAKEN(address="STC@laocai.gov.vn", unit="stc", line=3)
    assert problem_text(taken, translation("vi")) == (
        "STC@laocai.gov.vn đã là địa chỉ của 'stc' (dòng 3)")
    assert problem_text(taken, translation("en")) == taken.text == (
        "STC@laocai.gov.vn is already an address of 'stc' (line 3)")


def test_a_problem_inside_another_is_said_in_the_same_language() -> None:
    inner = problems.ID_TOO_LONG(limit=64)
    outer = problems.PREFIX_INVALID(prefix="p", problem=inner)
    assert problem_text(outer, translation("vi")) == "--prefix 'p': mã dài quá 64 ký tự"
    assert problem_text(outer, translation("en")) == (
        "--prefix 'p': the id is longer than 64 characters")
    assert outer.as_json() == {"code": "merge.prefix-invalid", "params": {
        "prefix": "p", "problem": {"code": "id.too-long", "params": {"limit": 64}}}}
