"""Every finding a rule or the MIME walk makes carries its reason's code and parameters
(policies/reasons.py) beside the English, as `policy check`, the quarantine and the audit
record keep it; the English is the same text the code's template renders."""

from __future__ import annotations

from policies import REASONS
from policies.ambiguity import Reading, describe
from policies.model import Violation
from policies.rules.base import Context, walk_defects
from policies.rules.message import MalformedMime
from policies.walk import walk

MIXED = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'


def test_a_walk_finding_is_coded_and_so_is_its_violation() -> None:
    found = walk(MIXED + b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n")
    [(_path, defect)] = found.defects
    assert defect.why is not None and defect.why.code == "mime.no-close"
    assert defect.reason == defect.why.text == "the closing boundary is missing"
    [violation] = walk_defects(MalformedMime.name, Context(raw_size=0, walk=found,
                                                           attachment_count=0))
    assert violation.as_json()["code"] == "mime.no-close"
    assert violation.as_json()["params"] == {}


def test_a_field_read_several_ways_is_coded_by_the_field() -> None:
    why = describe("the charset", [Reading("utf-8", ("Python",)),
                                   Reading("koi8-r", ("Dovecot",))])
    assert why.code == "ambiguous.charset"
    assert why.as_json()["params"]["count"] == 2
    assert why.text == ("the charset reads 2 ways, so mail programs disagree on the message: "
                        "'utf-8' (Python) / 'koi8-r' (Dovecot)")


def test_a_violation_without_a_code_keeps_the_json_it_had() -> None:
    # a reader's own words (a decoder's) have no code: the JSON is as before codes
    assert set(Violation("malformed-mime", "bad base64").as_json()) == {
        "rule", "reason", "filename", "content_type", "detected_type", "part", "member"}


def test_codes_are_stable_names() -> None:
    codes = [code.code for code in REASONS]
    assert len(codes) == len(set(codes))
    assert all(c == c.lower() and " " not in c for c in codes)
