"""The catalogue of SMTP replies the filter gives.

Each name carries its code (``R451_TEMPFAIL`` is a 451), and its enhanced status code
(RFC 3463) has the same class digit; tests/milter/test_replies.py checks both. Texts
say what happened in words a sending administrator understands, never exception text,
in Vietnamese without diacritics and then in English (``mailbase.reply_text``), ASCII;
what a reply quotes (an id, a reason, the next hop's answer) follows once. A text too
long for RFC 5321's line becomes a multi-line reply (4.2.1): the Vietnamese on the
first line, the English and what it quotes on the last, each line cut to 512 octets.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailbase import REPLY_SEPARATOR, reply_text
from milter.errors import NextHopError

# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, the CRLF included.
_LINE_OCTETS = 510


@dataclass(frozen=True, slots=True)
class Reply:
    """An SMTP reply: code, enhanced status code and text."""

    code: int
    enhanced: str
    text: str
    #: the lines before the last of a multi-line reply (RFC 5321 4.2.1), each one line
    before: tuple[str, ...] = ()

    def __str__(self) -> str:
        enhanced = f"{self.enhanced} " if self.enhanced else ""
        first = "".join(f"{self.code}-{enhanced}{line}\r\n" for line in self.before)
        return f"{first}{self.code} {enhanced}{self.text}"

    def saying(self, vi: str, en: str, detail: str = "") -> Reply:
        """The same codes saying ``vi`` / ``en`` (ASCII; Vietnamese without diacritics),
        then ``detail``; on two lines when one cannot hold it."""
        text = reply_text(vi, en, detail)
        if len(text) <= self.room:
            return Reply(self.code, self.enhanced, text)
        english = reply_text(vi, en, detail).partition(REPLY_SEPARATOR)[2]
        return Reply(self.code, self.enhanced, self.with_text(english).text,
                     (self.with_text(vi).text,))

    def detailed(self, detail: str) -> Reply:
        """This reply's own words, then ``detail`` (what it quotes: an id, a reason)."""
        vi, _, en = self.text.partition(REPLY_SEPARATOR)
        return self.saying(vi, en, detail)

    def with_text(self, text: str) -> Reply:
        """The same codes with another text (a correlation id, a reason), made one reply
        line: a reason can quote what a message carries (a filename decoded from RFC 2231
        or RFC 2047 may hold CR LF, which would end this reply and forge the next), so
        every character that is not printable becomes a space, and the line is cut to
        RFC 5321's 512 octets with its CRLF (4.5.3.1.5), never inside a UTF-8 sequence."""
        room = self.room
        if not text.isprintable():
            text = "".join(c if c.isprintable() else " " for c in text)
        if len(text) * 4 > room and len(encoded := text.encode("utf-8")) > room:
            text = encoded[:room - 3].decode("utf-8", "ignore") + "..."
        return Reply(self.code, self.enhanced, text)

    @property
    def room(self) -> int:
        """How many octets of text fit on this reply's one line (RFC 5321 4.5.3.1.5):
        a text longer than that is cut by :meth:`with_text`."""
        return _LINE_OCTETS - len(f"{self.code} {self.enhanced} ")

    @property
    def is_success(self) -> bool:
        """True for 2xx."""
        return 200 <= self.code < 300

    @property
    def is_permanent(self) -> bool:
        """True for 5xx."""
        return 500 <= self.code < 600


def _said(code: int, enhanced: str, vi: str, en: str) -> Reply:
    return Reply(code, enhanced, reply_text(vi, en))


R250_OK = _said(250, "2.0.0", "Xong", "OK")
R250_SENDER_OK = _said(250, "2.1.0", "Nguoi gui hop le", "Sender OK")
R250_RECIPIENT_OK = _said(250, "2.1.5", "Nguoi nhan hop le", "Recipient OK")
R250_QUEUED = _said(250, "2.0.0", "Thu da duoc nhan va chuyen di",
                    "Message accepted and relayed")
