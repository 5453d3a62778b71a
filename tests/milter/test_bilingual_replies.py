"""Every SMTP reply congvu writes says it in Vietnamese without diacritics, then in
English, in ASCII, within RFC 5321's line (512 octets with the CRLF; a multi-line
reply where one line cannot hold both), its codes kept.

"Every reply": each one of milter/replies.py's catalogue, each as the stages and the
handler build it with what it quotes, and the policies' refusal; and a reading of the
code that finds no reply text written anywhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mailbase import REPLY_SEPARATOR, reply_text
from milter import replies
from milter.errors import NextHopError
from milter.replies import Reply

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = {name: value for name, value in vars(replies).items() if isinstance(value, Reply)}
LINE = re.compile(r"(\d{3})([- ])(?:(\d\.\d{1,3}\.\d{1,3}) )?([ -~]*)")
LONG = "x" * 600


def lines_of(reply: Reply) -> list[str]:
    wire = str(reply)
    assert wire.isascii(), wire
    return wire.split("\r\n")


def check(reply: Reply) -> None:
    """ASCII, each line RFC 5321's, the same codes on each, both languages said."""
    lines = lines_of(reply)
    for number, line in enumerate(lines, 1):
        match = LINE.fullmatch(line)
        assert match, line
        assert len(line.encode()) + 2 <= 512
        assert (int(match[1]), match[3] or "") == (reply.code, reply.enhanced)
        assert match[2] == ("-" if number < len(lines) else " ")
    said = " ".join(LINE.fullmatch(line)[4] for line in lines)  # type: ignore[index]
    if len(lines) == 1:
        vi, separator, en = said.partition(REPLY_SEPARATOR)
        assert separator and vi and en, said
    # Vietnamese first: the words of the catalogue's Vietnamese, never English's
    assert said.split()[0] not in ("Message", "Next", "Temporary", "Too")


#: each reply as the code that sends it builds it, with what it quotes
BUILT = {
    **{name: reply for name, reply in CATALOGUE.items()},
    "relayed": replies.R250_QUEUED.detailed("250 2.0.0 Ok: queued as 4Xyz"),
    "held": replies.R250_QUARANTINED.detailed("20261207T101010-abcdef"),
    "tempfail with id": replies.R451_TEMPFAIL.detailed("id 0123456789ab"),
    "next hop 4xx": replies.for_next_hop(NextHopError(421, "4.3.2", "Shutting down")),
    "dsn syntax": replies.R501_DSN_SYNTAX.detailed("bad NOTIFY value: SOMETIMES"),
    "forged sender": replies.R550_SENDER_REFUSED.detailed(
        "From claims a province domain; SPF fail; the domain explains: go away"),
    "policy": replies.R550_POLICY.with_text(reply_text(
        "Thu bi tu choi theo chinh sach", "Message refused by policy",
        "double-extension: bao-cao.pdf.exe")),
    "long quote": replies.R550_POLICY.detailed(LONG),
    "non-ascii quote": replies.R550_NO_SMIME_IDENTITY.detailed("no identity for tệp@x.vn"),
}


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_reply_is_ascii_bilingual_and_fits_rfc_5321(name: str) -> None:
    check(BUILT[name])


def test_a_reply_too_long_for_one_line_says_each_language_on_a_line_of_its_own() -> None:
    reply = replies.R550_POLICY.detailed(LONG)
    first, last = lines_of(reply)
    assert first == "550-5.7.1 Thu bi tu choi theo chinh sach"
    assert last.startswith("550 5.7.1 Message refused by policy (xxx") and last.endswith("...")


def test_what_a_reply_quotes_comes_once_after_both_languages() -> None:
    assert str(replies.R250_QUARANTINED.detailed("Q1")) == (
        "250 2.0.0 Thu da duoc nhan va dang bi cach ly / Message accepted and held in "
        "quarantine (Q1)")
    assert str(replies.R550_POLICY.detailed("a\r\n250 ok")) == (
        "550 5.7.1 Thu bi tu choi theo chinh sach / Message refused by policy (a  250 ok)")


def test_a_reply_text_must_be_ascii_in_both_languages() -> None:
    with pytest.raises(ValueError, match="Vietnamese text must be printable ASCII"):
        reply_text("Thư bị từ chối", "Message refused")
    with pytest.raises(ValueError, match="English text"):
        reply_text("Thu bi tu choi", "")


def _reply_texts_written_outside_the_catalogue() -> list[str]:
    """Each place under milter/ and policies/ that writes a reply's text itself: a
    string given to ``with_text`` or ``Reply(...)``, or pushed to the client."""
    found = []
    for path in [*ROOT.glob("milter/**/*.py"), *ROOT.glob("policies/**/*.py")]:
        if path.name == "replies.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = (node.func.attr if isinstance(node.func, ast.Attribute)
                    else getattr(node.func, "id", ""))
            if name in ("with_text", "push") and node.args and isinstance(
                    node.args[0], ast.Constant | ast.JoinedStr):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if name == "Reply" and len(node.args) == 3 and isinstance(
                    node.args[2], ast.Constant | ast.JoinedStr):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_reply_text_is_written_outside_the_catalogue() -> None:
    assert _reply_texts_written_outside_the_catalogue() == []
