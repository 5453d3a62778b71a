"""Protocol-level refusals made visible: each one counted, and logged once per connection.

A refusal here is an answer to bad input before any stage saw a message (README.md,
"Bad input"): smuggled end-of-data sequences, NUL, overlong lines, oversize messages,
bad XFORWARD, too many recipients, malformed commands. Without a trace an attack
probing the filter would leave nothing in the logs. Every refusal increments
``congvu_smtp_refusals_total{reason}``; the JSON log line is written once per reason
per connection, so a client repeating one error cannot flood the journal.
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum

from milter.logs import event
from milter.metrics import Recorder
from milter.replies import R500_LINE_TOO_LONG, R552_TOO_BIG, Reply

log = logging.getLogger("congvu.milter")


class RefusalReason(StrEnum):
    """Why the protocol layer refused; the ``reason`` label and log field."""

    MESSAGE_TOO_BIG = "message-too-big"
    HEADER_TOO_BIG = "header-too-big"
    BARE_LINE_ENDING = "bare-line-ending"
    NUL = "nul"
    LINE_TOO_LONG = "line-too-long"
    COMMAND_TOO_LONG = "command-too-long"
    BAD_COMMAND = "bad-command"
    DSN_SYNTAX = "dsn-syntax"
    XFORWARD_SYNTAX = "xforward-syntax"
    XFORWARD_IN_TRANSACTION = "xforward-in-transaction"
    XFORWARD_REFUSED = "xforward-refused"
    TOO_MANY_RECIPIENTS = "too-many-recipients"
    TOO_MANY_CONNECTIONS = "too-many-connections"
    CLIENT_REFUSED = "client-refused"
    TIMEOUT = "timeout"


# aiosmtpd answers some bad input itself and says so only in the text it pushes; these
# two are read by their exact text and answered with our catalogue's reply instead,
# which carries the enhanced status code (RFC 3463) README.md promises.
_AIOSMTPD_REPLACED: dict[str, tuple[RefusalReason, Reply]] = {
    "552 Error: message size exceeds fixed maximum message size":
        (RefusalReason.MESSAGE_TOO_BIG, R552_TOO_BIG),
    "500 Command line too long": (RefusalReason.COMMAND_TOO_LONG, R500_LINE_TOO_LONG),
}
# RFC 5321 4.2.3: the replies to a command that is unknown, malformed or out of sequence.
_COMMAND_ERRORS = frozenset({500, 501, 502, 503, 504, 553, 555})
_REPLY = re.compile(r"([2-5][0-9]{2})[ -](?:([245]\.[0-9]{1,3}\.[0-9]{1,3}) )?(.*)", re.DOTALL)


def parse_reply(status: str) -> Reply | None:
    """The code, enhanced code (or "") and text of one reply line; None if not a reply."""
    match = _REPLY.fullmatch(status)
    if match is None:
        return None
    return Reply(int(match.group(1)), match.group(2) or "", match.group(3))


def classify(status: str) -> tuple[RefusalReason, Reply, str] | None:
    """What a reply aiosmtpd gave by itself refuses, as a reply, and the line to send.

    Only for replies the protocol layer makes: the handler's (the next hop's own
    refusals mirrored, policy decisions) are never passed here.
    """
    known = _AIOSMTPD_REPLACED.get(status)
    if known is not None:
        reason, reply = known
        return reason, reply, str(reply)
    parsed = parse_reply(status)
    if parsed is not None and parsed.code in _COMMAND_ERRORS:
        return RefusalReason.BAD_COMMAND, parsed, status
    return None


class RefusalTrace:
    """The refusals of one connection: every one counted, each reason logged once."""

    def __init__(self, metrics: Recorder | None, *, listener: str) -> None:
        self._metrics = metrics
        self._listener = listener
        self._logged: set[RefusalReason] = set()

    def record(self, reason: RefusalReason, reply: Reply, *, peer: str,
               client: str | None = None, queue_id: str | None = None) -> None:
        """Count one refusal; log it unless this connection already logged its reason.

        ``client`` and ``queue_id`` are Postfix's XFORWARD ADDR and IDENT, so the line
        can be matched with Postfix's own log.
        """
        if self._metrics is not None:
            self._metrics.smtp_refusal(reason.value)
        if reason in self._logged:
            return
        self._logged.add(reason)
        event(log, "smtp refusal", logging.WARNING, reason=reason.value, code=reply.code,
              enhanced=reply.enhanced, reply=reply.text, listener=self._listener, peer=peer,
              client=client, queue_id=queue_id)
