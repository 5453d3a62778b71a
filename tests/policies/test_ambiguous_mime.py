"""MIME that reads two ways: the corpus in tests/data/ambiguous-mime/.

Each case is a message and what it must come to: the readings Python's email package
(compat32, default), Dovecot, Postfix's MIME reader and the JavaScript parsers
postal-mime and mailparser give it, recorded from those parsers; the decision of
the default policy (the most dangerous reading judged, the ambiguity reported as
``ambiguous-mime``); and, through the service, the reply and the audit record.
Dovecot's readings are confirmed against a real Dovecot in test_ambiguous_mime_dovecot.py,
Postfix's against a real Postfix in test_ambiguous_mime_postfix.py, the JavaScript
parsers' in test_ambiguous_mime_npm.py.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any

import pytest

from audit import AuditLog
from audit.query import Filters
from congvu.config import parse_config
from milter.server import Server
from policies import Action, PoliciesConfig, Policy, decide, read_parts
from support.loopthread import LoopThread
from support.sink import Sink

from .mime_readers import field_names, python_leaves

CORPUS = Path(__file__).resolve().parents[1] / "data" / "ambiguous-mime"
CASES = sorted(p.stem for p in CORPUS.glob("*.eml"))


def reader_names(reader: str, reading: list[Any]) -> list[str]:
    """The names one recorded reading gives: Postfix's is the header fields its MIME
    reader presented, every other one a list of leaves."""
    if reader == "postfix":
        return field_names(reading)
    return [n for leaf in reading for n in leaf[2]]


def expected(case: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((CORPUS / f"{case}.json").read_text("utf-8"))
    return result


def raw(case: str) -> bytes:
    return (CORPUS / f"{case}.eml").read_bytes()


def test_the_corpus_covers_every_kind_of_ambiguity() -> None:
    kinds = {expected(c)["ambiguity"] for c in CASES}
    assert {"the boundary parameter reads 2 ways", "2 different Content-Type fields",
            "the media type reads 2 ways", "Content-Transfer-Encoding reads 2 ways",
            "the attachment's name reads 2 ways", "different Content-Disposition fields",
            "the charset reads 2 ways", "boundary lines read two ways", None} < kinds
    assert any(k and k.endswith("has white space before its colon") for k in kinds)
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("policy_name", ["compat32", "default"])
def test_pythons_reading_is_the_recorded_one(case: str, policy_name: str) -> None:
    assert python_leaves(raw(case), policy_name) == \
        expected(case)["readings"][f"python-{policy_name}"]


def test_the_readers_disagree_where_the_corpus_says_so() -> None:
    # the differential itself, as measured: a reader shows a program another hides
    def names(case: str, reader: str) -> set[str]:
        return {n for leaf in expected(case)["readings"][reader] for n in leaf[2]}

    assert "setup.exe" not in names("boundary-comment", "python-compat32")
    assert "setup.exe" in names("boundary-comment", "python-default")
    assert "setup.exe" in names("boundary-comment", "dovecot")
    assert "setup.exe" in names("boundary-quoted-trailing-space", "python-default")
    assert "setup.exe" not in names("boundary-quoted-trailing-space", "dovecot")
    assert "setup.exe" in names("boundary-line-trailing-text", "dovecot")
    assert "setup.exe" not in names("boundary-line-trailing-text", "python-default")
    assert "setup.exe" in names("media-type-spaced", "dovecot")
    assert "setup.exe" not in names("media-type-spaced", "python-compat32")
    assert names("filename-comment", "python-compat32") == {"setup.exe(.pdf)"}
    assert names("filename-comment", "python-default") == {"setup.exe"}
    [[_, cte, _, _]] = expected("cte-comment")["readings"]["dovecot"]
    [[_, python_cte, _, _]] = expected("cte-comment")["readings"]["python-default"]
    assert (cte, python_cte) == ("base64", "base64 (x)")


@pytest.mark.parametrize("case", CASES)
def test_the_default_policy_judges_the_most_dangerous_reading(
        case: str, default_policy: Policy) -> None:
    want = expected(case)
    decision = decide(raw(case), default_policy)
    rules = {v.rule for v in decision.violations}
    assert decision.action is Action(want["action"]), decision.violations
    assert set(want["rules"]) <= rules, decision.violations
    reasons = [v.reason for v in decision.violations if v.rule == "ambiguous-mime"]
    if want["ambiguity"] is None:
        assert reasons == []
    else:
        assert any(r.startswith(want["ambiguity"]) for r in reasons), reasons


@pytest.mark.parametrize("case", ["name-and-filename-differ", "filename-repeated",
                                  "name-repeated", "filename-rfc2231-and-plain",
                                  "filename-comment", "disposition-twice"])
def test_the_refusal_names_the_reading_that_is_refused(case: str,
                                                       default_policy: Policy) -> None:
    # Python shows the first name (report.pdf, or setup.exe(.pdf)); the rule fired on the
    # reading that names the program, and that is the name the sender is told
    decision = decide(raw(case), default_policy)
    assert decision.reply_text.endswith("(blocked-extension: setup.exe)")
    [refused] = [v for v in decision.violations if v.rule == "blocked-extension"]
    assert (refused.filename, refused.reason) == ("setup.exe", "the name 'setup.exe' ends in .exe")


@pytest.mark.parametrize("case", CASES)
def test_every_name_any_reader_gives_is_checked(case: str) -> None:
    # Dovecot gives RFC 2047 names undecoded and RFC 2231 ones raw: decoded here as a
    # client would
    readings = expected(case)["readings"]
    given = {n for reader, reading in readings.items() for n in reader_names(reader, reading)}
    theirs = {str(make_header(decode_header(n))) for n in given if "''" not in n}
    ours = {n for p in read_parts(raw(case)).parts for n in p.filenames}
    assert theirs <= ours


def test_ambiguous_mime_alone_is_quarantined_and_its_action_is_configurable(
        default_policy: Policy) -> None:
    assert decide(raw("charset-repeated"), default_policy).action is Action.QUARANTINE
    relaxed = PoliciesConfig(actions={"ambiguous-mime": "tag"}).resolve(["u"], "inbound")
    tagged = decide(raw("charset-repeated"), relaxed)
    assert tagged.action is Action.TAG
    assert tagged.tag_header == ("X-Congvu-Policy", "ambiguous-mime")
    strict = PoliciesConfig(actions={"ambiguous-mime": "reject"}).resolve(["u"], "inbound")
    refused = decide(raw("charset-repeated"), strict)
    assert refused.action is Action.REJECT
    assert refused.reply_text.endswith("(ambiguous-mime)")


# -- through the service: the reply and the audit record


class _Filter:
    def __init__(self, server: Server, sink: Sink) -> None:
        self.server, self.sink = server, sink

    @property
    def port(self) -> int:
        return next(iter(self.server.ports.values()))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Filter]:
    """One filter (an inbound listener before the queue) for the whole corpus."""
    runner = LoopThread()
    sink = Sink(runner)
    sink.start()
    config = parse_config({
        "service": {"data_dir": str(tmp_path_factory.mktemp("ambiguous") / "var"),
                    "hostname": "filter.test"},
        "listeners": [{"name": "in", "role": "inbound", "queue": "before", "port": 0}],
        "next_hop": {"kind": "smtp", "port": sink.port, "command_timeout": 5,
                     "data_timeout": 5, "connect_timeout": 5},
        "pipeline": {"stages": ["policy"]},
    })
    server = Server(config)
    runner.run(server.start())
    try:
        yield _Filter(server, sink)
    finally:
        runner.run(server.stop(5))
        sink.stop()
        runner.close()


def _records(service: _Filter, case: str) -> list[dict[str, Any]]:
    log = AuditLog.open_readonly(service.server.config.audit.path)
    try:
        return [{"action": s.action, "outcome": s.outcome, **log.show(s.id)}
                for s in log.query(Filters(message_id=f"<{case}@example.org>")).items]
    finally:
        log.close()


def _record(service: _Filter, case: str) -> dict[str, Any]:
    [record] = _records(service, case)
    return record


@pytest.mark.parametrize("case", CASES)
def test_through_the_service(case: str, service: _Filter) -> None:
    want = expected(case)
    client = smtplib.SMTP("127.0.0.1", service.port, local_hostname="mx.example.org",
                          timeout=20)
    try:
        client.ehlo()
        client.mail("vanthu@example.org")
        client.rcpt("sotc@binhthuan.gov.vn")
        code, text = client.data(raw(case))
    finally:
        client.close()
    if "door" in want:  # refused before any stage reads it: no record
        assert f"{code} {text[:5].decode()}" == want["door"]
        assert _records(service, case) == []
        return
    record = _record(service, case)
    violations = record["violations"]
    recorded = [v["reason"] for v in violations if v["rule"] == "ambiguous-mime"]
    if want["action"] == "reject":
        assert code == 550 and text.startswith(b"5.7.1 ")
        first = next(v for v in violations if v["rule"] in ("blocked-type", "blocked-extension"))
        assert text.endswith(f"({first['rule']}: {first['filename']})".encode()), text
        assert (record["action"], record["outcome"]) == ("reject", "rejected")
    elif want["action"] == "quarantine":
        assert code == 250 and b"held in quarantine (" in text
        assert (record["action"], record["outcome"]) == ("quarantine", "quarantined")
    else:
        assert code == 250
        assert (record["action"], record["outcome"]) == ("accept", "relayed")
        assert service.sink.get().content.endswith(raw(case).split(b"\r\n\r\n", 1)[1])
    if want["ambiguity"] is None:
        assert recorded == []
    else:
        assert any(r.startswith(want["ambiguity"]) for r in recorded), violations
