"""The reply catalogue: each name carries its code, each enhanced code its class."""

from __future__ import annotations

import re

import pytest

from milter import replies
from milter.errors import NextHopError
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


def test_a_text_is_made_one_line_of_printable_characters() -> None:
    reply = replies.R550_POLICY.with_text("refused: x\r\n250 2.0.0 OK\r\n.exe\x00\tend")
    assert str(reply) == f"550 {reply.enhanced} refused: x  250 2.0.0 OK  .exe  end"
    short = "Thư bị từ chối: tệp công văn.exe"
    assert replies.R550_POLICY.with_text(short).text == short  # printable text kept as is


@pytest.mark.parametrize("filler", ["a", "ệ"])
def test_a_long_text_is_cut_to_rfc_5321s_line_without_splitting_a_character(
        filler: str) -> None:
    reply = replies.R550_POLICY.with_text("reason: " + filler * 600)
    line = str(reply).encode("utf-8") + b"\r\n"
    assert len(line) == 512 if filler == "a" else 510 <= len(line) <= 512
    assert reply.text.endswith(filler + "...")
    fits = "b" * (510 - len(f"550 {replies.R550_POLICY.enhanced} "))
    assert replies.R550_POLICY.with_text(fits).text == fits  # exactly full: not cut


def test_a_next_hops_refusal_over_several_lines_is_passed_back_as_one() -> None:
    reply = replies.for_next_hop(NextHopError(550, "5.1.1", "No such user\nhere, sorry"))
    assert str(reply) == "550 5.1.1 No such user here, sorry"
