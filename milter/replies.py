"""The catalogue of SMTP replies the filter gives.

Each name carries its code (``R451_TEMPFAIL`` is a 451), and its enhanced status code
(RFC 3463) has the same class digit; tests/milter/test_replies.py checks both. Texts
say what happened in words a sending administrator understands, never exception text.
"""

from __future__ import annotations

from dataclasses import dataclass

from milter.errors import NextHopError

# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, the CRLF included.
_LINE_OCTETS = 510


@dataclass(frozen=True, slots=True)
class Reply:
    """An SMTP reply: code, enhanced status code and text."""

    code: int
    enhanced: str
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.enhanced} {self.text}"

    def with_text(self, text: str) -> Reply:
        """The same codes with another text (a correlation id, a reason), made one reply
        line: a reason can quote what a message carries (a filename decoded from RFC 2231
        or RFC 2047 may hold CR LF, which would end this reply and forge the next), so
        every character that is not printable becomes a space, and the line is cut to
        RFC 5321's 512 octets with its CRLF (4.5.3.1.5), never inside a UTF-8 sequence."""
        room = _LINE_OCTETS - len(f"{self.code} {self.enhanced} ")
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


R250_OK = Reply(250, "2.0.0", "OK")
R250_SENDER_OK = Reply(250, "2.1.0", "Sender OK")
R250_RECIPIENT_OK = Reply(250, "2.1.5", "Recipient OK")
R250_QUEUED = Reply(250, "2.0.0", "Message accepted and relayed")
R250_QUARANTINED = Reply(250, "2.0.0", "Message accepted and held in quarantine")
R250_DISCARDED = Reply(250, "2.7.0", "Message refused and discarded without a bounce")
R250_XFORWARD = Reply(250, "2.0.0", "XFORWARD attributes recorded")
R421_SHUTTING_DOWN = Reply(421, "4.3.2", "Service shutting down, try again later")
R421_TOO_MANY_CONNECTIONS = Reply(421, "4.7.0", "Too many connections, try again later")
R421_TIMEOUT = Reply(421, "4.4.2", "Timeout waiting for the client")
R451_TEMPFAIL = Reply(451, "4.3.0", "Temporary failure in the filter, try again later")
R451_NEXT_HOP = Reply(451, "4.4.1", "Next hop unavailable, try again later")
R451_AUDIT = Reply(451, "4.3.0", "Audit log unavailable, try again later")
R451_ARCHIVE = Reply(451, "4.3.0", "Archive unavailable, try again later")
R452_TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "Too many recipients")
R500_LINE_TOO_LONG = Reply(500, "5.5.2", "Line too long (RFC 5321 4.5.3.1.6)")
R501_XFORWARD_SYNTAX = Reply(501, "5.5.4", "Bad XFORWARD attribute or value")
R503_XFORWARD_IN_TRANSACTION = Reply(503, "5.5.1", "XFORWARD not allowed inside a transaction")
R550_POLICY = Reply(550, "5.7.1", "Message refused by policy")
#: sent as the address of a unit that has ended (merged into a successor or past its
#: last day); the text names the successor's address, in English and in Vietnamese
#: without diacritics (a reply line is ASCII, RFC 5321 section 4.2)
R550_SENDER_UNIT_ENDED = Reply(550, "5.7.1", "Message refused: the sender's unit has ended")
R550_XFORWARD_REFUSED = Reply(550, "5.7.0", "XFORWARD not permitted from this client")
R554_CLIENT_REFUSED = Reply(554, "5.7.1", "This listener does not take mail from this client")
R552_TOO_BIG = Reply(552, "5.3.4", "Message size exceeds the fixed limit")
R552_HEADER_TOO_BIG = Reply(552, "5.3.4", "Message header exceeds the fixed limit")
R554_BARE_LINE_ENDING = Reply(
    554, "5.6.0", "Message contains a bare CR or LF (RFC 5321 2.3.8)"
)
R554_NUL = Reply(554, "5.6.0", "Message contains NUL characters (RFC 5322 2.3)")
R554_LINE_TOO_LONG = Reply(
    554, "5.6.0", "Message contains a line longer than 998 octets (RFC 5322 2.1.1)"
)


def for_next_hop(exc: NextHopError) -> Reply:
    """The reply for a next hop's refusal: its 5xx passed back as it came; anything
    else is our 451 with its reason (the client keeps the message and retries)."""
    if exc.is_permanent:
        return Reply(exc.code, exc.enhanced, "").with_text(exc.text)  # one line
    return R451_NEXT_HOP.with_text(f"Next hop unavailable, try again later ({exc})")
