"""Reason codes: each registry's every code reads in Vietnamese with the same parameters,
codes are unique across registries, and a stored reason renders again, nested reasons
included, or says it cannot (then the page shows the stored English)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mailbase import Catalogue, ReasonBook, ReasonCode
from policies import REASONS as POLICY_REASONS
from policies import REASONS_CATALOGUE as POLICY_CATALOGUE
from signer import REASONS as SIGNER_REASONS
from signer import REASONS_CATALOGUE as SIGNER_CATALOGUE

REGISTRIES = [("policies", POLICY_CATALOGUE, POLICY_REASONS),
              ("signer", SIGNER_CATALOGUE, SIGNER_REASONS)]

OUTER = ReasonCode("test.at", "{reason} (at {member})")
INNER = ReasonCode("test.name", "the name {name} ends in .{ext}")


@pytest.mark.parametrize(("package", "catalogue", "codes"), REGISTRIES,
                         ids=[r[0] for r in REGISTRIES])
def test_every_code_has_its_vietnamese_with_the_same_parameters(
        package: str, catalogue: Catalogue, codes: tuple[ReasonCode, ...]) -> None:
    vi = catalogue.translation("vi")
    book = ReasonBook([(catalogue, codes)])
    for code in codes:
        # a template with words of its own has Vietnamese ones ("{what}: {detail}" has none)
        if re.search(r"[^\W\d_]", re.sub(r"\{\w+\}", "", code.template)):
            assert vi.gettext(code.template) != code.template, code.code
        params = {name: f"<{name}>" for name in code.params}
        shown = book.render({"code": code.code, "params": params}, "vi")
        assert shown is not None, code.code
        assert all(f"<{name}>" in shown for name in code.params), (code.code, shown)


def test_codes_are_unique_across_registries() -> None:
    ReasonBook([(c, codes) for _, c, codes in REGISTRIES])  # raises on a code used twice
    with pytest.raises(ValueError, match=r"name\.blocked-extension"):
        ReasonBook([(POLICY_CATALOGUE, POLICY_REASONS[:1]), (POLICY_CATALOGUE,
                                                             POLICY_REASONS[:1])])


def test_a_producer_must_give_exactly_the_named_parameters() -> None:
    with pytest.raises(TypeError, match=r"test.name takes \['ext', 'name'\]"):
        INNER(name="a.exe")
    with pytest.raises(TypeError):
        INNER(name="a.exe", ext="exe", extra="x")


def test_the_english_and_the_stored_form_of_a_nested_reason() -> None:
    reason = OUTER(reason=INNER(name="'a.exe'", ext="exe"), member="docs/a.exe")
    assert reason.text == str(reason) == "the name 'a.exe' ends in .exe (at docs/a.exe)"
    assert reason.as_json() == {"code": "test.at", "params": {
        "reason": {"code": "test.name", "params": {"name": "'a.exe'", "ext": "exe"}},
        "member": "docs/a.exe"}}


def _catalogue(tmp_path: Path, entries: str) -> Catalogue:
    po = tmp_path / "vi" / "LC_MESSAGES" / "test.po"
    po.parent.mkdir(parents=True)
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
                  + entries, encoding="utf-8")
    return Catalogue(tmp_path, "test")


def test_a_stored_reason_renders_in_each_language_its_values_shown_as_data(
        tmp_path: Path) -> None:
    book = ReasonBook([(_catalogue(tmp_path, 'msgid "{reason} (at {member})"\n'
                                   'msgstr "{reason} (tại {member})"\n\n'
                                   'msgid "the name {name} ends in .{ext}"\n'
                                   'msgstr "tên tệp {name} có đuôi .{ext}"\n'),
                        (OUTER, INNER))])
    stored = OUTER(reason=INNER(name="<b>.exe", ext="exe"), member="d/a").as_json()
    assert book.render(stored, "vi") == "tên tệp <b>.exe có đuôi .exe (tại d/a)"
    assert book.render(stored, "en") == "the name <b>.exe ends in .exe (at d/a)"
    marked = book.render(stored, "vi", value=lambda v: f"[{v}]", text=str.upper)
    assert marked == "TÊN TỆP [<b>.exe] CÓ ĐUÔI .[exe] (TẠI [d/a])"


def test_what_cannot_be_rendered_is_said_so(tmp_path: Path) -> None:
    # a Vietnamese entry that lost a parameter is not used: the English template is
    book = ReasonBook([(_catalogue(tmp_path, 'msgid "the name {name} ends in .{ext}"\n'
                                   'msgstr "tên tệp có đuôi .{ext}"\n'), (INNER,))])
    assert book.render(INNER(name="a", ext="exe").as_json(), "vi") == "the name a ends in .exe"
    assert book.render({"code": "test.unknown", "params": {}}, "vi") is None
    assert book.render({"code": "test.name", "params": {"name": "a"}}, "vi") is None
    assert book.render({"code": "test.name", "params": None}, "vi") is None
    nested_unknown = {"code": "test.name", "params": {
        "name": {"code": "test.unknown", "params": {}}, "ext": "x"}}
    assert book.render(nested_unknown, "vi") is None
    assert "test.name" in book and "test.unknown" not in book
