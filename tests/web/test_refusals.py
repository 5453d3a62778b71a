"""The refusal codes of the console's users and grants: each one unique, translated, its
values kept, and said in either language."""

from __future__ import annotations

import string

from directory import problems
from web import refusals
from web.catalogue import CATALOGUE
from web.reasons import BOOK


def fields(template: str) -> set[str]:
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


def test_every_code_is_unique_and_has_a_vietnamese_text_with_the_same_values() -> None:
    codes = [refusal.code for refusal in refusals.REFUSALS]
    assert len(codes) == len(set(codes)) and len(codes) > 20
    assert all(code in BOOK for code in codes)  # the pages' book holds them too
    vi = CATALOGUE.translation("vi")
    for refusal in refusals.REFUSALS:
        said = vi.gettext(refusal.template)
        # a path and the directory's reason have no words of their own to translate
        assert said != refusal.template or refusal.code == "grant.directory-store", refusal.code
        assert fields(said) == fields(refusal.template), refusal.code


def test_a_refusal_with_the_directorys_inside_is_said_in_one_language() -> None:
    refused = refusals.UNIT_UNCHECKED(unit="stc", problem=refusals.DIRECTORY_STORE(
        path="/var/lib/congvu/directory.sqlite3", problem=problems.STORE_MISSING()))
    assert BOOK.render(refused.as_json(), "vi") == (
        "không kiểm tra được đơn vị 'stc': /var/lib/congvu/directory.sqlite3: chưa có kho "
        "danh bạ; hãy nhập một tệp CSV trước")
    assert BOOK.render(refused.as_json(), "en") == refused.text == (
        "cannot check unit 'stc': /var/lib/congvu/directory.sqlite3: no such directory "
        "store; import a CSV file first")
