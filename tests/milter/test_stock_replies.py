"""The replies aiosmtpd writes by itself come out in Vietnamese without diacritics, then
English, ASCII, within RFC 5321's line, their codes kept: each text its source can push
(read from the pinned aiosmtpd's own smtp.py), and a representative set of them from a
started filter over a real socket, on the listener before the queue and the one after."""

from __future__ import annotations

import ast
import inspect
import re

import aiosmtpd.smtp
import pytest

from milter.refusals import parse_reply
from milter.stockreplies import in_both_languages
from support.rawsmtp import Raw

LINE = re.compile(r"(\d{3})([- ])(?:(\d\.\d{1,3}\.\d{1,3}) )?([ -~]*)")
#: what stands for a value aiosmtpd formats into a text (a command, an argument...)
VALUE = "X"
#: lines aiosmtpd pushes that are no words: EHLO's list of keywords, an AUTH challenge
NOT_WORDS = re.compile(r"250-|250 HELP$|334 ")


def _texts_pushed_by_aiosmtpd() -> set[str]:
    """Every reply literal in aiosmtpd's smtp.py, its formatted values as ``VALUE``:
    constants, f-strings, ``'...'.format(...)`` and ``'...' + value``."""
    tree = ast.parse(inspect.getsource(aiosmtpd.smtp))
    found: set[str] = set()
    inside_f_strings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                        for part in node.values}
    for node in ast.walk(tree):
        if id(node) in inside_f_strings:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(part.value if isinstance(part, ast.Constant) else VALUE
                           for part in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.replace("{}", VALUE)
            if text.startswith(f"{VALUE} "):  # '{} Supported commands: {}'.format(code, ..)
                found.update(text.replace(VALUE, code, 1) for code in ("250", "501"))
                continue
            if text.endswith((" ", ": ")):  # '502 Could not VRFY ' + arg
                text += VALUE
        else:
            continue
        if re.match(r"[2-5]\d\d[ -]", text):
            found.add(text)
    return found


PUSHED = sorted(_texts_pushed_by_aiosmtpd())
#: RFC 3463's code for each reply aiosmtpd gives none (RFC 2034: every reply but the
#: greeting, HELO's and EHLO's, and 354)
ENHANCED = {
    220: "2.0.0", 221: "2.0.0", 235: "2.7.0", 250: "2.0.0", 252: "2.0.0", 421: "4.7.0",
    454: "4.7.0", 500: "5.5.2", 501: "5.5.4", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4",
    530: "5.7.0", 535: "5.7.8", 538: "5.7.11", 552: "5.3.4", 553: "5.1.3", 554: "5.7.0",
    555: "5.5.4",
}


def check_line(wire: str, code: int, enhanced: str) -> None:
    """ASCII, each line RFC 5321's with the given codes, Vietnamese then English."""
    assert wire.isascii(), wire
    lines = wire.split("\r\n")
    said = []
    for number, line in enumerate(lines, 1):
        match = LINE.fullmatch(line)
        assert match, line
        assert len(line.encode()) + 2 <= 512, line
        assert (int(match[1]), match[3] or "") == (code, enhanced), line
        assert match[2] == ("-" if number < len(lines) else " ")
        said.append(match[4])
    if len(lines) == 1:
        vi, separator, en = said[0].partition(" / ")
        assert separator and vi and en, wire
    assert "Error" not in said[0].split(" / ")[0], wire  # the Vietnamese comes first


def test_the_source_holds_the_texts_this_test_expects() -> None:
    """The reading of aiosmtpd's source finds its replies (it would pass on nothing)."""
    assert len(PUSHED) >= 45
    assert {"221 Bye", "502 EXPN not implemented", "503 Error: need MAIL command",
            '500 Error: command "X" not recognized', "220 X X"} <= set(PUSHED)


@pytest.mark.parametrize("text", [t for t in PUSHED if not NOT_WORDS.match(t)])
def test_every_text_aiosmtpd_can_push_is_said_in_both_languages(text: str) -> None:
    reply = in_both_languages(text, VALUE, VALUE)
    assert reply is not None, f"aiosmtpd's {text!r} has no words in milter/stockreplies.py"
    given = parse_reply(text)
    assert given is not None
    greeting = text in ("220 X X", "250 X")  # the greeting and HELO's reply take none
    check_line(str(reply), given.code,
               given.enhanced or ("" if greeting else ENHANCED.get(given.code, "")))


@pytest.mark.parametrize("text", [t for t in PUSHED if NOT_WORDS.match(t)])
def test_keywords_and_challenges_go_as_they_are(text: str) -> None:
    assert in_both_languages(text, VALUE, VALUE) is None


def test_what_the_client_wrote_is_quoted_once_in_ascii_and_never_breaks_the_line() -> None:
    reply = in_both_languages("502 Could not VRFY tệp\x00@x.vn " + "y" * 600,
                              "filter.test", "congvu")
    assert reply is not None
    first, last = str(reply).split("\r\n")
    assert first == "502-5.5.1 Khong xac minh duoc dia chi"
    assert last.startswith("502 5.5.1 Could not VRFY (t?p @x.vn yyy") and last.endswith("...")
    check_line(str(reply), 502, "5.5.1")


def test_an_exception_text_is_never_told_to_the_client() -> None:
    reply = in_both_languages("500 Error: (KeyError) 'secret path'", "h", "i")
    assert str(reply) == "500 5.5.2 Loi khi xu ly lenh / Error processing the command"


def test_the_domain_stays_first_in_the_greeting_and_the_helo_reply() -> None:
    assert str(in_both_languages("220 filter.test congvu", "filter.test", "congvu")) == (
        "220 filter.test Dich vu thu cong vu san sang / Service ready")
    assert str(in_both_languages("250 filter.test", "filter.test", "congvu")) == (
        "250 filter.test Xin chao / Hello")


#: (what the client sends, the code and enhanced code aiosmtpd answers it with)
SESSION = [
    (b"MAIL FROM:<a@b.vn>", 503, "5.5.1"),     # bad sequence: no EHLO yet
    (b"HELO", 501, "5.5.4"),                   # syntax error
    (b"EHLO client.test", 250, None),
    (b"BOGUS command", 500, "5.5.2"),          # unknown command
    (b"EXPN staff", 502, "5.5.1"),             # not implemented
    (b"VRFY", 501, "5.5.4"),
    (b"RCPT TO:<c@d.vn>", 503, "5.5.1"),       # bad sequence: no MAIL
    (b"MAIL FROM:<<<>", 553, "5.1.3"),         # malformed address
    (b"MAIL FROM:", 501, "5.5.4"),
    (b"MAIL FROM:<a@b.vn> " + b"X" * 2000, 500, "5.5.2"),  # command line too long
    (b"\xff\xfe", 500, "5.5.2"),               # bad syntax
    (b"STARTTLS", 454, "4.7.0"),
    (b"HELP", 250, "2.0.0"),
    (b"NOOP", 250, "2.0.0"),
    (b"QUIT", 221, "2.0.0"),
]


@pytest.fixture
def listeners(filter_server):
    """One filter with a listener before Postfix's queue and one behind it."""
    running = filter_server(listeners=[
        {"name": "before", "role": "inbound", "queue": "before", "port": 0},
        {"name": "after", "role": "outbound", "queue": "after", "port": 0}])
    return running.server.ports


@pytest.mark.parametrize("listener", ["before", "after"])
def test_a_session_of_bad_commands_is_answered_in_both_languages(listeners,
                                                                 listener) -> None:
    client = Raw(listeners[listener])
    check_line(client.greeting.decode("ascii"), 220, "")
    for command, code, enhanced in SESSION:
        reply = client.command(command).decode("ascii")
        if enhanced is None:  # EHLO's keywords: the first line greets
            assert reply.startswith("250-filter.test") and "\r\n250 " in reply
            continue
        check_line(reply, code, enhanced)
    assert client.is_closed()