R250_DELIVERED = _said(250, "2.0.0", "Da chuyen thu", "Delivered")
R250_QUARANTINED = _said(250, "2.0.0", "Thu da duoc nhan va dang bi cach ly",
                         "Message accepted and held in quarantine")
R250_DISCARDED = _said(250, "2.7.0", "Thu bi tu choi va huy, khong gui thu bao loi",
                       "Message refused and discarded without a bounce")
#: RFC 3463 gives no enhanced code to 354
R354_START_DATA = _said(354, "", "Hay gui noi dung thu, ket thuc bang <CR><LF>.<CR><LF>",
                        "End data with <CR><LF>.<CR><LF>")
R250_XFORWARD = _said(250, "2.0.0", "Da ghi nhan thuoc tinh XFORWARD",
                      "XFORWARD attributes recorded")
R421_SHUTTING_DOWN = _said(421, "4.3.2", "Dich vu dang dung, hay thu lai sau",
                           "Service shutting down, try again later")
R421_TOO_MANY_CONNECTIONS = _said(421, "4.7.0", "Qua nhieu ket noi, hay thu lai sau",
                                  "Too many connections, try again later")
R421_TIMEOUT = _said(421, "4.4.2", "Het thoi gian cho may gui",
                     "Timeout waiting for the client")
R451_TEMPFAIL = _said(451, "4.3.0", "Loi tam thoi o bo loc thu, hay thu lai sau",
                      "Temporary failure in the filter, try again later")
R451_ATTACHMENTS = _said(451, "4.3.0", "Loi tam thoi khi kiem tra tep dinh kem, hay thu lai sau",
                         "Temporary failure checking attachments, try again later")
R451_SENDER_DNS = _said(451, "4.4.3", "Loi DNS tam thoi khi kiem tra nguoi gui, hay thu lai sau",
                        "Temporary DNS failure checking the sender, try again later")
R451_CANNOT_HOLD = _said(451, "4.3.0", "Chua cach ly duoc thu, hay thu lai sau",
                         "Cannot hold the message now, try again later")
R451_NEXT_HOP = _said(451, "4.4.1", "May chu ke tiep tam thoi khong nhan thu, hay thu lai sau",
                      "Next hop unavailable, try again later")
R451_AUDIT = _said(451, "4.3.0", "Tam thoi khong ghi duoc nhat ky, hay thu lai sau",
                   "Audit log unavailable, try again later")
R451_ARCHIVE = _said(451, "4.3.0", "Tam thoi khong luu tru duoc thu, hay thu lai sau",
                     "Archive unavailable, try again later")
#: every MAIL while ``serve`` waits for disk space to open its stores (RFC 3463 4.3.1:
#: insufficient system storage); milter/spacewait.py
R451_NO_SPACE = _said(451, "4.3.1", "Het dung luong dia, tam thoi khong nhan thu, hay thu lai sau",
                      "Insufficient system storage, try again later")
#: the greeting while ``serve`` waits for disk space (after the domain; RFC 2034 gives a
#: greeting no enhanced code): ``doctor`` reads it to say why mail waits
R220_WAITING_FOR_SPACE = _said(220, "", "Dich vu thu cong vu dang cho dung luong dia",
                               "Service waiting for disk space, mail is deferred")
R452_TOO_MANY_RECIPIENTS = _said(452, "4.5.3", "Qua nhieu nguoi nhan", "Too many recipients")
R500_LINE_TOO_LONG = _said(500, "5.5.2", "Dong lenh qua dai",
                           "Line too long (RFC 5321 4.5.3.1.6)")
#: HELO or EHLO on an LMTP listener (the command follows)
R500_NOT_LMTP = _said(500, "5.5.1", "Lenh khong dung trong LMTP, hay dung LHLO",
                      "Error: command not recognized in LMTP, use LHLO")
R501_DSN_SYNTAX = _said(501, "5.5.4", "Tham so DSN sai", "Bad DSN parameter")
R501_DATA_SYNTAX = _said(501, "5.5.4", "Lenh DATA khong co tham so", "Syntax: DATA")
R501_XFORWARD_SYNTAX = _said(501, "5.5.4", "Thuoc tinh hoac gia tri XFORWARD sai",
                             "Bad XFORWARD attribute or value")
