"""The reply catalogue: each name carries its code, each enhanced code its class."""

from __future__ import annotations

import re

import pytest

from milter import replies
from milter.replies import Reply

CATALOGUE = {
    name: value for name, value in vars(replies).items() if isinstance(value, Reply)
}


def test_catalogue_is_not_empty() -> None:
    assert len(CATALOGUE) > 20


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_name_matches_code_and_enhanced_class(name: str) -> None:
    reply = CATALOGUE[name]
    match = re.fullmatch(r"R(\d{3})_[A-Z0-9_]+", name)
    assert match, f"{name} does not follow R<code>_<WHAT>"
    assert int(match.group(1)) == reply.code
    if reply.enhanced:  # RFC 3463: the class digit equals the reply's first digit
        assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", reply.enhanced)
        assert reply.enhanced[0] == str(reply.code)[0]
    assert reply.text and "\r" not in reply.text and "\n" not in reply.text
