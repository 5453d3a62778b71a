"""The replies aiosmtpd writes by itself, said in both languages.

aiosmtpd answers the protocol's small talk and its errors with fixed English texts of
its own (``221 Bye``, ``500 Error: bad syntax``, ``503 Error: need MAIL command``...),
pushed from inside its command handlers. Every reply congvu writes says its words in
Vietnamese without diacritics, then in English, in ASCII (``mailbase.reply_text``), so
``FilterSMTP.push`` hands each line aiosmtpd pushes here and sends what comes back. The
reply code and the enhanced status code stay as aiosmtpd gave them, and where it gave
no enhanced code, RFC 3463's for the reply is added (RFC 2034 asks for one on every reply
but the greeting, HELO's and EHLO's, and 354): otherwise only the words change. What
a text quotes of the client's (a command name, an argument) comes once after both
languages, made ASCII; one line too long for RFC 5321's 512 octets becomes a line for
each language (milter/replies.py, ``saying``).

The table is read from aiosmtpd's source as pinned (smtp.py); tests/milter/
test_stock_replies.py walks that source for every reply it can push and fails on one
this table does not say, so an upgrade that adds a text cannot slip through in English.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

from mailbase import reply_text
from milter.refusals import parse_reply
from milter.replies import Reply


@dataclass(frozen=True, slots=True)
class _Words:
    """One of aiosmtpd's texts (``pattern``, after the codes) and what congvu says for
    it. ``{name}`` in ``vi``/``en`` takes the pattern's group of that name (a command
    keyword aiosmtpd itself wrote); the group ``quoted`` (the client's) follows both."""

    pattern: re.Pattern[str]
    vi: str
    en: str


def _w(pattern: str, vi: str, en: str) -> _Words:
    return _Words(re.compile(pattern), vi, en)


#: the greeting (220) and the reply to HELO (250), after the domain
_GREETING = ("Dich vu thu cong vu san sang", "Service ready")
_HELLO = ("Xin chao", "Hello")
_SYNTAX = r"Syntax: (?P<quoted>.+)"
_COMMAND_ERROR = ("Loi khi xu ly lenh", "Error processing the command")
#: code -> aiosmtpd's texts of that code (aiosmtpd 1.4, smtp.py), and congvu's words
_STOCK: dict[int, tuple[_Words, ...]] = {
    220: (_w(r"Ready to start TLS", "San sang bat dau TLS", "Ready to start TLS"),),
    221: (_w(r"Bye", "Tam biet", "Bye"),),
    235: (_w(r"Authentication successful", "Xac thuc thanh cong",
             "Authentication successful"),),
    250: (_w(r"OK", "Xong", "OK"),
          _w(_SYNTAX, "Cu phap", "Syntax"),
          _w(r"Supported commands: (?P<quoted>.*)", "Cac lenh duoc ho tro",
             "Supported commands")),
    252: (_w(r"Cannot VRFY user, but will accept message and attempt delivery",
             "Khong xac minh nguoi nhan, nhung se nhan thu va chuyen di",
             "Cannot VRFY user, but will accept message and attempt delivery"),),
    354: (_w(r"End data with <CR><LF>\.<CR><LF>",
             "Hay gui noi dung thu, ket thuc bang <CR><LF>.<CR><LF>",
             "End data with <CR><LF>.<CR><LF>"),),
    421: (_w(r"(?P<quoted>\S+) sent too many times", "Lenh gui qua nhieu lan",
             "Command sent too many times"),),
    454: (_w(r"TLS not available", "Khong ho tro TLS", "TLS not available"),),
    500: (_w(r"Command line too long", "Dong lenh qua dai", "Command line too long"),
          _w(r"Error: bad syntax", "Loi cu phap", "Error: bad syntax"),
          _w(r"Error: strict ASCII mode", "Chi nhan ky tu ASCII",
             "Error: strict ASCII mode"),
          _w(r"Error: command [\"'](?P<quoted>.*)[\"'] not recognized",
             "Lenh khong duoc ho tro", "Error: command not recognized"),
          _w(r"Line too long \(see RFC5321 4\.5\.3\.1\.6\)", "Dong qua dai",
             "Line too long (RFC 5321 4.5.3.1.6)"),
          _w(r"Error: Cannot describe error", *_COMMAND_ERROR),
          # an exception's class and text: never shown to the client
          _w(r"Error: \(.*", *_COMMAND_ERROR)),
    501: (_w(_SYNTAX, "Sai cu phap, hay viet", "Syntax error, write"),
          _w(r"Supported commands: (?P<quoted>.*)", "Lenh khong co, cac lenh duoc ho tro",
             "No such command; supported commands"),
          _w(r"Error: BODY can only be one of 7BIT, 8BITMIME",
             "Tham so BODY chi duoc la 7BIT hoac 8BITMIME",
             "Error: BODY can only be one of 7BIT, 8BITMIME"),
          _w(r"Error: SMTPUTF8 takes no arguments", "SMTPUTF8 khong nhan tham so",
             "Error: SMTPUTF8 takes no arguments"),
          _w(r"Error: SMTPUTF8 disabled", "SMTPUTF8 khong duoc bat",
             "Error: SMTPUTF8 disabled"),
          _w(r"Not enough value", "Thieu gia tri", "Not enough value"),
          _w(r"Too many values", "Qua nhieu gia tri", "Too many values"),
          _w(r"Auth aborted", "Da huy xac thuc", "Auth aborted"),
          _w(r"Can't decode base64", "Khong giai ma duoc base64", "Cannot decode base64"),
          _w(r"Can't split auth value", "Khong tach duoc gia tri xac thuc",
             "Cannot split the AUTH value")),
    502: (_w(r"EXPN not implemented", "Khong ho tro lenh EXPN", "EXPN not implemented"),
          _w(r"Could not VRFY (?P<quoted>.*)", "Khong xac minh duoc dia chi",
             "Could not VRFY"),
          _w(r"Too many unrecognized commands, goodbye\.",
             "Qua nhieu lenh khong hop le, tam biet",
             "Too many unrecognized commands, goodbye")),
    503: (_w(r"Error: send (?P<command>[A-Z]+) first", "Hay gui lenh {command} truoc",
             "Error: send {command} first"),
          _w(r"Error: nested MAIL command", "Lenh MAIL khi giao dich truoc chua xong",
             "Error: nested MAIL command"),
          _w(r"Error: need MAIL command", "Can lenh MAIL truoc", "Error: need MAIL command"),
          _w(r"Error: need RCPT command", "Can lenh RCPT truoc", "Error: need RCPT command"),
          _w(r"Already authenticated", "Da xac thuc roi", "Already authenticated")),
    504: (_w(r"Unrecognized authentication type", "Kieu xac thuc khong duoc ho tro",
             "Unrecognized authentication type"),),
    530: (_w(r"Must issue a STARTTLS command first", "Can lenh STARTTLS truoc",
             "Must issue a STARTTLS command first"),
          _w(r"Authentication required", "Can xac thuc truoc", "Authentication required")),
    535: (_w(r"Authentication credentials invalid", "Thong tin xac thuc khong dung",
             "Authentication credentials invalid"),),
    538: (_w(r"Encryption required for requested authentication mechanism",
             "Kieu xac thuc nay can ket noi ma hoa",
             "Encryption required for requested authentication mechanism"),),
    552: (_w(r"Error: message size exceeds fixed maximum message size",
             "Thu vuot qua dung luong cho phep",
             "Error: message size exceeds fixed maximum message size"),
          _w(r"Error: Too much mail data", "Thu vuot qua dung luong cho phep",
             "Error: Too much mail data")),
    553: (_w(r"Error: malformed address", "Dia chi sai cu phap",
             "Error: malformed address"),),
    554: (_w(r"Command refused due to lack of security",
             "Lenh bi tu choi vi ket noi chua an toan",
             "Command refused due to lack of security"),),
    555: (_w(r"(?P<command>MAIL FROM|RCPT TO) parameters not recognized or not implemented",
             "Tham so cua {command} khong duoc ho tro",
             "{command} parameters not recognized or not implemented"),),
}


#: RFC 2034 asks an ENHANCEDSTATUSCODES server for an enhanced code on every reply but
#: the greeting, the reply to HELO or EHLO, and 354; aiosmtpd gives most of its own
#: none. These are RFC 3463's for each (as Postfix writes them), used only where
#: aiosmtpd gave no code of its own.
_ENHANCED = {
    220: "2.0.0", 221: "2.0.0", 235: "2.7.0", 250: "2.0.0", 252: "2.0.0", 421: "4.7.0",
    454: "4.7.0", 500: "5.5.2", 501: "5.5.4", 502: "5.5.1", 503: "5.5.1", 504: "5.5.4",
    530: "5.7.0", 535: "5.7.8", 538: "5.7.11", 552: "5.3.4", 553: "5.1.3", 554: "5.7.0",
    555: "5.5.4",
}


# Called for every line pushed that is not the handler's (the greeting, EHLO's list, 354),
# about a dozen a connection: the texts repeat, and a reading costs about 30 us of CPU
# uncached, under 1 us cached (timeit, this machine).
@functools.lru_cache(maxsize=1024)
def in_both_languages(status: str, hostname: str, ident: str) -> Reply | None:
    """The reply to send for ``status``, a line aiosmtpd pushed by itself, with its
    codes kept and its words in Vietnamese, then English; None when it is not one of
    aiosmtpd's fixed texts (a reply of congvu's catalogue, a line of the EHLO list, an
    AUTH challenge), which is sent as it is.

    ``hostname`` and ``ident`` are what aiosmtpd writes in its greeting (``220
    hostname ident``) and its reply to HELO (``250 hostname``): the domain stays first,
    as RFC 5321 4.2 and 4.3.1 ask, and the words follow it.
    """
    if "\r" in status or "\n" in status:
        return None  # a multi-line reply: only ours are
    reply = parse_reply(status)
    if reply is None or status[3:4] != " ":
        return None  # not a reply, or a line of EHLO's list of keywords
    if (reply.code, reply.text) in ((220, f"{hostname} {ident}"), (250, hostname)):
        text = f"{hostname} {reply_text(*_GREETING if reply.code == 220 else _HELLO)}"
        return reply.with_text(text)  # made one printable line, as every text is
    if not reply.enhanced and reply.code in _ENHANCED:
        reply = dataclasses.replace(reply, enhanced=_ENHANCED[reply.code])
    for said in _STOCK.get(reply.code, ()):
        match = said.pattern.fullmatch(reply.text)
        if match is None:
            continue
        named = {name: value for name, value in match.groupdict().items()
                 if name != "quoted" and value is not None}
        return reply.saying(said.vi.format(**named), said.en.format(**named),
                            match.groupdict().get("quoted") or "")
    return None
