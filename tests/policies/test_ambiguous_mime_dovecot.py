"""The ambiguous-MIME corpus read by a real Dovecot: its BODYSTRUCTURE (RFC 3501 7.4.2)
over loopback IMAP is the reading recorded for each case, so the differential the
corpus claims against Dovecot holds for the Dovecot that runs here."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator

import pytest

from support import dovecot

from .mime_readers import dovecot_leaves
from .test_ambiguous_mime import CASES, expected, raw

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def imap() -> Iterator[imaplib.IMAP4]:
    """A private Dovecot with one empty mailbox, logged in."""
    reason = dovecot.missing()
    if reason:
        pytest.skip(f"LOUD SKIP: the Dovecot reading of the corpus needs Dovecot: {reason}")
    server = dovecot.DovecotInstance({"reader@example.org": "secret"})
    server.start()
    try:
        client = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=20)
        client.login("reader@example.org", "secret")
        client.select("INBOX")
        yield client
        client.logout()
    finally:
        server.stop()


@pytest.mark.parametrize("case", CASES)
def test_dovecot_reads_the_case_as_recorded(case: str, imap: imaplib.IMAP4) -> None:
    typ, answer = imap.append("INBOX", None, None, raw(case))
    assert typ == "OK", answer
    # APPENDUID (RFC 4315): the message just stored, whatever ran before it
    uid = answer[0].split(b"APPENDUID ", 1)[1].split(b"]", 1)[0].split()[1]  # type: ignore[union-attr]
    typ, fetched = imap.uid("FETCH", uid.decode(), "(BODYSTRUCTURE)")
    assert typ == "OK"
    response = b"".join(item if isinstance(item, bytes) else b"".join(item) for item in fetched)
    assert dovecot_leaves(response) == expected(case)["readings"]["dovecot"]