R503_NEED_RCPT = _said(503, "5.5.1", "Can lenh RCPT truoc", "Error: need RCPT command")
R503_XFORWARD_IN_TRANSACTION = _said(503, "5.5.1", "Khong dung XFORWARD giua mot giao dich",
                                     "XFORWARD not allowed inside a transaction")
R550_POLICY = _said(550, "5.7.1", "Thu bi tu choi theo chinh sach", "Message refused by policy")
#: a sender the authentication checks refused (the spoof guard for the province's own
#: domains, DMARC): the reason follows
R550_SENDER_REFUSED = _said(550, "5.7.1", "Thu bi tu choi: nguoi gui khong duoc xac thuc",
                            "Message refused: the sender is not authenticated")
#: inbound mail claiming to be from the province's own domains without their signature
R550_FORGED_SENDER = _said(550, "5.7.1", "Thu bi tu choi: gia danh nguoi gui cua tinh",
                           "Message refused as a forged provincial sender")
#: outbound mail whose From its sender may not use (another unit's, an official's
#: mailbox not theirs, an ambiguous header): why follows
R550_FROM_REFUSED = _said(550, "5.7.1",
                          "Thu bi tu choi: nguoi gui khong duoc dung dia chi From nay",
                          "Message refused: the sender may not use this From address")
#: sent as the address of a unit that has ended (merged into a successor or past its
#: last day); the text names the address to send as instead
R550_SENDER_UNIT_ENDED = _said(550, "5.7.1", "Thu bi tu choi: don vi gui da ngung hoat dong",
                               "Message refused: the sender's unit has ended")
R550_NO_SMIME_IDENTITY = _said(550, "5.7.1", "Thu bi tu choi: khong co chung thu S/MIME "
                               "de ky thu cua nguoi gui",
                               "Message refused: no S/MIME identity for the sender")
R550_UNSIGNABLE = _said(550, "5.7.1", "Thu bi tu choi: khong ky DKIM duoc",
                        "Message cannot be DKIM-signed")
R550_XFORWARD_REFUSED = _said(550, "5.7.0", "May gui khong duoc dung XFORWARD",
                              "XFORWARD not permitted from this client")
R554_CLIENT_REFUSED = _said(554, "5.7.1", "Cong nay khong nhan thu tu may gui nay",
                            "This listener does not take mail from this client")
R552_TOO_BIG = _said(552, "5.3.4", "Thu vuot qua dung luong cho phep",
                     "Message size exceeds the fixed limit")
R552_HEADER_TOO_BIG = _said(552, "5.3.4", "Phan tieu de cua thu vuot qua gioi han",
                            "Message header exceeds the fixed limit")
R554_BARE_LINE_ENDING = _said(554, "5.6.0", "Thu chua ky tu CR hoac LF dung rieng",
                              "Message contains a bare CR or LF (RFC 5321 2.3.8)")
R554_NUL = _said(554, "5.6.0", "Thu chua ky tu NUL",
                 "Message contains NUL characters (RFC 5322 2.3)")
R554_LINE_TOO_LONG = _said(554, "5.6.0", "Thu co dong dai hon 998 byte",
                           "Message contains a line longer than 998 octets (RFC 5322 2.1.1)")


def waiting_for_space_greeting(hostname: str) -> Reply:
    """The greeting while ``serve`` waits for disk space: the domain first, as RFC 5321
    4.2 asks of a 220, then why."""
    return R220_WAITING_FOR_SPACE.with_text(f"{hostname} {R220_WAITING_FOR_SPACE.text}")


def for_next_hop(exc: NextHopError) -> Reply:
    """The reply for a next hop's refusal: its 5xx passed back as it came; anything
    else is our 451 with its reason (the client keeps the message and retries)."""
    if exc.is_permanent:
        return Reply(exc.code, exc.enhanced, "").with_text(exc.text)  # one line
    return R451_NEXT_HOP.detailed(str(exc))
