"""The ambiguous-MIME corpus read by a real Postfix: the MIME header fields its cleanup
daemon's MIME state machine hands to ``mime_header_checks``, logged with a ``WARN``
action, are the reading recorded for each case. They are what an administrator's
``/name=.*\\.exe/ REJECT`` rule in Postfix would see; congvu must check every name
they give (test_ambiguous_mime.py), and where Postfix sees fewer parts than the most
dangerous reading, that rule alone would let the program through."""

from __future__ import annotations

import re
import smtplib
import time
from collections.abc import Iterable, Iterator

import pytest

from support import postfix

from .mime_readers import field_names, postfix_fields
from .test_ambiguous_mime import CASES, expected, raw

pytestmark = pytest.mark.e2e

_CHECK = "/^(Content-[A-Za-z-]+[ \\t]*:.*)/ WARN mime\n"


@pytest.fixture(scope="module")
def readings() -> Iterator[dict[str, list[str]]]:
    """Every case sent once through a private Postfix; the fields logged for each."""
    reason = postfix.missing()
    if reason:
        pytest.skip(f"LOUD SKIP: the Postfix reading of the corpus needs Postfix: {reason}")
    mta = postfix.PostfixInstance(relayhost="[127.0.0.1]:9", main_extra="""
mime_header_checks = regexp:${config_directory}/mime_checks
header_checks = regexp:${config_directory}/mime_checks
nested_header_checks =
defer_transports = smtp
""")
    postfix.write_config(mta.conf / "mime_checks", _CHECK)
    mta.start()
    try:
        queued: dict[str, str] = {}
        with smtplib.SMTP("127.0.0.1", mta.port, timeout=30) as client:
            for case in CASES:
                client.mail("sender@example.org")
                client.rcpt("reader@example.org")
                _, reply = client.data(raw(case))
                found = re.search(rb"queued as ([0-9A-F]+)", reply)
                assert found is not None, reply
                queued[case] = found.group(1).decode()
        log = _log_after_every_message(mta, queued.values())
        yield {case: postfix_fields(log, queue_id) for case, queue_id in queued.items()}
    finally:
        mta.stop()


def _log_after_every_message(mta: postfix.PostfixInstance, queue_ids: Iterable[str]) -> str:
    # The queue manager logs a message's "from=<...>" once cleanup has finished it, so
    # every field cleanup logged for it is in the log by then (one postlogd socket).
    queue_ids = list(queue_ids)
    deadline = time.monotonic() + 60
    while True:
        log = mta.log.read_text(encoding="utf-8", errors="replace")
        if all(f"{q}: from=<" in log for q in queue_ids):
            return log
        if time.monotonic() > deadline:
            raise TimeoutError(f"Postfix did not log every message: {mta.log}")
        time.sleep(0.05)  # polling a daemon's log file, not synchronization


@pytest.mark.parametrize("case", CASES)
def test_postfix_reads_the_case_as_recorded(case: str, readings: dict[str, list[str]]) -> None:
    assert readings[case] == expected(case)["readings"]["postfix"]


def test_postfix_misses_a_program_the_most_dangerous_reading_finds(
        readings: dict[str, list[str]]) -> None:
    # A boundary quoted with a trailing space: Postfix finds no parts, so a name rule
    # in mime_header_checks never sees setup.exe; mailparser (and congvu) do.
    assert "setup.exe" not in field_names(readings["boundary-quoted-trailing-space"])
    assert "setup.exe" in field_names(readings["boundary-comment"])
